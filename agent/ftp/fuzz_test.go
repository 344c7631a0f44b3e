package ftp

import (
	"testing"
	"time"

	"github.com/minipot/minipot/agent/agenttest"
	"github.com/minipot/minipot/agent/linefake"
	"github.com/minipot/minipot/internal/event"
)

// FuzzSession feeds any bytes to a whole conversation: it never panics,
// ends when the input does, and records a bounded number of events.
func FuzzSession(f *testing.F) {
	for _, s := range []string{
		"USER a\r\nPASS b\r\nQUIT\r\n", "PASS x\r\n\r\n\x00\xff\r\n", "FEAT\nSYST\nOPTS UTF8 ON\nPASV\n",
		"USER a\r\nPASS b\r\nUSER c\r\nPASS d\r\nUSER e\r\nPASS f\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		cfg := testConfig()
		cfg.Limits.LoginDelay = 0
		cfg.Limits.Idle = time.Second
		rec := agenttest.Feed(t, &Handler{}, "21tcp", cfg, in)
		logins := len(rec.Of(event.Login))
		if logins > cfg.Limits.Attempts || len(rec.Of(event.Invalid)) > linefake.MaxInvalid {
			t.Fatalf("%d logins, %d invalid events", logins, len(rec.Of(event.Invalid)))
		}
	})
}

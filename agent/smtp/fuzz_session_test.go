package smtp

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
		"EHLO x\r\nAUTH PLAIN AGEAYg==\r\nQUIT\r\n", "EHLO x\r\nAUTH LOGIN\r\nYQ==\r\n*\r\n", "HELO\nMAIL FROM:<a>\nRCPT TO:<b>\nDATA\n",
		"\x16\x03\x01\x00\r\nGET / HTTP/1.1\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		cfg := testConfig()
		cfg.Limits.LoginDelay = 0
		cfg.Limits.Idle = time.Second
		rec := agenttest.Feed(t, &Handler{}, "25tcp", cfg, in)
		// Every AUTH costs an error, and hardErrors of them end it.
		if logins := len(rec.Of(event.Login)); logins > hardErrors || len(rec.Of(event.Invalid)) > linefake.MaxInvalid {
			t.Fatalf("%d logins, %d invalid events", logins, len(rec.Of(event.Invalid)))
		}
	})
}

package ftp

import (
	"context"
	"io"
	"net"
	"testing"
	"time"

	"github.com/minipot/minipot/agent/session"
	"github.com/minipot/minipot/internal/event"
	"github.com/minipot/minipot/internal/event/eventtest"
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
		a, b := net.Pipe()
		rec := eventtest.New()
		s := session.New(b, "21tcp", 21, 1, cfg, rec)
		done := make(chan error, 1)
		go func() { done <- (&Handler{}).Serve(context.Background(), s); b.Close() }()
		go func() { a.Write(in); a.Close() }()
		go io.Copy(io.Discard, a)
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatal("Serve did not end with its input")
		}
		logins := len(rec.Of(event.Login))
		if logins > cfg.Limits.Attempts || len(rec.Of(event.Invalid)) > maxInvalid {
			t.Fatalf("%d logins, %d invalid events", logins, len(rec.Of(event.Invalid)))
		}
	})
}

package ssh

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/minipot/minipot/agent/session"
	"github.com/minipot/minipot/internal/event"
	"github.com/minipot/minipot/internal/event/eventtest"
)

// FuzzServe feeds whatever a client may send to the fake: the "SSH-"
// check of its own, then x/crypto/ssh's version line and packet reading.
// Whatever the bytes, Serve returns within the session's limits, never
// lets a login through, and records nothing but an invalid client.
func FuzzServe(f *testing.F) {
	for _, seed := range []string{
		"SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n",
		"SSH-2.0-libssh2_1.8.0\r\n\x00\x00\x01\x0c\x05\x14",
		"SSH-1.5-old\r\n",
		"SSH-2.0-" + strings.Repeat("x", 300) + "\r\n",
		"SSH-2.0-x\r\n\x00\x00\x00\x0c\x0a\x05\x00\x00\x00\x0cssh-userauth",
		"GET / HTTP/1.0\r\n\r\n",
		"\x00\xff\xfe",
		"SSH",
		"",
	} {
		f.Add([]byte(seed))
	}
	cfg := testConfig()
	cfg.Limits.Idle = 500 * time.Millisecond
	cfg.Limits.Session = 2 * time.Second
	h := New(keys(f))
	f.Fuzz(func(t *testing.T, in []byte) {
		near, far := net.Pipe()
		defer far.Close()
		go func() {
			far.Write(in)
			far.Close()
		}()
		go io.Copy(io.Discard, far)
		rec := eventtest.New()
		s := session.New(near, "22tcp", 22, 1, cfg, rec)
		done := make(chan error, 1)
		go func() { done <- h.Serve(context.Background(), s); s.Close() }()
		select {
		case err := <-done:
			if err != nil && !errors.Is(err, io.EOF) && session.Reason(err) != event.ReasonTimeout && !errors.Is(err, session.ErrLimit) {
				t.Errorf("Serve: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("Serve did not end within the session's limits")
		}
		for _, e := range rec.All() {
			if e.Action != event.Invalid {
				t.Errorf("event %+v from bytes that cannot log in", e)
			}
		}
	})
}

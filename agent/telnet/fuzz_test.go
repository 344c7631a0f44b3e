package telnet

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"

	"github.com/minipot/minipot/agent/session"
	"github.com/minipot/minipot/internal/event"
	"github.com/minipot/minipot/internal/event/eventtest"
)

// FuzzSession feeds arbitrary bytes through a whole conversation over
// net.Pipe: Serve must end within the session's time, with an error of a
// known kind, after a bounded number of events. The client closes after its
// input, so a Serve still running 10 s later (past Session) is stuck.
func FuzzSession(f *testing.F) {
	for _, s := range []string{
		"admin\r\nadmin\r\n",
		miraiAnswers + "admin\r\nadmin\r\nenable\r\nsystem\r\nshell\r\nsh\r\n",
		"\xff\xff\xff\xff\r\n\x00\r\x00",
		"\xff\xfa\x1f\x00\x50\x00\x18\xff\xf0root\r\n\xff\xf6pw\n",
		"\xff\xfa\x18",
		"ad\x08\x7fmin\xff\xf7\xff\xf8\x15\x03\r\n",
		"\x04",
		"a\r\n\x04",
		"\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n",
		"\x1b[A\x1b[B\r\n\x80\x81\r\n\xc3\r\n",
	} {
		f.Add([]byte(s))
	}
	cfg := &session.Config{Hostname: "OpenWrt", Credentials: true, Limits: session.Limits{
		LineMax: 64, Attempts: 3, Idle: 2 * time.Second, Session: 4 * time.Second,
	}}
	f.Fuzz(func(t *testing.T, in []byte) {
		a, b := net.Pipe()
		defer a.Close()
		sink := eventtest.New()
		s := session.New(b, Service23, 23, 1, cfg, sink)
		errc := make(chan error, 1)
		go func() {
			err := (&Handler{}).Serve(context.Background(), s)
			b.Close()
			errc <- err
		}()
		go io.Copy(io.Discard, a)
		for len(in) > 0 { // in pieces, as the network would cut them
			n := min(len(in), 1+int(in[0])%97)
			if _, err := a.Write(in[:n]); err != nil {
				break // the server closed
			}
			in = in[n:]
		}
		a.Close()
		var err error
		select {
		case err = <-errc:
		case <-time.After(10 * time.Second):
			t.Fatal("Serve did not return")
		}
		switch {
		case err == nil, errors.Is(err, io.EOF), errors.Is(err, io.ErrClosedPipe),
			errors.Is(err, session.ErrLimit),
			errors.Is(err, os.ErrDeadlineExceeded): // a machine too busy to drain the pipe in time
		default:
			t.Fatalf("Serve returned %v", err)
		}
		counts := map[event.Action]int{}
		for _, e := range sink.All() {
			counts[e.Action]++
		}
		if counts[event.Invalid] > maxInvalid+1 || counts[event.Login] > cfg.Limits.Attempts ||
			counts[event.Command] > 2*cfg.Limits.Attempts {
			t.Fatalf("events %v", counts)
		}
	})
}

// Package agenttest holds what the tests of the fake services share: a
// handler served on a loopback connection or fed fuzz input through a
// pipe, and a conversation read line by line. It is for tests only;
// nothing else imports it.
package agenttest

import (
	"bufio"
	"context"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/minipot/minipot/agent/session"
	"github.com/minipot/minipot/internal/event/eventtest"
	"github.com/minipot/minipot/internal/settings"
)

// Config is a session configuration for a handler's tests: credentials
// collected, three attempts, short delays and timeouts.
func Config(hostname string) *session.Config {
	return &session.Config{Hostname: hostname, Credentials: true, Limits: session.Limits{
		LineMax: 512, Attempts: 3, LoginDelay: 10 * time.Millisecond, Idle: 2 * time.Second, Session: 10 * time.Second}}
}

func port(t testing.TB, key string) int {
	t.Helper()
	svc, ok := settings.LookupService(key)
	if !ok {
		t.Fatalf("no service %s", key)
	}
	return svc.Port
}

// Serve runs h as service key on the server end of a loopback TCP
// connection and returns the client end (closed when the test ends), a
// reader on it, the recorder of the events and Serve's result.
func Serve(t testing.TB, h session.Handler, key string, cfg *session.Config) (net.Conn, *bufio.Reader, *eventtest.Recorder, chan error) {
	t.Helper()
	p := port(t, key)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rec := eventtest.New()
	done := make(chan error, 1)
	go func() {
		// The listener closes after the Accept: closed before, it would
		// reset the connection still waiting in its backlog.
		c, err := ln.Accept()
		ln.Close()
		if err != nil {
			done <- err
			return
		}
		s := session.New(c, key, p, 1, cfg, rec)
		err = h.Serve(context.Background(), s)
		s.Close()
		done <- err
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	return c, bufio.NewReader(c), rec, done
}

// Expect reads a line from r for each CRLF-ended line of want and stops
// the test at the first that differs.
func Expect(t testing.TB, r *bufio.Reader, want string) {
	t.Helper()
	for _, w := range strings.SplitAfter(want, "\r\n") {
		if w == "" {
			continue
		}
		if got, err := r.ReadString('\n'); got != w {
			t.Fatalf("got %q (%v), want %q", got, err, w)
		}
	}
}

// Feed runs h as service key on one end of a pipe, writes in to the other
// end and closes it, and returns the events once Serve has ended; it fails
// the test when Serve outlives its input by 5 seconds. It is the body of
// the fakes' session fuzz targets.
func Feed(t testing.TB, h session.Handler, key string, cfg *session.Config, in []byte) *eventtest.Recorder {
	t.Helper()
	a, b := net.Pipe()
	rec := eventtest.New()
	s := session.New(b, key, port(t, key), 1, cfg, rec)
	done := make(chan error, 1)
	go func() { done <- h.Serve(context.Background(), s); b.Close() }()
	go func() { a.Write(in); a.Close() }()
	go io.Copy(io.Discard, a)
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not end with its input")
	}
	return rec
}

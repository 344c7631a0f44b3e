//go:build linux

package agent

import (
	"bytes"
	"io"
	"net"
	"runtime"
	"testing"
	"time"

	"github.com/minipot/minipot/agent/telnet"
	"github.com/minipot/minipot/internal/event"
	"github.com/minipot/minipot/internal/event/eventtest"
	"github.com/minipot/minipot/internal/settings"
)

// startRecorded is startOnly recording the events.
func startRecorded(t *testing.T, key string, parkAbove int, edit func(*settings.Settings)) (*Agent, string, *eventtest.Recorder) {
	t.Helper()
	rec := eventtest.New()
	a, addr := startOnly(t, key, rec, parkAbove, edit)
	return a, addr, rec
}

// dialFrom connects to addr from the loopback address src ("" any) and
// reads until the received bytes hold want.
func dialFrom(t *testing.T, src, addr, want string) net.Conn {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second}
	if src != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(src)}
	}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	readUntil(t, c, want)
	return c
}

func readUntil(t *testing.T, c net.Conn, want string) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	var got []byte
	buf := make([]byte, 256)
	for !bytes.Contains(got, []byte(want)) {
		n, err := c.Read(buf)
		got = append(got, buf[:n]...)
		if err != nil {
			t.Fatalf("reading until %q: %v; got %q", want, err, got)
		}
	}
}

// readEOF waits for the agent to close c, reading what it says last.
func readEOF(t *testing.T, c net.Conn) string {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	got, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("waiting for the agent to close: %v (got %q)", err, got)
	}
	return string(got)
}

// waitOpen and waitParked wait up to 5 s for the agent's count of open,
// or parked, connections to be n.
func waitOpen(t *testing.T, a *Agent, n int) {
	t.Helper()
	waitCount(t, "open", func() int { return a.Counters().Open }, n)
}

func waitParked(t *testing.T, a *Agent, n int) {
	t.Helper()
	waitCount(t, "parked", func() int { return a.Counters().Parked }, n)
}

func waitCount(t *testing.T, what string, count func() int, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for count() != n {
		if time.Now().After(deadline) {
			t.Fatalf("%s connections %d, want %d", what, count(), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// disconnect waits for the disconnect event of the n-th connection (from
// 1) and returns it.
func disconnect(t *testing.T, rec *eventtest.Recorder, n int) event.Event {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		if d := rec.Of(event.Disconnect); len(d) >= n {
			return d[n-1]
		}
		if time.Now().After(deadline) {
			t.Fatalf("no disconnect event %d; events %+v", n, rec.All())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestParkedConnections: a connection waiting for its peer's first bytes
// (past parkAbove open, here 0) holds no goroutine, and every way it can end ends it as a connection
// with a goroutine would have been: its peer speaks (the conversation goes
// on), closes, idles out (with the server's last words), is evicted for a
// newcomer, or its service stops.
func TestParkedConnections(t *testing.T) {
	t.Run("no goroutine, and the conversation goes on", func(t *testing.T) {
		const n = 200
		a, addr, rec := startRecorded(t, telnet.Service23, 0, func(s *settings.Settings) {
			s.Limits.MaxConns, s.Limits.MaxPerIP, s.Limits.MaxPerNet = 2*n, 2*n, 2*n
			s.LogCredentials = true
		})
		before := runtime.NumGoroutine()
		conns := make([]net.Conn, n)
		for i := range conns {
			conns[i] = dialFrom(t, "", addr, "login: ")
		}
		waitOpen(t, a, n)
		waitParked(t, a, n)
		if added := runtime.NumGoroutine() - before; added > n/20 {
			t.Errorf("%d idle connections added %d goroutines", n, added)
		}
		conns[7].Write([]byte("root\r\n"))
		readUntil(t, conns[7], "Password: ")
		waitParked(t, a, n-1)
		conns[7].Write([]byte("admin\r\n"))
		readUntil(t, conns[7], "Login incorrect")
		if got := rec.Of(event.Login); len(got) != 1 || got[0].Username != "root" {
			t.Errorf("login events %+v, want root's", got)
		}
	})

	t.Run("only past parkAbove", func(t *testing.T) {
		const above, n = 5, 20
		a, addr, _ := startRecorded(t, telnet.Service23, above, func(s *settings.Settings) {
			s.Limits.MaxPerIP, s.Limits.MaxPerNet = n, n
		})
		for range n {
			dialFrom(t, "", addr, "login: ")
		}
		waitOpen(t, a, n)
		waitParked(t, a, n-above) // the 6th to the 20th
	})

	t.Run("peer closes", func(t *testing.T) {
		a, addr, rec := startRecorded(t, telnet.Service23, 0, nil)
		c := dialFrom(t, "", addr, "login: ")
		waitOpen(t, a, 1)
		c.Close()
		if d := disconnect(t, rec, 1); d.Reason != event.ReasonClosed {
			t.Errorf("reason %q, want %q", d.Reason, event.ReasonClosed)
		}
		waitOpen(t, a, 0)
	})

	t.Run("idles out with the server's last words", func(t *testing.T) {
		const idle = 300 * time.Millisecond
		a, addr, rec := startRecorded(t, "21tcp", 0, func(s *settings.Settings) { s.Limits.Idle = idle })
		start := time.Now()
		c := dialFrom(t, "", addr, "220 ")
		if got := readEOF(t, c); got != "421 Timeout.\r\n" {
			t.Errorf("last words %q, want vsftpd's 421", got)
		}
		if took := time.Since(start); took < idle {
			t.Errorf("closed after %v, before the idle timeout %v", took, idle)
		}
		if d := disconnect(t, rec, 1); d.Reason != event.ReasonTimeout {
			t.Errorf("reason %q, want %q", d.Reason, event.ReasonTimeout)
		}
		waitOpen(t, a, 0)
	})

	t.Run("the first request's time runs from the connection", func(t *testing.T) {
		// Header time shorter than the idle time: the parked HTTP
		// connection ends at the header time, as it would have in Read.
		a, addr, rec := startRecorded(t, "80tcp", 0, func(s *settings.Settings) {
			s.Limits.HeaderTimeout, s.Limits.Idle = 300*time.Millisecond, 30*time.Second
		})
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		readEOF(t, c)
		if d := disconnect(t, rec, 1); d.Reason != event.ReasonTimeout {
			t.Errorf("reason %q, want %q", d.Reason, event.ReasonTimeout)
		}
		waitOpen(t, a, 0)
	})

	t.Run("evicted for a newcomer", func(t *testing.T) {
		a, addr, rec := startRecorded(t, telnet.Service23, 0, func(s *settings.Settings) {
			s.Limits.MaxConns, s.Limits.MaxPerIP, s.Limits.MaxPerNet = 2, 2, 2
		})
		old := dialFrom(t, "127.0.0.1", addr, "login: ")
		dialFrom(t, "127.0.0.1", addr, "login: ")
		waitOpen(t, a, 2)
		dialFrom(t, "127.0.1.1", addr, "login: ") // another network
		readEOF(t, old)
		if d := disconnect(t, rec, 1); d.Reason != event.ReasonLimit {
			t.Errorf("reason %q, want %q", d.Reason, event.ReasonLimit)
		}
		if got := a.Counters().Evicted; got != 1 {
			t.Errorf("evicted %d, want 1", got)
		}
	})

	t.Run("service stops", func(t *testing.T) {
		a, addr, rec := startRecorded(t, telnet.Service23, 0, nil)
		c := dialFrom(t, "", addr, "login: ")
		waitOpen(t, a, 1)
		done := make(chan struct{})
		go func() { a.Close(); close(done) }()
		readEOF(t, c)
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatal("Close did not return")
		}
		if d := disconnect(t, rec, 1); d.Reason != event.ReasonClosed {
			t.Errorf("reason %q, want %q", d.Reason, event.ReasonClosed)
		}
	})
}

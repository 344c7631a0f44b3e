package agent

import (
	"io"
	"net"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/minipot/minipot/agent/session"
	"github.com/minipot/minipot/agent/telnet"
	"github.com/minipot/minipot/internal/settings"
	"github.com/minipot/minipot/internal/store"
)

// TestIdleConnectionStack: a telnet connection that got its greeting and
// waits for a login name holds a goroutine with the smallest stack, 2 KiB.
// The greeting and the connect event go deeper than a new goroutine's
// stack allows, so the agent does them on the accept loop (session.Greeter);
// done on the connection's goroutine, they grew every idle connection's
// stack to 4 KiB, a third of what an idle connection costs.
func TestIdleConnectionStack(t *testing.T) {
	if testing.Short() {
		t.Skip("opens a thousand connections")
	}
	const conns = 1000
	st, err := store.Open(filepath.Join(t.TempDir(), "events.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	a := New(zerolog.Nop(), st, func(settings.Service) session.Handler { return &telnet.Handler{} })
	defer a.Close()

	// Telnet alone, on a port that is free: the real port plus an offset.
	free, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := free.Addr().(*net.TCPAddr).Port
	free.Close()
	s := settings.Defaults()
	s.Agent.Listen = "127.0.0.1"
	s.RedirOffset = port - 23
	s.Limits.MaxConns, s.Limits.MaxPerIP = 2*conns, 2*conns
	s.Disabled = nil
	for _, svc := range settings.Services() {
		if svc.Key != telnet.Service23 {
			s.Disabled = append(s.Disabled, svc.Key)
		}
	}
	if err := a.Apply(s); err != nil {
		t.Fatal(err)
	}

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	addr := net.JoinHostPort("127.0.0.1", itoa(port))
	buf := make([]byte, 64)
	for i := range conns {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
		defer c.Close()
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.ReadAtLeast(c, buf, 12); err != nil {
			t.Fatalf("connection %d greeting: %v", i, err)
		}
	}
	// The greeting came from the accept loop: wait for every connection's
	// goroutine to block in its first Read.
	deadline := time.Now().Add(10 * time.Second)
	for a.Counters().Open < conns && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond)
	runtime.ReadMemStats(&after)
	per := float64(after.StackInuse-before.StackInuse) / conns
	t.Logf("stack per idle connection: %.0f bytes", per)
	if per > 2.5*1024 {
		t.Errorf("each idle connection holds %.0f bytes of stack, want 2 KiB", per)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

package smtp

import (
	"io"
	"net"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/minipot/minipot/agent"
	"github.com/minipot/minipot/agent/session"
	"github.com/minipot/minipot/internal/event/eventtest"
	"github.com/minipot/minipot/internal/settings"
)

var raceEnabled bool // see race_test.go

// TestIdleStack: what an SMTP connection that got its greeting and sends
// nothing holds in goroutine stack, served by the real agent. It is 4 KiB
// today, telnet's is 2 KiB (agent.TestIdleConnectionStack): the bound
// keeps it from growing further.
func TestIdleStack(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("opens a thousand connections; stack sizes under -race mean nothing")
	}
	per := idleStack(t, "25tcp", &Handler{}, len("220 "))
	t.Logf("stack per idle connection: %.0f bytes", per)
	if per > 4.5*1024 {
		t.Errorf("each idle connection holds %.0f bytes of stack, want at most 4 KiB", per)
	}
}

// idleStack runs the agent with the one service key served by h on a free
// port, opens a thousand connections that read greet bytes each and then
// idle, and returns the stack they added, per connection.
func idleStack(t *testing.T, key string, h session.Handler, greet int) float64 {
	const conns = 1000
	svc, _ := settings.LookupService(key)
	a := agent.New(zerolog.Nop(), eventtest.New(), func(settings.Service) session.Handler { return h })
	defer a.Close()
	free, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := free.Addr().(*net.TCPAddr).Port
	free.Close()
	s := settings.Defaults()
	s.Agent.Listen = "127.0.0.1"
	s.RedirOffset = port - svc.Port
	s.Limits.MaxConns, s.Limits.MaxPerIP, s.Limits.MaxPerNet = 2*conns, 2*conns, 2*conns
	for _, other := range settings.Services() {
		if other.Key != key {
			s.Disabled = append(s.Disabled, other.Key)
		}
	}
	if err := a.Apply(s); err != nil {
		t.Fatal(err)
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	buf := make([]byte, greet)
	for i := range conns {
		c, err := net.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
		defer c.Close()
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.ReadFull(c, buf); err != nil {
			t.Fatalf("connection %d greeting: %v", i, err)
		}
	}
	time.Sleep(300 * time.Millisecond)
	runtime.ReadMemStats(&after)
	return float64(after.StackInuse-before.StackInuse) / conns
}

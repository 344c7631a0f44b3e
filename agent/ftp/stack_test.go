package ftp

import (
	"context"
	"io"
	"net"
	"runtime"
	"testing"
	"time"

	"github.com/minipot/minipot/agent/session"
	"github.com/minipot/minipot/internal/event/eventtest"
)

var raceEnabled bool // see race_test.go

// TestIdleStack: a connection that got its greeting and sends nothing
// keeps a goroutine with the smallest stack, 2 KiB, as telnet's does (the
// greeting is written before Serve, as the agent does for a Greeter).
func TestIdleStack(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("opens a thousand connections; stack sizes under -race mean nothing")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	cfg := testConfig()
	cfg.Limits.Idle = time.Minute
	rec := eventtest.New()
	const n = 1000
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s := session.New(c, "21tcp", 21, 1, cfg, rec)
			s.SetGreeted()
			(&Handler{}).Greet(s)
			go (&Handler{}).Serve(context.Background(), s)
		}
	}()
	buf := make([]byte, len(greeting))
	for i := range n {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
		defer c.Close()
		if _, err := io.ReadFull(c, buf); err != nil {
			t.Fatalf("connection %d greeting: %v", i, err)
		}
	}
	time.Sleep(300 * time.Millisecond)
	runtime.ReadMemStats(&after)
	per := float64(after.StackInuse-before.StackInuse) / n
	t.Logf("stack per idle connection: %.0f bytes", per)
	if per > 2.5*1024 {
		t.Errorf("each idle connection holds %.0f bytes of stack, want 2 KiB", per)
	}
}

package agent

import (
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/minipot/minipot/agent/ftp"
	"github.com/minipot/minipot/agent/httpd"
	"github.com/minipot/minipot/agent/session"
	"github.com/minipot/minipot/agent/smtp"
	"github.com/minipot/minipot/agent/telnet"
	"github.com/minipot/minipot/internal/event"
	"github.com/minipot/minipot/internal/settings"
	"github.com/minipot/minipot/internal/store"
)

// TestIdleConnectionStack: a connection idle in mid-conversation holds a
// goroutine with a small stack: a telnet connection that sent a login name
// and waits for the password, an HTTP connection that sent half a request
// (a slowloris), FTP and SMTP connections that sent a command and wait for
// the next. (Before its first bytes a connection holds no goroutine at
// all: TestParkedConnections.) A goroutine starts with a 2 KiB stack and
// keeps what it grew to while it waits, so the frames under a blocked Read
// are kept small: the connect event and the greeting are done on the
// accept loop (session.Greeter), and the services' read loops do their
// work in functions of their own.
func TestIdleConnectionStack(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("opens thousands of connections; stack sizes under -race mean nothing")
	}
	// Each service in a process of its own: stacks freed by the one
	// measured before would move the counts of the next.
	if key := os.Getenv(idleStackEnv); key != "" {
		fmt.Printf("stack per idle connection: %.0f\n", idleStack(t, mustService(t, key)))
		return
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		key string
		kib float64 // stack per connection, half a KiB of slack allowed
	}{{telnet.Service23, 4}, {"80tcp", 2}, {"21tcp", 4}, {"25tcp", 4}} {
		key := c.key
		t.Run(key, func(t *testing.T) {
			cmd := exec.Command(exe, "-test.run", "^TestIdleConnectionStack$", "-test.count=1")
			cmd.Env = append(os.Environ(), idleStackEnv+"="+key)
			out, err := cmd.CombinedOutput()
			var per float64
			if _, serr := fmt.Sscanf(string(out), "stack per idle connection: %f", &per); err != nil || serr != nil {
				t.Fatalf("measuring in a process of its own: %v, %v\n%s", err, serr, out)
			}
			t.Logf("stack per idle connection: %.0f bytes", per)
			if per > (c.kib+0.5)*1024 {
				t.Errorf("each idle connection holds %.0f bytes of stack, want %.0f KiB", per, c.kib)
			}
		})
	}
}

const idleStackEnv = "MINIPOT_IDLE_STACK"

func mustService(t *testing.T, key string) settings.Service {
	svc, ok := settings.LookupService(key)
	if !ok {
		t.Fatalf("no service %s", key)
	}
	return svc
}

// idleStack opens a thousand connections to svc alone, served by the real
// handlers and store, starts a conversation on each (see the loop), and
// returns the stack they added, per connection.
func idleStack(t *testing.T, only settings.Service) float64 {
	const conns = 1000
	st, err := store.Open(filepath.Join(t.TempDir(), "events.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() }) // after the agent's Close: cleanups run last first
	a, addr := startOnly(t, only.Key, st, parkAbove, func(s *settings.Settings) {
		s.Limits.MaxConns, s.Limits.MaxPerIP, s.Limits.MaxPerNet = 2*conns, 2*conns, 2*conns
	})

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	buf := make([]byte, 64)
	for i := range conns {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
		defer c.Close()
		// Read the greeting of a service that sends one (telnet's option
		// negotiation and prompt, FTP's and SMTP's "220 "), then start the
		// conversation and read the answer, if there is one.
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		if greet := map[settings.Kind]int{settings.Telnet: 12, settings.FTP: 4, settings.SMTP: 4}[only.Kind]; greet > 0 {
			if _, err := io.ReadAtLeast(c, buf, greet); err != nil {
				t.Fatalf("connection %d greeting: %v", i, err)
			}
		}
		first := map[settings.Kind]string{settings.Telnet: "root\r\n", settings.FTP: "USER anonymous\r\n", settings.SMTP: "EHLO bot\r\n"}[only.Kind]
		if first == "" {
			first = "GET / HTTP/1.1\r\nHost: x\r\n" // no end of the headers
		}
		if _, err := io.WriteString(c, first); err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
		if only.Kind != settings.HTTP {
			if _, err := io.ReadAtLeast(c, buf, 4); err != nil {
				t.Fatalf("connection %d answer: %v", i, err)
			}
		}
	}
	// Wait for every connection's goroutine to block in its first Read.
	deadline := time.Now().Add(10 * time.Second)
	for a.Counters().Open < conns && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond)
	runtime.ReadMemStats(&after)
	return float64(after.StackInuse-before.StackInuse) / conns
}

var raceEnabled bool // see race_test.go

// startOnly runs an agent recording into sink, with the real handlers and
// the one service key on a free loopback port, parking past parkAbove open
// connections, with no login delay and edit applied to the default
// settings; it returns the agent (closed when the test ends) and the
// service's address.
func startOnly(t *testing.T, key string, sink event.Sink, parkAbove int, edit func(*settings.Settings)) (*Agent, string) {
	t.Helper()
	only := mustService(t, key)
	a := New(zerolog.Nop(), sink, func(svc settings.Service) session.Handler {
		switch svc.Kind {
		case settings.Telnet:
			return &telnet.Handler{}
		case settings.FTP:
			return &ftp.Handler{}
		case settings.SMTP:
			return &smtp.Handler{}
		}
		return httpd.ForService(svc.Key, svc.Port)
	})
	t.Cleanup(a.Close)
	a.parkAbove = parkAbove
	// The one service, on a port that is free: the real port plus an offset.
	free, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := free.Addr().(*net.TCPAddr).Port
	free.Close()
	s := settings.Defaults()
	s.Agent.Listen = "127.0.0.1"
	s.Agent.LoginDelay = 0
	s.RedirOffset = port - only.Port
	s.Disabled = nil
	for _, svc := range settings.Services() {
		if svc.Key != key {
			s.Disabled = append(s.Disabled, svc.Key)
		}
	}
	if edit != nil {
		edit(&s)
	}
	if err := a.Apply(s); err != nil {
		t.Fatal(err)
	}
	return a, net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
}

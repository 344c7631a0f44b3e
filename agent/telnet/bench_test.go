package telnet

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/minipot/minipot/agent/session"
	"github.com/minipot/minipot/agent/telnet/bot"
	"github.com/minipot/minipot/internal/event"
)

// discard is a sink that keeps nothing, for benchmarks.
type discard struct{}

func (discard) Emit(*event.Event) {}

// BenchmarkAttempt is one Mirai-style connection over loopback: connect,
// negotiate, one failed login, hang up. Both ends run in this process, so
// allocs/op counts the server's and the bot's.
func BenchmarkAttempt(b *testing.B) {
	srv := startServer(b, testConfig())
	ctx := context.Background()
	var c bot.Client
	c.Timeout = 5 * time.Second
	b.ReportAllocs()
	for b.Loop() {
		r, err := c.Attempt(ctx, srv.addr, "admin", "admin")
		if err != nil {
			b.Fatal(err)
		}
		if r.Outcome != bot.Rejected {
			b.Fatalf("outcome %v", r.Outcome)
		}
	}
}

// BenchmarkServeAttempt is the server's share of an attempt: one login on
// an open connection, measured on the server side of a net.Pipe.
func BenchmarkServeAttempt(b *testing.B) {
	cfg := testConfig()
	cfg.Limits.Attempts = 1 << 30
	a, p := net.Pipe()
	defer a.Close()
	s := session.New(p, Service23, 23, 1, cfg, discard{})
	go (&Handler{}).Serve(context.Background(), s)
	go io.Copy(io.Discard, a)
	line := []byte("admin\r\nadmin\r\n")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := a.Write(line); err != nil {
			b.Fatal(err)
		}
	}
}

const (
	idleHelperEnv = "MINIPOT_TELNET_IDLE_CLIENTS"
	idleConns     = 2000
	idleBudget    = 8 << 10 // bytes per idle connection, DESIGN's limit
)

// TestIdleMemory holds idleConns idle connections, greeted and waiting for
// a login name, and measures what they cost the server: heap and goroutine
// stacks. The clients live in a child process so that only the server's
// side is counted.
func TestIdleMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("opens thousands of connections")
	}
	cfg := testConfig()
	cfg.Limits.Idle = time.Minute
	srv := startServer(t, cfg)

	var before, after runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&before)
	goroutines := runtime.NumGoroutine()

	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe) // TestMain sees idleHelperEnv and becomes the clients
	cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s,%d", idleHelperEnv, srv.addr, idleConns))
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		stdin.Close() // the children hang up
		cmd.Wait()
	}()
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if len(sc.Text()) >= 5 && sc.Text()[:5] == "ready" {
				ready <- sc.Text()
			}
		}
		close(ready)
	}()
	select {
	case line, ok := <-ready:
		if !ok {
			t.Fatal("client process ended early")
		}
		t.Log(line)
	case <-time.After(60 * time.Second):
		t.Fatal("clients not connected in time")
	}
	// Every connection is served once its goroutine exists; give the
	// greetings time to leave and the goroutines time to block in Read.
	deadline := time.Now().Add(30 * time.Second)
	for runtime.NumGoroutine() < goroutines+idleConns && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond)
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&after)
	if served := runtime.NumGoroutine() - goroutines; served < idleConns {
		t.Fatalf("only %d of %d connections served", served, idleConns)
	}
	n := idleConns
	heap := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	stack := int64(after.StackInuse) - int64(before.StackInuse)
	other := int64(after.Sys-after.HeapSys-after.StackSys) - int64(before.Sys-before.HeapSys-before.StackSys)
	per := (heap + stack) / int64(n)
	t.Logf("%d idle connections: heap %d B/conn, stack %d B/conn, heap+stack %d B/conn (runtime's other memory %+d B/conn)",
		n, heap/int64(n), stack/int64(n), per, other/int64(n))
	if per > idleBudget {
		t.Errorf("%d bytes per idle connection, budget %d", per, idleBudget)
	}
}

// TestMain runs the test binary as the client process of TestIdleMemory
// when idleHelperEnv is set, and as the tests otherwise.
func TestMain(m *testing.M) {
	if spec := os.Getenv(idleHelperEnv); spec != "" {
		if err := idleClients(spec); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// idleClients opens the connections that spec ("addr,n") names, says
// "ready", and holds them until its stdin closes.
func idleClients(spec string) error {
	var addr string
	var n int
	for i := len(spec) - 1; i >= 0; i-- {
		if spec[i] == ',' {
			addr = spec[:i]
			n, _ = strconv.Atoi(spec[i+1:])
			break
		}
	}
	conns := make([]net.Conn, 0, n)
	for range n {
		c, err := net.DialTimeout("tcp", addr, 10*time.Second)
		if err != nil {
			return err
		}
		conns = append(conns, c)
	}
	fmt.Printf("ready: %d connections\n", len(conns))
	io.Copy(io.Discard, os.Stdin)
	for _, c := range conns {
		c.Close()
	}
	return nil
}

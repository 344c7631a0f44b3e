// Package tests holds the end-to-end tests: the real minipot binary, real
// clients (telnet, curl, hydra, nmap) over real sockets, and the real
// SQLite file it writes.
package tests

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/minipot/minipot/internal/settings"
)

var minipotBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "minipot-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	minipotBin = filepath.Join(dir, "minipot")
	build := exec.Command("go", "build", "-o", minipotBin, "../cmd/minipot")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build minipot:", err)
		os.Exit(1)
	}
	os.Chmod(dir, 0o755) // the agent runs as nobody when the tests run as root
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// inCI reports whether a missing prerequisite must fail rather than skip.
func inCI() bool { return os.Getenv("CI") == "true" }

// need returns the path of a tool the test needs, failing under CI and
// skipping elsewhere when it is missing.
func need(t testing.TB, tool string) string {
	t.Helper()
	p, err := exec.LookPath(tool)
	if err != nil {
		if inCI() {
			t.Fatalf("%s is required (CI=true): %v", tool, err)
		}
		t.Skipf("needs %s installed (apt-get install %s)", tool, tool)
	}
	return p
}

// nobody is the unprivileged account the agent runs as when the tests are
// root, as on a router.
const nobody = 65534

// hostSeq hands each agent its own loopback address, so the fixed fake
// ports (1392, 3692, ...) never collide between tests or with `make run`.
var hostSeq atomic.Uint32

func init() { hostSeq.Store(uint32(10 + os.Getpid()%100)) }

// agentProc is a running `minipot agent`.
type agentProc struct {
	t      *testing.T
	Host   string // 127.0.0.N
	Dir    string // config dir and store folder
	DB     string
	cmd    *exec.Cmd
	stdout *syncBuffer
	stderr *syncBuffer
	done   chan struct{}
}

// fakePorts are the default fake ports (offset 1369) by service key, for
// every service of the table.
var fakePorts = func() map[string]int {
	m := map[string]int{}
	for _, svc := range settings.Services() {
		m[svc.Key] = settings.Defaults().FakePort(svc)
	}
	return m
}()

// Addr is host:port of a service's fake.
func (a *agentProc) Addr(key string) string {
	return net.JoinHostPort(a.Host, fmt.Sprint(fakePorts[key]))
}

// writeConfig writes package ucollect with the test defaults (fast login,
// credentials collected) overridden by opts ("section.option" → value;
// a value "LIST:a b" writes a list).
func writeConfig(t *testing.T, dir, host string, opts map[string]string) {
	t.Helper()
	all := map[string]string{
		"fakes.enabled":         "1",
		"fakes.log_credentials": "1",
		"agent.listen":          host,
		"agent.login_delay":     "0",
		"agent.log_level":       "debug",
		"store.path":            filepath.Join(dir, "events.db"),
	}
	for k, v := range opts {
		all[k] = v
	}
	bySection := map[string][]string{}
	for k, v := range all {
		sec, opt, _ := strings.Cut(k, ".")
		if rest, ok := strings.CutPrefix(v, "LIST:"); ok {
			for _, item := range strings.Fields(rest) {
				bySection[sec] = append(bySection[sec], fmt.Sprintf("\tlist %s '%s'", opt, item))
			}
			continue
		}
		bySection[sec] = append(bySection[sec], fmt.Sprintf("\toption %s '%s'", opt, v))
	}
	var b strings.Builder
	secs := make([]string, 0, len(bySection))
	for s := range bySection {
		secs = append(secs, s)
	}
	sort.Strings(secs)
	for _, s := range secs {
		sort.Strings(bySection[s])
		fmt.Fprintf(&b, "\nconfig %s '%s'\n%s\n", s, s, strings.Join(bySection[s], "\n"))
	}
	if err := os.WriteFile(filepath.Join(dir, "ucollect"), []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	chownNobody(t, dir)
}

func chownNobody(t *testing.T, path string) {
	if os.Geteuid() != 0 {
		return
	}
	filepath.Walk(path, func(p string, _ os.FileInfo, err error) error {
		if err == nil {
			err = os.Lchown(p, nobody, nobody)
		}
		if err != nil {
			t.Fatalf("chown %s: %v", p, err)
		}
		return nil
	})
}

// startAgent runs the agent with the given options and waits until every
// service it should serve listens.
func startAgent(t *testing.T, opts map[string]string) *agentProc {
	t.Helper()
	dir, err := os.MkdirTemp("", "minipot-e2e-")
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(dir, 0o755)
	t.Cleanup(func() { os.RemoveAll(dir) })
	host := fmt.Sprintf("127.0.0.%d", 10+hostSeq.Add(1)%240)
	writeConfig(t, dir, host, opts)
	a := &agentProc{t: t, Host: host, Dir: dir, DB: filepath.Join(dir, "events.db"),
		stdout: &syncBuffer{}, stderr: &syncBuffer{}, done: make(chan struct{})}
	a.cmd = exec.Command(minipotBin, "agent", "-c", dir, "--run-dir", filepath.Join(dir, "run"))
	a.cmd.Stdout, a.cmd.Stderr = a.stdout, a.stderr
	if os.Geteuid() == 0 {
		a.cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
	}
	if err := a.cmd.Start(); err != nil {
		t.Fatalf("start agent: %v", err)
	}
	go func() { a.cmd.Wait(); close(a.done) }()
	t.Cleanup(func() {
		a.Stop()
		if t.Failed() {
			t.Logf("agent stderr:\n%s", tail(a.stderr.String(), 4000))
		}
	})
	a.waitStarted()
	return a
}

// waitStarted waits for the agent's summary: one line per service.
func (a *agentProc) waitStarted() {
	a.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for strings.Count(a.stdout.String(), "\n") < len(fakePorts) {
		select {
		case <-a.done:
			a.t.Fatalf("agent exited early: %v\nstderr:\n%s", a.cmd.ProcessState, a.stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			a.t.Fatalf("agent did not start in time\nstdout:\n%s\nstderr:\n%s", a.stdout.String(), a.stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Stop ends the agent with SIGTERM (it flushes the store) and waits.
func (a *agentProc) Stop() {
	if a.cmd.Process == nil {
		return
	}
	a.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-a.done:
	case <-time.After(10 * time.Second):
		a.cmd.Process.Kill()
		<-a.done
		a.t.Errorf("agent did not stop on SIGTERM")
	}
}

// Kill ends the agent with SIGKILL.
func (a *agentProc) Kill() {
	a.cmd.Process.Kill()
	<-a.done
}

// Signal sends sig to the agent.
func (a *agentProc) Signal(sig os.Signal) {
	if err := a.cmd.Process.Signal(sig); err != nil {
		a.t.Fatal(err)
	}
}

// UCI runs `minipot uci -c DIR args...` on the agent's config, as a shell
// script on a router would.
func (a *agentProc) UCI(args ...string) string {
	a.t.Helper()
	out, err := exec.Command(minipotBin, append([]string{"uci", "-c", a.Dir, "-t", filepath.Join(a.Dir, ".uci")}, args...)...).CombinedOutput()
	if err != nil {
		a.t.Fatalf("minipot uci %v: %v\n%s", args, err, out)
	}
	return string(out)
}

// run runs a command with a timeout and returns its combined output.
func run(t *testing.T, timeout time.Duration, name string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	return string(out), err
}

// eventually retries cond until it holds or the timeout passes.
func eventually(t testing.TB, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, state := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not so after %s: %s", what, timeout, state)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}

// syncBuffer is a bytes.Buffer safe for a process writing while a test reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// unixClient is an HTTP client of the API on its unix socket sock (any
// host name in the URL: the API wants a local one, "localhost").
func unixClient(sock string, timeout time.Duration) *http.Client {
	return &http.Client{Timeout: timeout, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", sock)
		}}}
}

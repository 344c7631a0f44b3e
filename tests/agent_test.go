package tests

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/minipot/minipot/agent/telnet/bot"
	"github.com/minipot/minipot/internal/event"
	"github.com/minipot/minipot/internal/report"
)

// find returns the stored events matching keep, waiting for the writer to
// flush at least min of them.
func (a *agentProc) find(t *testing.T, min int, keep func(event.Event) bool) []event.Event {
	t.Helper()
	var got []event.Event
	eventually(t, 10*time.Second, fmt.Sprintf("%d matching events in the store", min), func() (bool, string) {
		got = got[:0]
		for _, e := range readEvents(t, a.DB) {
			if keep(e) {
				got = append(got, e)
			}
		}
		return len(got) >= min, fmt.Sprintf("%d found", len(got))
	})
	return got
}

func logins(service string) func(event.Event) bool {
	return func(e event.Event) bool { return e.Service == service && e.Action == event.Login }
}

func TestMiraiBotIsRecorded(t *testing.T) {
	a := startAgent(t, nil)
	for _, key := range []string{"23tcp", "2323tcp"} {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		r, err := bot.Attempt(ctx, a.Addr(key), "root", "xc3511")
		cancel()
		if err != nil || r.Outcome != bot.Rejected {
			t.Fatalf("%s: bot attempt: %+v, %v", key, r, err)
		}
		ev := a.find(t, 1, logins(key))[0]
		wantPort := map[string]int{"23tcp": 23, "2323tcp": 2323}[key]
		if ev.Username != "root" || ev.Password != "xc3511" || ev.Port != wantPort || ev.SrcIP != "127.0.0.1" {
			t.Errorf("%s: stored %+v", key, ev)
		}
		disc := a.find(t, 1, func(e event.Event) bool { return e.Service == key && e.Action == event.Disconnect })[0]
		if disc.ConnID != ev.ConnID || disc.BytesIn == 0 || disc.BytesOut == 0 || disc.Reason == "" {
			t.Errorf("%s: disconnect %+v does not describe the connection of %+v", key, disc, ev)
		}
	}
}

// TestRealTelnetClient drives the telnet command itself, as a person would.
func TestRealTelnetClient(t *testing.T) {
	a := startAgent(t, map[string]string{"agent.login_delay": "1s"})
	out, took := telnetLogin(t, a.Addr("23tcp"), "admin", "hunter2")
	if took < 900*time.Millisecond {
		t.Errorf("Login incorrect after %v, before the 1s login delay", took)
	}
	ev := a.find(t, 1, logins("23tcp"))[0]
	if ev.Username != "admin" || ev.Password != "hunter2" {
		t.Errorf("stored %+v", ev)
	}
	if strings.Contains(out, "hunter2") {
		t.Errorf("the password was echoed:\n%s", out)
	}
}

// telnetLogin logs in with the telnet command at addr and returns what it
// showed and how long "Login incorrect" took after the password.
func telnetLogin(t *testing.T, addr, user, password string) (string, time.Duration) {
	t.Helper()
	host, port, _ := net.SplitHostPort(addr)
	cmd := exec.Command(need(t, "telnet"), host, port)
	stdin, _ := cmd.StdinPipe()
	var out syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	waitFor := func(s string) {
		eventually(t, 10*time.Second, "telnet shows "+s, func() (bool, string) {
			return strings.Contains(out.String(), s), out.String()
		})
	}
	waitFor("OpenWrt login: ")
	io.WriteString(stdin, user+"\n")
	waitFor("Password: ")
	start := time.Now()
	io.WriteString(stdin, password+"\n")
	waitFor("Login incorrect")
	took := time.Since(start)
	stdin.Close()
	return out.String(), took
}

// TestParkedRealClients: with more than 64 connections open (idle telnet
// and HTTP clients that never speak), new connections are parked until
// their first bytes (agent/park_linux.go); the telnet command and curl
// are served through that as before, and the idle ones end as usual.
func TestParkedRealClients(t *testing.T) {
	curl := need(t, "curl")
	a := startAgent(t, map[string]string{"limits.max_per_ip": "500", "limits.max_per_network": "500"})
	var idle []net.Conn
	for i := range 100 {
		key := "23tcp"
		if i%4 == 0 {
			key = "80tcp"
		}
		c, err := net.Dial("tcp", a.Addr(key))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if key == "23tcp" {
			c.SetReadDeadline(time.Now().Add(10 * time.Second))
			if _, err := io.ReadAtLeast(c, make([]byte, 64), 12); err != nil {
				t.Fatalf("idle connection %d greeting: %v", i, err)
			}
		}
		idle = append(idle, c)
	}
	a.find(t, 100, func(e event.Event) bool { return e.Action == event.Connect })
	// The 65th to the 100th were parked; the report counts them (written
	// at once on a reload).
	a.cmd.Process.Signal(syscall.SIGHUP)
	eventually(t, 15*time.Second, "the report counting 36 parked connections", func() (bool, string) {
		rep, err := report.Read(a.Dir + "/run")
		if err != nil {
			return false, err.Error()
		}
		return rep.Connections.Parked == 36 && rep.Connections.Open == 100, fmt.Sprintf("%+v", rep.Connections)
	})

	telnetLogin(t, a.Addr("23tcp"), "parked", "s3cret")
	ev := a.find(t, 1, logins("23tcp"))[0]
	if ev.Username != "parked" || ev.Password != "s3cret" {
		t.Errorf("telnet login stored %+v", ev)
	}
	out, err := run(t, 10*time.Second, curl, "-sS", "-i", "-u", "admin:parked", "http://"+a.Addr("80tcp")+"/")
	if err != nil || !strings.HasPrefix(out, "HTTP/1.1 401") {
		t.Fatalf("curl: %v\n%s", err, out)
	}
	if ev := a.find(t, 1, logins("80tcp"))[0]; ev.Username != "admin" || ev.Password != "parked" {
		t.Errorf("HTTP login stored %+v", ev)
	}

	for _, c := range idle {
		c.Close()
	}
	// The telnet and curl connections and the 100 idle ones.
	a.find(t, 102, func(e event.Event) bool { return e.Action == event.Disconnect && e.Reason == event.ReasonClosed })
}

func TestCurl(t *testing.T) {
	curl := need(t, "curl")
	a := startAgent(t, nil)
	out, err := run(t, 10*time.Second, curl, "-sS", "-i", "-u", "admin:s3cret", "-A", "probe/1.0", "http://"+a.Addr("80tcp")+"/cgi-bin/luci")
	if err != nil || !strings.HasPrefix(out, "HTTP/1.1 401") || !strings.Contains(strings.ToLower(out), "www-authenticate: basic") {
		t.Fatalf("curl http: %v\n%s", err, out)
	}
	ev := a.find(t, 1, logins("80tcp"))[0]
	if ev.Username != "admin" || ev.Password != "s3cret" || ev.URL != "/cgi-bin/luci" || ev.UserAgent != "probe/1.0" || ev.Method != "GET" || ev.Port != 80 {
		t.Errorf("http event %+v", ev)
	}

	for _, key := range []string{"3128tcp", "8080tcp", "8123tcp"} {
		out, err := run(t, 10*time.Second, curl, "-sS", "-i", "-x", "http://bob:pw@"+a.Addr(key), "http://example.com/x")
		if err != nil || !strings.HasPrefix(out, "HTTP/1.1 407") || !strings.Contains(strings.ToLower(out), "proxy-authenticate: basic") {
			t.Fatalf("curl via %s: %v\n%s", key, err, out)
		}
		ev := a.find(t, 1, logins(key))[0]
		if ev.Username != "bob" || ev.Password != "pw" || ev.URL != "http://example.com/x" {
			t.Errorf("%s event %+v", key, ev)
		}
	}
	// CONNECT through the proxy: refused with 407, target recorded.
	out, _ = run(t, 10*time.Second, curl, "-sS", "-i", "-p", "-x", "http://"+a.Addr("3128tcp"), "https://example.com:8443/")
	if !strings.Contains(out, "407") {
		t.Fatalf("CONNECT: %s", out)
	}
	a.find(t, 1, func(e event.Event) bool {
		return e.Service == "3128tcp" && e.Method == "CONNECT" && e.URL == "example.com:8443"
	})
}

// TestRepeatedRequests: curl asking for the same URL five times on one
// keep-alive connection, then another, leaves three rows whose counts add
// up to the six requests, and the disconnect.
func TestRepeatedRequests(t *testing.T) {
	curl := need(t, "curl")
	a := startAgent(t, nil)
	u := "http://" + a.Addr("80tcp")
	args := []string{"-sS", "-w", "%{http_code} %{num_connects}\n", "-A", "flood/1.0"}
	for _, path := range []string{"/same", "/same", "/same", "/same", "/same", "/other"} {
		args = append(args, "-o", "/dev/null", u+path)
	}
	out, err := run(t, 10*time.Second, curl, args...)
	if err != nil || strings.Count(out, "401 ") != 6 || strings.Count(out, "401 1") != 1 {
		t.Fatalf("curl: %v\n%s (want six 401s over one connection)", err, out)
	}
	evs := a.find(t, 1, func(e event.Event) bool { return e.Service == "80tcp" && e.Action == event.Disconnect })
	var got []string
	for _, e := range readEvents(t, a.DB) {
		if e.ConnID == evs[0].ConnID && e.Action == event.Request {
			got = append(got, fmt.Sprintf("%s x%d", e.URL, e.Count))
		}
	}
	// readEvents gives newest first.
	if want := "/other x1,/same x4,/same x1"; strings.Join(got, ",") != want {
		t.Errorf("request rows %q, want %q", strings.Join(got, ","), want)
	}
}

// TestCredentialsOff: with log_credentials off, a password appears nowhere:
// not in the events, not in the database file's bytes, not in the log.
func TestCredentialsOff(t *testing.T) {
	curl := need(t, "curl")
	a := startAgent(t, map[string]string{"fakes.log_credentials": "0"})
	const secret = "Zebra-Quartz-9931"
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if r, err := bot.Attempt(ctx, a.Addr("23tcp"), "admin-"+secret, secret); err != nil || r.Outcome != bot.Rejected {
		t.Fatalf("bot: %+v %v", r, err)
	}
	run(t, 10*time.Second, curl, "-s", "-u", "admin:"+secret, "http://"+a.Addr("80tcp")+"/")
	run(t, 10*time.Second, curl, "-s", "-x", "http://u:"+secret+"@"+a.Addr("8080tcp"), "http://example.com/")
	// Credentials also travel in login forms, queries and proxy targets.
	run(t, 10*time.Second, curl, "-s", "-d", "luci_username=root&luci_password="+secret, "http://"+a.Addr("80tcp")+"/cgi-bin/luci")
	run(t, 10*time.Second, curl, "-s", "http://"+a.Addr("80tcp")+"/login.cgi?user=admin&password="+secret)
	run(t, 10*time.Second, curl, "-s", "-x", "http://"+a.Addr("3128tcp"), "http://admin:"+secret+"@example.com/")
	a.find(t, 1, logins("23tcp"))
	a.find(t, 1, logins("80tcp"))
	a.find(t, 1, logins("8080tcp"))
	a.find(t, 1, func(e event.Event) bool { return e.Method == "POST" && strings.Contains(e.Body, "luci_password=") })
	a.find(t, 1, func(e event.Event) bool { return strings.HasPrefix(e.URL, "/login.cgi?user=") })
	a.find(t, 1, func(e event.Event) bool { return e.Service == "3128tcp" && e.URL == "http://example.com/" })
	for _, e := range readEvents(t, a.DB) {
		if e.Username != "" || e.Password != "" {
			t.Errorf("credentials stored with log_credentials off: %+v", e)
		}
	}
	a.Stop()
	for _, suffix := range []string{"", "-wal", "-shm"} {
		raw, _ := os.ReadFile(a.DB + suffix)
		if strings.Contains(string(raw), secret) {
			t.Errorf("%s contains the password", a.DB+suffix)
		}
	}
	if strings.Contains(a.stderr.String(), secret) {
		t.Errorf("the log contains the password")
	}
}

// TestReload: SIGHUP after `uci set` + commit converges the listeners
// without dropping the connections of services that stay.
func TestReload(t *testing.T) {
	a := startAgent(t, map[string]string{"agent.login_delay": "0"})
	kept, err := net.Dial("tcp", a.Addr("23tcp"))
	if err != nil {
		t.Fatal(err)
	}
	defer kept.Close()
	readPrompt(t, kept)

	a.UCI("add_list", "ucollect.fakes.disable=2323tcp")
	a.UCI("set", "ucollect.fakes.log_credentials=0")
	a.UCI("commit", "ucollect")
	a.Signal(syscall.SIGHUP)
	eventually(t, 5*time.Second, "2323tcp stops listening", func() (bool, string) {
		c, err := net.DialTimeout("tcp", a.Addr("2323tcp"), time.Second)
		if err == nil {
			c.Close()
		}
		return err != nil, fmt.Sprint(err)
	})
	// The open 23tcp connection still works, and now records no password.
	fmt.Fprintf(kept, "olduser\r\noldpass\r\n")
	readUntil(t, kept, "ncorrect")
	ev := a.find(t, 1, logins("23tcp"))[0]
	if ev.Password != "" {
		t.Errorf("credentials recorded after they were switched off: %+v", ev)
	}

	a.UCI("del_list", "ucollect.fakes.disable=2323tcp")
	a.UCI("set", "ucollect.fakes.enabled=0")
	a.UCI("commit")
	a.Signal(syscall.SIGHUP)
	eventually(t, 5*time.Second, "every service stops with the master switch off", func() (bool, string) {
		for key := range fakePorts {
			if c, err := net.DialTimeout("tcp", a.Addr(key), time.Second); err == nil {
				c.Close()
				return false, key + " still listens"
			}
		}
		return true, ""
	})

	a.UCI("set", "ucollect.fakes.enabled=1")
	a.UCI("commit")
	a.Signal(syscall.SIGHUP)
	eventually(t, 5*time.Second, "every service listens again", func() (bool, string) {
		for key := range fakePorts {
			c, err := net.DialTimeout("tcp", a.Addr(key), time.Second)
			if err != nil {
				return false, err.Error()
			}
			c.Close()
		}
		return true, ""
	})

	// The status report says what the agent applied: the file's digest,
	// and each service's state.
	data, _ := os.ReadFile(a.Dir + "/ucollect")
	sum := sha256.Sum256(data)
	eventually(t, 5*time.Second, "the report shows the applied file", func() (bool, string) {
		rep, err := report.Read(a.Dir + "/run")
		if err != nil {
			return false, err.Error()
		}
		listening := 0
		for _, st := range rep.Services {
			if st.Listening {
				listening++
			}
		}
		return rep.ConfigDigest == hex.EncodeToString(sum[:]) && listening == len(fakePorts) && rep.Enabled,
			fmt.Sprintf("%+v", rep)
	})

	// An invalid file is refused on reload: the agent keeps running.
	os.WriteFile(a.Dir+"/ucollect", []byte("config fakes 'fakes'\n\toption redir_offset '99999'\n"), 0o644)
	a.Signal(syscall.SIGHUP)
	eventually(t, 5*time.Second, "the bad reload is logged", func() (bool, string) {
		return strings.Contains(a.stderr.String(), "fakes.redir_offset"), ""
	})
	if rep, err := report.Read(a.Dir + "/run"); err != nil || !strings.Contains(rep.ConfigError, "fakes.redir_offset") {
		t.Errorf("the report does not tell the bad reload: %+v %v", rep, err)
	}
	if c, err := net.DialTimeout("tcp", a.Addr("23tcp"), time.Second); err != nil {
		t.Errorf("agent stopped serving after a bad reload: %v", err)
	} else {
		c.Close()
	}
}

func readPrompt(t *testing.T, c net.Conn) { readUntil(t, c, "login: ") }

func readUntil(t *testing.T, c net.Conn, want string) string {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	var got []byte
	buf := make([]byte, 512)
	for !strings.Contains(string(got), want) {
		n, err := c.Read(buf)
		got = append(got, buf[:n]...)
		if err != nil {
			t.Fatalf("waiting for %q: %v (got %q)", want, err, got)
		}
	}
	return string(got)
}

func TestInvalidConfigRefused(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(dir+"/ucollect", []byte("config fakes 'fakes'\n\toption mark_mask '1'\n\tlist disable 'ssh'\n"), 0o644)
	cmd := exec.Command(minipotBin, "agent", "-c", dir, "--allow-root")
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "fakes.mark_mask") || !strings.Contains(string(out), "fakes.disable") {
		t.Fatalf("agent accepted a bad config: %v\n%s", err, out)
	}
}

// TestRefusesRoot: as root without --allow-root the agent refuses in every
// mode, development included, and so does `make run` without FIREWALL=1.
func TestRefusesRoot(t *testing.T) {
	if os.Geteuid() != 0 {
		if inCI() {
			t.Fatal("TestRefusesRoot needs root (CI=true)")
		}
		t.Skip("runs as root only (CI does): checks the agent refuses root")
	}
	for _, args := range [][]string{{"agent", "-c", t.TempDir()}, {"agent", "--dev"}} {
		cmd := exec.Command(minipotBin, args...)
		cmd.Dir = t.TempDir()
		out, err := cmd.CombinedOutput()
		if err == nil || !strings.Contains(string(out), "refusing to run as root") {
			t.Fatalf("minipot %v ran as root: %v\n%s", args, err, out)
		}
	}
	make := need(t, "make")
	out, err := run(t, 2*time.Minute, make, "-C", "..", "run")
	if err == nil || !strings.Contains(out, "refusing to run the internet-facing agent as root") {
		t.Fatalf("make run ran as root without FIREWALL=1: %v\n%s", err, out)
	}
}

// TestDevModeLoopbackOnly: development mode as root (--allow-root, as
// `make run FIREWALL=1` runs it) binds loopback only, whatever agent.listen
// says.
func TestDevModeLoopbackOnly(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "var", "config"), 0o755); err != nil {
		t.Fatal(err)
	}
	// Ports of its own: the fixed development ports may be taken by a
	// developer's `make run`.
	offset := 40000 + os.Getpid()%1000
	conf := fmt.Sprintf("config fakes 'fakes'\n\toption redir_offset '%d'\nconfig agent 'agent'\n\toption listen '0.0.0.0'\nconfig store 'store'\n\toption path 'var/events.db'\n", offset)
	os.WriteFile(filepath.Join(dir, "var", "config", "ucollect"), []byte(conf), 0o644)
	args := []string{"agent", "--dev"}
	if os.Geteuid() == 0 {
		args = append(args, "--allow-root")
	}
	cmd := exec.Command(minipotBin, args...)
	cmd.Dir = dir
	var out syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Signal(syscall.SIGTERM); cmd.Wait() }()
	eventually(t, 15*time.Second, "every service reported", func() (bool, string) {
		return strings.Count(out.String(), "(port ") >= len(fakePorts), out.String()
	})
	for _, line := range strings.Split(out.String(), "\n") {
		if strings.Contains(line, "(port ") && !strings.Contains(line, "127.0.0.1:") {
			t.Errorf("development mode not on loopback: %s", line)
		}
	}
	if !strings.Contains(out.String(), "development mode listens on 127.0.0.1 only") {
		t.Errorf("no word that agent.listen was overridden:\n%s", out.String())
	}
}

func TestVersion(t *testing.T) {
	out, err := exec.Command(minipotBin, "version").Output()
	if err != nil || !strings.HasPrefix(string(out), "minipot ") {
		t.Fatalf("version: %v %q", err, out)
	}
}

// TestKill9 kills the agent while bots keep it writing: the database opens,
// passes an integrity check, and holds the events written before.
func TestKill9(t *testing.T) {
	a := startAgent(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	for i := 0; i < 8; i++ {
		go func() {
			var c bot.Client
			for ctx.Err() == nil {
				c.Attempt(ctx, a.Addr("23tcp"), "u", "p")
			}
			done <- struct{}{}
		}()
	}
	a.find(t, 200, logins("23tcp"))
	a.Kill()
	cancel()
	for i := 0; i < 8; i++ {
		<-done
	}
	checkIntegrity(t, a.DB)
	if n := len(readEvents(t, a.DB)); n < 200 {
		t.Fatalf("only %d events after kill -9", n)
	}
}

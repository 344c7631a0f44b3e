package tests

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/minipot/minipot/agent/telnet/bot"
	"github.com/minipot/minipot/internal/event"
)

// rssKB is the agent's resident memory.
func (a *agentProc) rssKB() int {
	a.t.Helper()
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", a.cmd.Process.Pid))
	if err != nil {
		a.t.Fatal(err)
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			n, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(rest), " kB"))
			return n
		}
	}
	a.t.Fatal("no VmRSS")
	return 0
}

// stillServes checks a bot from another source address gets its answer.
func (a *agentProc) stillServes() {
	a.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}}
	c, err := d.DialContext(ctx, "tcp", a.Addr("23tcp"))
	if err != nil {
		a.t.Fatalf("agent no longer accepts: %v", err)
	}
	var b bot.Client
	b.Attach(c)
	defer b.Close()
	if r, err := b.Login(ctx, "other", "client"); err != nil || r.Outcome != bot.Rejected {
		a.t.Fatalf("agent no longer serves others: %+v %v", r, err)
	}
}

func TestPerAddressLimit(t *testing.T) {
	a := startAgent(t, map[string]string{"limits.max_per_ip": "4"})
	var open []net.Conn
	defer func() {
		for _, c := range open {
			c.Close()
		}
	}()
	greeted, refused := 0, 0
	for i := 0; i < 12; i++ {
		c, err := net.Dial("tcp", a.Addr("23tcp"))
		if err != nil {
			refused++
			continue
		}
		open = append(open, c)
		c.SetReadDeadline(time.Now().Add(2 * time.Second))
		if _, err := io.ReadFull(c, make([]byte, 1)); err == nil {
			greeted++
		} else {
			refused++
		}
	}
	if greeted != 4 || refused != 8 {
		t.Fatalf("greeted %d, refused %d; want 4 and 8 with max_per_ip 4", greeted, refused)
	}
	a.stillServes()
}

func TestTotalLimit(t *testing.T) {
	a := startAgent(t, map[string]string{"limits.max_connections": "3", "limits.max_per_ip": "100"})
	var open []net.Conn
	defer func() {
		for _, c := range open {
			c.Close()
		}
	}()
	greeted := 0
	for i := 0; i < 6; i++ {
		c, err := net.Dial("tcp", a.Addr("80tcp"))
		if err != nil {
			continue
		}
		open = append(open, c)
		fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		c.SetReadDeadline(time.Now().Add(2 * time.Second))
		if _, err := io.ReadFull(c, make([]byte, 12)); err == nil {
			greeted++
		}
	}
	if greeted != 3 {
		t.Fatalf("%d connections served with max_connections 3", greeted)
	}
}

// TestHostileInput throws a 10 MB line, a stream of 0xFF, random garbage
// and a slowloris at the fakes: memory stays bounded, each is closed with a
// reason, and other clients are served throughout.
func TestHostileInput(t *testing.T) {
	a := startAgent(t, map[string]string{"limits.idle_timeout": "2s", "limits.session_timeout": "4s", "limits.max_per_ip": "64"})
	before := a.rssKB()
	blast := func(key string, payload func(w io.Writer)) {
		c, err := net.Dial("tcp", a.Addr(key))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		go io.Copy(io.Discard, c)
		c.SetWriteDeadline(time.Now().Add(10 * time.Second))
		payload(c)
	}
	tenMB := bytes.Repeat([]byte("A"), 10<<20)
	ff := bytes.Repeat([]byte{0xff}, 1<<20)
	garbage := make([]byte, 1<<20)
	rand.Read(garbage)
	for _, key := range []string{"23tcp", "80tcp", "3128tcp"} {
		blast(key, func(w io.Writer) {
			if key != "23tcp" {
				io.WriteString(w, "GET /") // a 10 MB URL
			}
			w.Write(tenMB)
		})
		blast(key, func(w io.Writer) { w.Write(ff) })
		blast(key, func(w io.Writer) { w.Write(garbage) })
	}
	// Slowloris: a header byte every 500 ms never idles out, so the
	// session bound must end it.
	slow, err := net.Dial("tcp", a.Addr("80tcp"))
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	start := time.Now()
	io.WriteString(slow, "GET / HTTP/1.1\r\n")
	closed := false
	for i := 0; i < 30 && !closed; i++ {
		time.Sleep(500 * time.Millisecond)
		if _, err := io.WriteString(slow, "X"); err != nil {
			closed = true
		}
		slow.SetReadDeadline(time.Now().Add(time.Millisecond))
		if _, err := slow.Read(make([]byte, 1)); err == io.EOF {
			closed = true
		}
	}
	if !closed || time.Since(start) > 8*time.Second {
		t.Errorf("slowloris held its connection %v (closed=%v) with session_timeout 4s", time.Since(start), closed)
	}
	a.stillServes()
	if grew := a.rssKB() - before; grew > 30*1024 {
		t.Errorf("hostile input grew the agent by %d KB", grew)
	}
	eventually(t, 10*time.Second, "limits and timeouts recorded as disconnect reasons", func() (bool, string) {
		reasons := map[string]int{}
		for _, e := range readEvents(t, a.DB) {
			if e.Action == event.Disconnect {
				reasons[e.Reason]++
				reasons[e.Service+":"+e.Reason]++
			}
		}
		return reasons["23tcp:limit"] >= 1 && reasons["80tcp:limit"] >= 1 && reasons["3128tcp:limit"] >= 1 && reasons[event.ReasonTimeout] >= 1, fmt.Sprint(reasons)
	})
	a.find(t, 3, func(e event.Event) bool { return e.Action == event.Invalid })
}

// holdFrom opens n connections to addr, the i-th from src(i), each kept open
// and sending a byte now and then until the test ends; it reports how many
// were greeted (telnet speaks first).
func holdFrom(t *testing.T, addr string, n int, src func(i int) string) int {
	t.Helper()
	stop := make(chan struct{})
	var conns []net.Conn
	t.Cleanup(func() {
		close(stop)
		for _, c := range conns {
			c.Close()
		}
	})
	greeted := 0
	buf := make([]byte, 64)
	for i := range n {
		d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(src(i))}}
		c, err := d.Dial("tcp", addr)
		if err != nil {
			continue
		}
		conns = append(conns, c)
		c.SetReadDeadline(time.Now().Add(2 * time.Second))
		if _, err := io.ReadAtLeast(c, buf, 12); err == nil {
			greeted++
		}
	}
	go func() {
		tick := time.NewTicker(2 * time.Second)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				for _, c := range conns {
					c.SetWriteDeadline(time.Now().Add(10 * time.Millisecond))
					c.Write([]byte("a"))
				}
			}
		}
	}()
	return greeted
}

// openIn counts, from the store, the connections of service key still open
// (connected, not disconnected) and those that came from addresses with
// prefix from.
func (a *agentProc) openIn(t *testing.T, key, from string) (open, fromPrefix int) {
	t.Helper()
	for _, e := range readEvents(t, a.DB) {
		if e.Service != key {
			continue
		}
		switch e.Action {
		case event.Connect:
			open++
			if strings.HasPrefix(e.SrcIP, from) {
				fromPrefix++
			}
		case event.Disconnect:
			open--
		}
	}
	return open, fromPrefix
}

// TestFairShare: the whole connection budget held, first by 32 addresses
// with 16 connections each, then by a botnet of 2,000 addresses in 2,000
// networks: a client from a new address is served every time, on telnet
// and HTTP, and the connections that made room end with reason limit.
func TestFairShare(t *testing.T) {
	a := startAgent(t, nil) // the defaults: 512 in all, 16 per address, 64 per network
	// 32 addresses in 32 networks, 16 connections each: 512.
	holdFrom(t, a.Addr("23tcp"), 32*16, func(i int) string { return fmt.Sprintf("127.1.%d.1", i/16) })
	eventually(t, 20*time.Second, "32 addresses × 16 hold all 512 connections", func() (bool, string) {
		open, _ := a.openIn(t, "23tcp", "")
		return open == 512, fmt.Sprint(open, " open")
	})
	a.stillServes()
	servesHTTP(t, a, "127.0.0.3")

	// 2,000 addresses, each in a network of its own, one connection each.
	holdFrom(t, a.Addr("23tcp"), 2000, func(i int) string { return fmt.Sprintf("127.%d.%d.1", 10+i/250, i%250) })
	eventually(t, 20*time.Second, "the flood holds all 512 connections", func() (bool, string) {
		open, _ := a.openIn(t, "23tcp", "")
		return open == 512, fmt.Sprint(open, " open")
	})
	a.stillServes()
	servesHTTP(t, a, "127.0.0.4")
	eventually(t, 10*time.Second, "evicted connections recorded with reason limit", func() (bool, string) {
		n := 0
		for _, e := range readEvents(t, a.DB) {
			if e.Action == event.Disconnect && e.Reason == event.ReasonLimit && e.Service == "23tcp" {
				n++
			}
		}
		return n >= 2000, fmt.Sprintf("%d limit disconnects", n)
	})
}

// servesHTTP checks a client from src gets its 401.
func servesHTTP(t *testing.T, a *agentProc, src string) {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
	c, err := d.Dial("tcp", a.Addr("80tcp"))
	if err != nil {
		t.Fatalf("HTTP from %s: %v", src, err)
	}
	defer c.Close()
	fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 12)
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "HTTP/1.1 401" {
		t.Fatalf("HTTP from %s while the budget is held: %q %v", src, buf, err)
	}
}

// TestSlowClientsCut: clients that send a byte every 300 ms never idle out,
// but one that has not finished a login (telnet) or a request's headers
// (HTTP, proxy) within the login or header timeout is cut, with reason
// timeout.
func TestSlowClientsCut(t *testing.T) {
	a := startAgent(t, map[string]string{"limits.login_timeout": "2s", "limits.header_timeout": "2s", "limits.max_per_ip": "64"})
	start := time.Now()
	type slow struct {
		key    string
		c      net.Conn
		closed chan time.Duration
	}
	var all []*slow
	for _, key := range []string{"23tcp", "80tcp", "3128tcp"} {
		for range 10 {
			c, err := net.Dial("tcp", a.Addr(key))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			s := &slow{key: key, c: c, closed: make(chan time.Duration, 1)}
			all = append(all, s)
			go io.Copy(io.Discard, c)
			go func() {
				if key != "23tcp" {
					io.WriteString(c, "GET / HTTP/1.1\r\n")
				}
				for time.Since(start) < 15*time.Second {
					time.Sleep(300 * time.Millisecond)
					if _, err := c.Write([]byte("X")); err != nil {
						s.closed <- time.Since(start)
						return
					}
				}
				s.closed <- 0
			}()
		}
	}
	for _, s := range all {
		if d := <-s.closed; d == 0 || d > 8*time.Second {
			t.Errorf("%s: a client dawdling over its login or headers was closed after %v (0: never), want about 2s", s.key, d)
		}
	}
	eventually(t, 10*time.Second, "timeouts recorded", func() (bool, string) {
		n := map[string]int{}
		for _, e := range readEvents(t, a.DB) {
			if e.Action == event.Disconnect && e.Reason == event.ReasonTimeout {
				n[e.Service]++
			}
		}
		return n["23tcp"] == 10 && n["80tcp"] == 10 && n["3128tcp"] == 10, fmt.Sprint(n)
	})
	a.stillServes()
}

// TestCredentialsOffEverywhere sends a secret in every shape the issue found
// stored, and more, with real clients: with log_credentials off it appears
// nowhere: not in the database file's bytes, the log, the events API or the
// statistics.
func TestCredentialsOffEverywhere(t *testing.T) {
	curl := need(t, "curl")
	a := startAgent(t, map[string]string{"fakes.log_credentials": "0"}) // log level debug: events are logged
	api := startAPI(t, a)
	const secret = "Quokka7Vortex"
	web, proxy := "http://"+a.Addr("80tcp"), a.Addr("3128tcp")
	for _, args := range [][]string{
		{web + "/login.cgi?pw=" + secret},
		{web + "/?p%61ss=" + secret + "&u=x"},
		{web + "/?%2570wd=" + secret},
		{web + "/?PIN=" + secret},
		{web + "/?apiKey=" + secret},
		{"-H", "Content-Type: application/xml", "-d", "<login><user>admin</user><password>" + secret + "</password></login>", web + "/xml"},
		{"-F", "user=admin", "-F", "passwd=" + secret, web + "/upload"},
		{"-H", "Content-Type: application/json", "-d", `{"\u0070assword":"` + secret + `"}`, web + "/json"},
		{"-H", "X-Auth-Token: " + secret, web + "/hdr"},
		{"-H", "Host: admin:" + secret + "@router.lan", web + "/host"},
		{"-x", "http://" + proxy, "http://admin:" + secret + "@example.com/"},
	} {
		if out, err := run(t, 10*time.Second, curl, append([]string{"-s", "-o", "/dev/null", "-w", "%{http_code}"}, args...)...); err != nil || out == "000" {
			t.Fatalf("curl %q: %v %s", args, err, out)
		}
	}
	// CONNECT with userinfo in the target, and a User-Agent holding a token.
	c, err := net.Dial("tcp", proxy)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(c, "CONNECT admin:%s@example.com:443 HTTP/1.1\r\nHost: example.com:443\r\nUser-Agent: x token=%s\r\n\r\n", secret, secret)
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	io.ReadFull(c, make([]byte, 12))
	c.Close()
	// A telnet login, and an HTTP request line with a secret at the login prompt.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if r, err := bot.Attempt(ctx, a.Addr("23tcp"), "root", secret); err != nil || r.Outcome != bot.Rejected {
		t.Fatalf("bot: %+v %v", r, err)
	}
	tc, err := net.Dial("tcp", a.Addr("2323tcp"))
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(tc, "GET /?token=%s HTTP/1.1\r\n", secret)
	tc.SetReadDeadline(time.Now().Add(2 * time.Second))
	io.ReadAll(tc)
	tc.Close()

	eventually(t, 10*time.Second, "every request stored", func() (bool, string) {
		var urls []string
		for _, e := range readEvents(t, a.DB) {
			urls = append(urls, e.Service+" "+e.URL)
		}
		all := strings.Join(urls, "\n")
		for _, u := range []string{"80tcp /xml", "80tcp /upload", "80tcp /json", "80tcp /hdr", "80tcp /host", "example.com:443", "example.com/", "2323tcp", "23tcp"} {
			if !strings.Contains(all, u) {
				return false, "missing " + u + ": " + all
			}
		}
		return true, ""
	})
	var events, stats json.RawMessage
	api.get(t, "/api/v1/events?limit=1000", &events)
	api.get(t, "/api/v1/stats", &stats)
	a.Stop()
	for name, text := range map[string]string{"events API": string(events), "stats API": string(stats),
		"agent log": a.stderr.String(), "API log": api.stderr.String()} {
		if strings.Contains(text, secret) {
			i := strings.Index(text, secret)
			t.Errorf("the %s holds the secret: ...%s...", name, text[max(0, i-200):min(len(text), i+50)])
		}
	}
	for _, suffix := range []string{"", "-wal", "-shm"} {
		raw, _ := os.ReadFile(a.DB + suffix)
		if i := bytes.Index(raw, []byte(secret)); i >= 0 {
			t.Errorf("%s holds the secret: %q", a.DB+suffix, raw[max(0, i-100):i+20])
		}
	}
}

// purgeCredentials posts a credentials purge and returns the status and body.
func (p *apiProc) purgeCredentials(t *testing.T) (int, string) {
	t.Helper()
	resp, err := p.client.Post("http://localhost/api/v1/events/purge", "application/json", strings.NewReader(`{"scope":"credentials"}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// TestPurgeTellsTheTruth: a purge acts on the store the agent writes or
// refuses, saying why; it never answers success while the password stays
// in that store: store.path changed (the agent writes the old store until
// it restarts), the settings file broken, the agent down.
func TestPurgeTellsTheTruth(t *testing.T) {
	a := startAgent(t, nil) // credentials collected
	api := startAPI(t, a)
	const secret = "Wombat-Pie-4471"
	login := func() {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if r, err := bot.Attempt(ctx, a.Addr("23tcp"), "root", secret); err != nil || r.Outcome != bot.Rejected {
			t.Fatalf("bot: %+v %v", r, err)
		}
		a.find(t, 1, func(e event.Event) bool { return e.Password == secret })
	}
	stored := func() bool {
		for _, e := range readEvents(t, a.DB) {
			if e.Password == secret {
				return true
			}
		}
		return false
	}
	login()
	reload := func() {
		t.Helper()
		before := a.stderr.String()
		a.Signal(syscall.SIGHUP)
		eventually(t, 10*time.Second, "the agent reloaded", func() (bool, string) {
			after := a.stderr.String()[len(before):]
			return strings.Contains(after, "reloaded") || strings.Contains(after, "keeping the running settings"), after
		})
	}

	// store.path changed through the API: the agent keeps writing the old
	// store, and the answer says so.
	req, _ := http.NewRequest(http.MethodPatch, "http://localhost/api/v1/settings",
		strings.NewReader(`{"store": {"path": "`+filepath.Join(a.Dir, "new.db")+`"}}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("If-Match", "*")
	resp, err := api.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), "takes effect when the agent restarts") {
		t.Fatalf("PATCH store.path: %d %s; want it applied with a note that the agent restarts for it", resp.StatusCode, body)
	}
	if code, body := api.purgeCredentials(t); code != 409 || !strings.Contains(body, "restart") {
		t.Fatalf("purge with store.path pending a restart: %d %s; want 409 naming the restart", code, body)
	}
	var status struct {
		Store struct{ Note string } `json:"store"`
	}
	api.get(t, "/api/v1/status", &status)
	if !strings.Contains(status.Store.Note, a.DB) {
		t.Errorf("status does not say the agent writes %s until restart: %q", a.DB, status.Store.Note)
	}
	if !stored() {
		t.Fatal("the password went although the purge was refused")
	}

	// The settings file broken: the API cannot tell which store.
	good, _ := os.ReadFile(filepath.Join(a.Dir, "ucollect"))
	os.WriteFile(filepath.Join(a.Dir, "ucollect"), []byte("config fakes 'fakes\n\toption enabled\n"), 0o644)
	if code, body := api.purgeCredentials(t); code != 409 || !strings.Contains(body, "does not parse") {
		t.Fatalf("purge with a broken settings file: %d %s; want 409", code, body)
	}
	os.WriteFile(filepath.Join(a.Dir, "ucollect"), []byte(strings.Replace(string(good), "option path '"+filepath.Join(a.Dir, "new.db")+"'", "option path '"+a.DB+"'", 1)), 0o644)
	chownNobody(t, a.Dir)
	reload()

	// Settings and agent agree: the purge works, and the password is gone.
	if code, body := api.purgeCredentials(t); code != 200 || !strings.Contains(body, `"purged": true`) {
		t.Fatalf("purge: %d %s", code, body)
	}
	if stored() {
		t.Fatal("purge answered success, and the password is still stored")
	}

	// The agent down: the settings' store is the one it will write.
	login()
	a.Stop()
	if code, body := api.purgeCredentials(t); code != 200 {
		t.Fatalf("purge with the agent down: %d %s", code, body)
	}
	if stored() {
		t.Fatal("purge with the agent down answered success, and the password is still stored")
	}
	for _, suffix := range []string{"", "-wal"} {
		if raw, _ := os.ReadFile(a.DB + suffix); bytes.Contains(raw, []byte(secret)) {
			t.Errorf("%s still holds the password's bytes after the purge", a.DB+suffix)
		}
	}
}

// startAgentInNetns runs the agent inside the network namespace ns (as nobody
// when the tests are root), listening on every address.
func startAgentInNetns(t *testing.T, ns, host string, opts map[string]string) *agentProc {
	t.Helper()
	dir, err := os.MkdirTemp("", "minipot-e2e-")
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(dir, 0o755)
	t.Cleanup(func() { os.RemoveAll(dir) })
	writeConfig(t, dir, "::", opts)
	a := &agentProc{t: t, Host: host, Dir: dir, DB: filepath.Join(dir, "events.db"),
		stdout: &syncBuffer{}, stderr: &syncBuffer{}, done: make(chan struct{})}
	a.cmd = exec.Command("ip", "netns", "exec", ns, need(t, "setpriv"), "--reuid", fmt.Sprint(nobody), "--regid", fmt.Sprint(nobody), "--clear-groups",
		minipotBin, "agent", "-c", dir, "--run-dir", filepath.Join(dir, "run"))
	a.cmd.Stdout, a.cmd.Stderr = a.stdout, a.stderr
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

// TestFairShareIPv6: the budget held by 600 IPv6 addresses, each in a /48
// of its own (added to a namespace's loopback), and by 40 addresses of one
// /48 (the per-network limit): a fresh IPv6 client is served.
func TestFairShareIPv6(t *testing.T) {
	needRoot(t)
	ns := fmt.Sprintf("%s%dv6fair", nsPrefix, os.Getpid())
	addNamespace(t, ns)
	var batch strings.Builder
	for i := range 600 {
		fmt.Fprintf(&batch, "address add 2001:db8:%x::1/128 dev lo nodad\n", i+1)
	}
	for i := range 40 {
		fmt.Fprintf(&batch, "address add 2001:db8:ff00:%x::1/128 dev lo nodad\n", i+1)
	}
	batch.WriteString("address add 2001:db8:ffff::1/128 dev lo nodad\naddress add 2001:db8:fffe::7/128 dev lo nodad\n")
	if out, err := runIn([]byte(batch.String()), "ip", "-n", ns, "-batch", "-"); err != nil {
		t.Fatalf("ip -batch: %v\n%s", err, out)
	}
	eventually(t, 10*time.Second, "the addresses usable", func() (bool, string) {
		out, _ := runIn(nil, "ip", "-n", ns, "-6", "address", "show", "tentative")
		return strings.TrimSpace(out) == "", out
	})
	a := startAgentInNetns(t, ns, "2001:db8:ffff::1", map[string]string{"limits.max_connections": "200", "limits.max_per_network": "16"})
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	dial := func(src, key string) (net.Conn, error) {
		var c net.Conn
		err := inNetns(ns, func() error {
			d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
			var err error
			c, err = d.Dial("tcp", a.Addr(key))
			return err
		})
		return c, err
	}
	var dialErrs []string
	for i := range 40 { // one /48: only max_per_network get in
		if c, err := dial(fmt.Sprintf("2001:db8:ff00:%x::1", i+1), "23tcp"); err == nil {
			conns = append(conns, c)
		} else if len(dialErrs) < 3 {
			dialErrs = append(dialErrs, err.Error())
		}
	}
	t.Logf("first dial errors (refused connections are reset): %q", dialErrs)
	eventually(t, 20*time.Second, "one /48 holds max_per_network connections", func() (bool, string) {
		open, net48 := a.openIn(t, "23tcp", "2001:db8:ff00:")
		return open == 16 && net48 == 16, fmt.Sprintf("%d open, %d from the /48", open, net48)
	})
	for i := range 600 {
		if c, err := dial(fmt.Sprintf("2001:db8:%x::1", i+1), "23tcp"); err == nil {
			conns = append(conns, c)
		}
	}
	// More came than fit: the oldest were evicted, and the budget is full.
	eventually(t, 20*time.Second, "the budget full", func() (bool, string) {
		open, _ := a.openIn(t, "23tcp", "")
		return open == 200, fmt.Sprint(open, " open")
	})
	c, err := dial("2001:db8:fffe::7", "23tcp")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var b bot.Client
	b.Attach(c)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if r, err := b.Login(ctx, "fresh", "client"); err != nil || r.Outcome != bot.Rejected {
		t.Fatalf("a fresh IPv6 client was not served while 600 addresses hold the budget: %+v %v", r, err)
	}
	a.find(t, 1, func(e event.Event) bool {
		return e.Action == event.Login && e.SrcIP == "2001:db8:fffe::7" && e.Username == "fresh"
	})
}

package tests

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/minipot/minipot/internal/settings"
)

// apiProc is a running `minipot api` beside an agent.
type apiProc struct {
	Socket, TokenFile, Addr string
	stderr                  *syncBuffer
	client                  *http.Client
}

// startAPI runs `minipot api` on the agent's config and run folder, on a
// unix socket and on loopback TCP with a token, as root does on a router.
func startAPI(t *testing.T, a *agentProc) *apiProc {
	t.Helper()
	return startAPIIn(t, a, "", "")
}

// startAPIIn is startAPI in network namespace ns (none: "") on TCP
// address listen (a free port: "").
func startAPIIn(t *testing.T, a *agentProc, ns, listen string) *apiProc {
	t.Helper()
	dir := t.TempDir()
	p := &apiProc{Socket: filepath.Join(dir, "api.sock"), TokenFile: filepath.Join(dir, "api.token"), stderr: &syncBuffer{}}
	if err := os.WriteFile(p.TokenFile, []byte("e2e-token-0123456789abcdef\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p.Addr = listen
	if listen == "" {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		p.Addr = ln.Addr().String()
		ln.Close()
	}
	args := []string{"api", "-c", a.Dir, "--run-dir", filepath.Join(a.Dir, "run"),
		"--socket", p.Socket, "--listen", p.Addr, "--token-file", p.TokenFile}
	cmd := exec.Command(minipotBin, args...)
	if ns != "" {
		cmd = exec.Command("ip", append([]string{"netns", "exec", ns, minipotBin}, args...)...)
	}
	cmd.Stderr = p.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			t.Error("minipot api did not stop on SIGTERM")
		}
		if t.Failed() {
			t.Logf("api stderr:\n%s", tail(p.stderr.String(), 4000))
		}
	})
	p.client = unixClient(p.Socket, 20*time.Second)
	eventually(t, 10*time.Second, "the API answers", func() (bool, string) {
		resp, err := p.client.Get("http://localhost/api/v1/health")
		if err != nil {
			return false, err.Error()
		}
		resp.Body.Close()
		return resp.StatusCode == 200, resp.Status
	})
	return p
}

// get decodes a GET of the API into v.
func (p *apiProc) get(t *testing.T, path string, v any) {
	t.Helper()
	resp, err := p.client.Get("http://localhost" + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
}

// docExample is a fenced block of docs/api.md marked "sh test=NAME".
type docExample struct{ name, script string }

func docExamples(t *testing.T) []docExample {
	t.Helper()
	f, err := os.Open("../docs/api.md")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []docExample
	var cur *docExample
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case cur == nil && strings.HasPrefix(line, "```sh test="):
			cur = &docExample{name: strings.TrimPrefix(line, "```sh test=")}
		case cur != nil && line == "```":
			out = append(out, *cur)
			cur = nil
		case cur != nil:
			cur.script += line + "\n"
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// listens reports whether something accepts connections on addr.
func listens(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err == nil {
		c.Close()
	}
	return err == nil
}

// TestAPIDocExamples runs every curl example of docs/api.md, as written
// there (only the socket, token file and port are the test's own), against
// a real `minipot api` and a real agent, and checks what each did: the
// documentation cannot rot.
// TestAPIDocExamples runs every example of docs/api.md exactly as written,
// on the router's paths it names: in a network namespace where the API
// listens on 127.0.0.1:8377, and a private mount namespace where
// /var/run/minipot-api.sock is its socket and /etc/minipot/api.token its
// token.
func TestAPIDocExamples(t *testing.T) {
	need(t, "curl")
	bash := need(t, "bash")
	needRoot(t)
	a := startAgent(t, map[string]string{"fakes.log_credentials": "0"})
	ns := fmt.Sprintf("%s%dapi", nsPrefix, os.Getpid())
	addNamespace(t, ns)
	p := startAPIIn(t, a, ns, "127.0.0.1:8377")
	etc := t.TempDir()
	if err := os.Mkdir(filepath.Join(etc, "minipot"), 0o755); err != nil {
		t.Fatal(err)
	}
	token, _ := os.ReadFile(p.TokenFile)
	if err := os.WriteFile(filepath.Join(etc, "minipot/api.token"), token, 0o600); err != nil {
		t.Fatal(err)
	}
	const router = `set -e
mount -t tmpfs -o mode=0755 tmpfs /run
: >/run/minipot-api.sock
mount --bind "$SOCK" /run/minipot-api.sock
mount -t overlay overlay -o "lowerdir=$ETC:/etc" /etc
exec "$BASH_BIN" -e -c "$SCRIPT"
`
	if fi, err := os.Stat(p.Socket); err != nil || fi.Mode().Perm() != 0o660 {
		t.Errorf("socket mode: %v %v", fi.Mode(), err)
	}
	file := func() string {
		data, err := os.ReadFile(filepath.Join(a.Dir, "ucollect"))
		if err != nil {
			t.Fatal(err)
		}
		return string(data)
	}
	type check struct {
		before func()
		after  func(out string)
	}
	has := func(out string, parts ...string) {
		t.Helper()
		for _, s := range parts {
			if !strings.Contains(out, s) {
				t.Errorf("output lacks %q:\n%s", s, out)
			}
		}
	}
	applied := func(out string) {
		t.Helper()
		has(out, `"changed": true`, `"written": true`)
		var res struct {
			Applied struct {
				Agent struct{ Running, Applied bool }
			}
		}
		if err := json.Unmarshal([]byte(out), &res); err != nil || !res.Applied.Agent.Running || !res.Applied.Agent.Applied {
			t.Errorf("the agent did not apply the change: %v\n%s", err, out)
		}
	}
	checks := map[string]check{
		"read-settings": {after: func(out string) { has(out, `"enabled": true`, `"2323tcp": {`, `"idle_timeout": "1m"`) }},
		"switch-off": {after: func(out string) {
			applied(out)
			has(file(), "option enabled '0'")
			if listens(a.Addr("23tcp")) {
				t.Error("the telnet minipot still listens after switching off")
			}
		}},
		"switch-on": {after: func(out string) {
			applied(out)
			if !listens(a.Addr("23tcp")) {
				t.Error("the telnet minipot does not listen after switching on")
			}
		}},
		"credentials-on": {after: func(out string) { applied(out); has(file(), "option log_credentials '1'") }},
		"disable-2323": {after: func(out string) {
			applied(out)
			has(file(), "list disable '2323tcp'")
			if listens(a.Addr("2323tcp")) || !listens(a.Addr("23tcp")) {
				t.Error("2323tcp still listens, or 23tcp stopped")
			}
		}},
		"if-match": {after: func(out string) { applied(out); has(file(), "option hostname 'turris'") }},
		"apply-file": {
			before: func() {
				a.UCI("set", "ucollect.agent.hostname=omnia")
				a.UCI("commit", "ucollect")
			},
			after: func(out string) {
				has(out, `"changed": false`)
				var st struct {
					Agent struct {
						InSync bool `json:"in_sync"`
					}
				}
				p.get(t, "/api/v1/status", &st)
				if !st.Agent.InSync {
					t.Errorf("the agent does not run the file after /settings/apply")
				}
			}},
		"status": {after: func(out string) {
			has(out, `"running": true`, `"in_sync": true`, `"listening": true`, `"reason": "disabled"`)
		}},
		"attacker-events": {
			before: func() {
				// An attacker logs in to the HTTP minipot.
				req, _ := http.NewRequest("GET", "http://"+a.Addr("80tcp")+"/cgi-bin/luci", nil)
				req.SetBasicAuth("admin", "hunter2")
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				eventually(t, 10*time.Second, "the login is stored", func() (bool, string) {
					var page struct{ Events []struct{ Password string } }
					p.get(t, "/api/v1/events?action=login", &page)
					return len(page.Events) > 0, fmt.Sprint(page)
				})
			},
			after: func(out string) { has(out, `"action": "login"`, `"password": "hunter2"`, `"url": "/cgi-bin/luci"`) }},
		"todays-attackers": {after: func(out string) { has(out, `"sources": [`, `"value": "hunter2"`, `"count": 1`) }},
		"purge-credentials": {after: func(out string) {
			has(out, `"purged": true`)
			var page struct{ Events []struct{ Password string } }
			p.get(t, "/api/v1/events?action=login", &page)
			for _, e := range page.Events {
				if e.Password != "" {
					t.Errorf("a password is left after the purge")
				}
			}
		}},
		"health-over-tcp": {after: func(out string) { has(out, `"status": "ok"`) }},
	}
	examples := docExamples(t)
	seen := map[string]bool{}
	for _, ex := range examples {
		seen[ex.name] = true
		c, ok := checks[ex.name]
		if !ok {
			t.Errorf("docs/api.md example %q has no check in this test", ex.name)
			continue
		}
		if c.before != nil {
			c.before()
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		cmd := exec.CommandContext(ctx, "ip", "netns", "exec", ns, "unshare", "-m", "--propagation", "private", "sh", "-c", router)
		cmd.Env = append(os.Environ(), "SOCK="+p.Socket, "ETC="+etc, "BASH_BIN="+bash, "SCRIPT="+ex.script)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		cancel()
		if err != nil {
			t.Errorf("example %s failed: %v\n%s\n%s%s", ex.name, err, ex.script, out, stderr.String())
			continue
		}
		t.Run(ex.name, func(t *testing.T) { c.after(string(out)) })
	}
	for name := range checks {
		if !seen[name] {
			t.Errorf("docs/api.md has no example %q any more", name)
		}
	}
}

// TestAPIRefusesWhatItShould: over real sockets, with the real binary:
// TCP without the token, a foreign Host, a change without a JSON content
// type, and a second API on the same socket.
func TestAPIRefusesWhatItShould(t *testing.T) {
	a := startAgent(t, nil)
	p := startAPI(t, a)
	for _, tc := range []struct {
		name   string
		req    func() *http.Request
		client *http.Client
		status int
	}{
		{"tcp without token", func() *http.Request {
			r, _ := http.NewRequest("GET", "http://"+p.Addr+"/api/v1/settings", nil)
			return r
		}, http.DefaultClient, 401},
		{"foreign Host", func() *http.Request {
			r, _ := http.NewRequest("GET", "http://localhost/api/v1/settings", nil)
			r.Host = "minipot.attacker.example"
			return r
		}, p.client, 403},
		{"form post", func() *http.Request {
			r, _ := http.NewRequest("PATCH", "http://localhost/api/v1/settings", strings.NewReader(`{"enabled":false}`))
			r.Header.Set("Content-Type", "text/plain")
			return r
		}, p.client, 415},
	} {
		resp, err := tc.client.Do(tc.req())
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.status {
			t.Errorf("%s: %d, want %d", tc.name, resp.StatusCode, tc.status)
		}
	}
	out, err := exec.Command(minipotBin, "api", "-c", a.Dir, "--socket", p.Socket).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "in use") {
		t.Errorf("a second API on the same socket: %v %s", err, out)
	}
	out, err = exec.Command(minipotBin, "api", "-c", a.Dir, "--socket", p.Socket+"2", "--listen", "0.0.0.0:8377", "--token-file", p.TokenFile).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "loopback") {
		t.Errorf("--listen on all addresses: %v %s", err, out)
	}
	os.Chmod(p.TokenFile, 0o644)
	out, err = exec.Command(minipotBin, "api", "-c", a.Dir, "--socket", p.Socket+"3", "--listen", "127.0.0.1:0", "--token-file", p.TokenFile).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "read by others") {
		t.Errorf("a token file others can read: %v %s", err, out)
	}
}

// TestAPIListenFromSettings: a router owner opens the API's page with uci
// alone (api.listen), no init-script edit: `minipot api` as the init
// script starts it listens there, creates the token file (mode 0600) it
// names, and asks for that token; an invalid api.listen is refused by the
// API and named in /status, and TCP stays closed.
func TestAPIListenFromSettings(t *testing.T) {
	a := startAgent(t, nil)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	tokenFile := filepath.Join(t.TempDir(), "minipot", "api.token")
	a.UCI("set", "ucollect.api=api")
	a.UCI("set", "ucollect.api.listen="+addr)
	a.UCI("set", "ucollect.api.token_file="+tokenFile)
	a.UCI("commit", "ucollect")
	sock := filepath.Join(t.TempDir(), "api.sock")
	start := func() (*exec.Cmd, *syncBuffer) {
		out := &syncBuffer{}
		cmd := exec.Command(minipotBin, "api", "-c", a.Dir, "--run-dir", filepath.Join(a.Dir, "run"), "--socket", sock)
		cmd.Stdout, cmd.Stderr = out, out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
		return cmd, out
	}
	cmd, out := start()
	var token []byte
	eventually(t, 10*time.Second, "the API creates the token file", func() (bool, string) {
		token, err = os.ReadFile(tokenFile)
		return err == nil && len(bytes.TrimSpace(token)) >= 32, out.String()
	})
	if fi, err := os.Stat(tokenFile); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("token file mode: %v, %v", fi.Mode(), err)
	}
	get := func(tok string) (int, error) {
		req, _ := http.NewRequest("GET", "http://"+addr+"/api/v1/health", nil)
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, err
		}
		resp.Body.Close()
		return resp.StatusCode, nil
	}
	eventually(t, 10*time.Second, "the API answers on api.listen with the token", func() (bool, string) {
		code, err := get(string(bytes.TrimSpace(token)))
		return err == nil && code == 200, fmt.Sprint(code, err, out.String())
	})
	if code, err := get(""); err != nil || code != 401 {
		t.Errorf("without the token: %d, %v; want 401", code, err)
	}
	cmd.Process.Kill()
	cmd.Wait()

	// Not a loopback address: refused, named, and no TCP at all.
	a.UCI("set", "ucollect.api.listen=0.0.0.0:"+strings.Split(addr, ":")[1])
	a.UCI("commit", "ucollect")
	_, out = start()
	client := unixClient(sock, 5*time.Second)
	eventually(t, 10*time.Second, "/status names api.listen", func() (bool, string) {
		resp, err := client.Get("http://localhost/api/v1/status")
		if err != nil {
			return false, err.Error() + out.String()
		}
		defer resp.Body.Close()
		var st struct {
			Settings struct{ Errors []settings.FieldError }
		}
		json.NewDecoder(resp.Body).Decode(&st)
		return slices.ContainsFunc(st.Settings.Errors, func(e settings.FieldError) bool {
			return e.Field == "api.listen" && strings.Contains(e.Message, "loopback")
		}), fmt.Sprintf("%+v", st.Settings.Errors)
	})
	if _, err := get(string(bytes.TrimSpace(token))); err == nil {
		t.Error("the API listens on TCP although api.listen is not a loopback address")
	}
}

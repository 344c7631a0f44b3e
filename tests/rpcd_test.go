package tests

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/minipot/minipot/internal/rpcd"
)

// rpcdCall runs the plugin the way rpcd does: `PLUGIN call METHOD`, the
// arguments as JSON on stdin, and reads exactly one JSON object from
// stdout. It returns that object (decoded) and the exit status.
func rpcdCall(t *testing.T, plugin string, p *apiProc, method, input string) (map[string]any, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, plugin, "call", method)
	cmd.Env = append(os.Environ(), "MINIPOT_API_SOCKET="+p.Socket)
	cmd.Stdin = strings.NewReader(input)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("call %s: %v", method, err)
	}
	return oneObject(t, "call "+method, stdout.Bytes(), stderr.String()), code
}

// oneObject decodes stdout as rpcd does: one JSON object, nothing after it.
func oneObject(t *testing.T, what string, stdout []byte, stderr string) map[string]any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(stdout))
	var obj map[string]any
	if err := dec.Decode(&obj); err != nil || obj == nil {
		t.Fatalf("%s: stdout is not one JSON object: %v\n%s\nstderr: %s", what, err, stdout, stderr)
	}
	if rest, _ := io.ReadAll(dec.Buffered()); len(bytes.TrimSpace(rest)) > 0 {
		t.Fatalf("%s: more than one object on stdout: %s", what, stdout)
	}
	return obj
}

// rpcdList runs `PLUGIN list` with stdin and stderr on /dev/null, as rpcd
// does when it starts.
func rpcdList(t *testing.T, plugin string, args ...string) map[string]any {
	t.Helper()
	cmd := exec.Command(plugin, append(args, "list")...)
	out, err := cmd.Output() // stdin: /dev/null
	if err != nil {
		t.Fatalf("%s list: %v", plugin, err)
	}
	return oneObject(t, "list", out, "")
}

// dig follows a path of keys through decoded JSON.
func dig(v any, path ...string) any {
	for _, k := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

// TestRPCDPlugin runs the plugin through rpcd's protocol against a real
// `minipot api` and agent, for every method, and checks what each did.
func TestRPCDPlugin(t *testing.T) {
	a := startAgent(t, map[string]string{"fakes.log_credentials": "1"})
	p := startAPI(t, a)
	// rpcd runs /usr/libexec/rpcd/minipot, a symlink to the binary: run it
	// through a symlink of that name too.
	link := filepath.Join(t.TempDir(), "minipot")
	if err := os.Symlink(minipotBin, link); err != nil {
		t.Fatal(err)
	}

	t.Run("list", func(t *testing.T) {
		types := map[string]map[string]string{
			"get_settings": {}, "apply": {}, "status": {}, "version": {},
			"set_settings": {"settings": "object", "etag": "string"},
			"events": {"service": "string", "src_ip": "string", "action": "string", "since": "string",
				"until": "string", "cursor": "string", "limit": "int32"},
			"stats": {"since": "string", "until": "string", "top": "int32"},
			"purge": {"scope": "string"},
		}
		for _, how := range []struct {
			plugin string
			args   []string
		}{{link, nil}, {minipotBin, []string{"rpcd"}}} {
			got := rpcdList(t, how.plugin, how.args...)
			if len(got) != len(types) {
				t.Errorf("%s: %d methods, want %d: %v", how.plugin, len(got), len(types), got)
			}
			for m, args := range types {
				sig, ok := got[m].(map[string]any)
				if !ok || len(sig) != len(args) {
					t.Errorf("method %s: %v, want %v", m, got[m], args)
					continue
				}
				for name, typ := range args {
					var gotType string
					switch v := sig[name].(type) {
					case string:
						gotType = "string"
					case float64:
						if v == 0 { // 8, 16 and 64 would select other widths
							gotType = "int32"
						}
					case map[string]any:
						gotType = "object"
					}
					if gotType != typ {
						t.Errorf("%s.%s declared as %#v, want %s", m, name, sig[name], typ)
					}
				}
			}
		}
	})

	var etag string
	t.Run("get_settings", func(t *testing.T) {
		got, code := rpcdCall(t, link, p, "get_settings", "{}")
		etag, _ = got["etag"].(string)
		if code != 0 || got["enabled"] != true || etag == "" || dig(got, "services", "2323tcp", "enabled") != true {
			t.Fatalf("exit %d: %v", code, got)
		}
	})

	t.Run("set_settings", func(t *testing.T) {
		in := `{"settings": {"services": {"2323tcp": {"enabled": false}, "22tcp": {"enabled": false}}}, "etag": ` + jsonString(etag) + `}`
		got, code := rpcdCall(t, link, p, "set_settings", in)
		if code != 0 || got["changed"] != true || dig(got, "applied", "agent", "applied") != true {
			t.Fatalf("exit %d: %v", code, got)
		}
		data, err := os.ReadFile(filepath.Join(a.Dir, "ucollect"))
		if err != nil || !strings.Contains(string(data), "list disable '2323tcp'") || !strings.Contains(string(data), "list disable '22tcp'") {
			t.Errorf("the UCI file does not disable 2323tcp and 22tcp: %v\n%s", err, data)
		}
		if listens(a.Addr("2323tcp")) || listens(a.Addr("22tcp")) || !listens(a.Addr("23tcp")) || !listens(a.Addr("21tcp")) {
			t.Error("2323tcp or 22tcp still listens, or 23tcp or 21tcp stopped")
		}
	})

	t.Run("stale etag", func(t *testing.T) {
		if etag == "" {
			t.Fatal("needs the etag of get_settings")
		}
		// etag is from before set_settings: the file changed since.
		got, code := rpcdCall(t, link, p, "set_settings", `{"settings": {"enabled": false}, "etag": `+jsonString(etag)+`}`)
		t.Logf("→ %s", jsonString(got))
		msg, _ := got["error"].(string)
		if code == 0 || got["http_status"] != 412.0 || !strings.Contains(msg, "changed since you read them") {
			t.Errorf("exit %d: %v", code, got)
		}
		if !listens(a.Addr("23tcp")) {
			t.Error("a refused update switched the minipots off")
		}
	})

	t.Run("bad arguments", func(t *testing.T) {
		for _, tc := range []struct {
			method, input, field string
			status               float64 // 0: refused by the plugin itself
		}{
			{"set_settings", `{"settings": {"redir_offset": "many"}}`, "fakes.redir_offset", 400},
			{"set_settings", `{"settings": "enabled=0"}`, "settings", 0},
			{"set_settings", `{}`, "settings", 0},
			{"events", `{"limit": "lots"}`, "limit", 0},
			{"events", `{"limit": 5000}`, "limit", 400},
			{"stats", `{"since": "the dawn of time"}`, "since", 400},
			{"purge", `{"scope": "everything"}`, "", 400},
			{"status", `{"verbose": true}`, "verbose", 0},
		} {
			got, code := rpcdCall(t, minipotBin, p, tc.method, tc.input)
			t.Logf("%s %s → %s", tc.method, tc.input, jsonString(got))
			status, _ := got["http_status"].(float64)
			if code == 0 || got["error"] == nil || status != tc.status {
				t.Errorf("%s %s: exit %d: %v", tc.method, tc.input, code, got)
				continue
			}
			if tc.field != "" && !strings.Contains(jsonString(got["fields"]), `"field":"`+tc.field+`"`) {
				t.Errorf("%s %s: no field error for %s: %v", tc.method, tc.input, tc.field, got)
			}
		}
	})

	t.Run("events", func(t *testing.T) {
		req, _ := http.NewRequest("GET", "http://"+a.Addr("80tcp")+"/cgi-bin/luci", nil)
		req.SetBasicAuth("admin", "hunter2")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		var got map[string]any
		eventually(t, 10*time.Second, "the login is listed", func() (bool, string) {
			var code int
			got, code = rpcdCall(t, link, p, "events", `{"action": "login", "service": "80tcp", "since": "today", "limit": 20, "src_ip": ""}`)
			evs, _ := got["events"].([]any)
			return code == 0 && len(evs) == 1, jsonString(got)
		})
		if e := dig(got, "events").([]any)[0]; dig(e, "password") != "hunter2" || dig(e, "url") != "/cgi-bin/luci" {
			t.Errorf("event: %v", e)
		}
	})

	t.Run("stats", func(t *testing.T) {
		got, code := rpcdCall(t, link, p, "stats", `{"since": "today", "top": 5}`)
		if code != 0 || !strings.Contains(jsonString(dig(got, "top")), `"hunter2"`) {
			t.Errorf("exit %d: %v", code, got)
		}
	})

	t.Run("purge", func(t *testing.T) {
		got, code := rpcdCall(t, link, p, "purge", `{"scope": "credentials"}`)
		if code != 0 || got["purged"] != true {
			t.Fatalf("exit %d: %v", code, got)
		}
		got, _ = rpcdCall(t, link, p, "events", `{"action": "login"}`)
		if strings.Contains(jsonString(got), "hunter2") {
			t.Errorf("a password is left after the purge: %v", got)
		}
	})

	t.Run("status", func(t *testing.T) {
		got, code := rpcdCall(t, link, p, "status", `{"ubus_rpc_session": "00000000000000000000000000000000"}`)
		if code != 0 || dig(got, "agent", "running") != true || dig(got, "agent", "in_sync") != true {
			t.Errorf("exit %d: %v", code, got)
		}
		// Each service's state passes through as the API computed it:
		// this agent listens on loopback, where no redirect arrives.
		svcs, _ := got["services"].([]any)
		if len(svcs) == 0 {
			t.Fatalf("no services: %v", got)
		}
		first := svcs[0]
		fams, _ := dig(first, "state", "families").([]any)
		if dig(first, "key") != "23tcp" || dig(first, "state", "code") != "unreachable" ||
			dig(first, "state", "reason") != "fake_wrong_address" || len(fams) != 2 ||
			!strings.Contains(fmt.Sprint(dig(first, "state", "text")), "loopback") {
			t.Errorf("23tcp over ubus: %v", first)
		}
	})

	t.Run("apply and version", func(t *testing.T) {
		a.UCI("set", "ucollect.agent.hostname=omnia")
		a.UCI("commit", "ucollect")
		got, code := rpcdCall(t, link, p, "apply", "")
		if code != 0 || got["changed"] != false || dig(got, "applied", "agent", "applied") != true {
			t.Errorf("apply: exit %d: %v", code, got)
		}
		got, code = rpcdCall(t, link, p, "version", "{}")
		if code != 0 || got["version"] == nil {
			t.Errorf("version: exit %d: %v", code, got)
		}
	})

	t.Run("stdin left open", func(t *testing.T) {
		// The plugin reads one JSON object, not up to EOF.
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, link, "call", "version")
		cmd.Env = append(os.Environ(), "MINIPOT_API_SOCKET="+p.Socket)
		w, err := cmd.StdinPipe()
		if err != nil {
			t.Fatal(err)
		}
		defer w.Close()
		var stdout bytes.Buffer
		cmd.Stdout = &stdout
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		io.WriteString(w, "{}")
		if err := cmd.Wait(); err != nil {
			t.Fatalf("%v (killed: did it wait for EOF?)", err)
		}
		oneObject(t, "version", stdout.Bytes(), "")
	})
}

// TestRPCDWithoutAPI: the API is down; the caller still gets a message.
func TestRPCDWithoutAPI(t *testing.T) {
	p := &apiProc{Socket: filepath.Join(t.TempDir(), "absent.sock")}
	got, code := rpcdCall(t, minipotBin, p, "status", "{}")
	if msg, _ := got["error"].(string); code == 0 || !strings.Contains(msg, "is `minipot api` running?") {
		t.Errorf("exit %d: %v", code, got)
	}
}

func jsonString(v any) string {
	data, _ := json.Marshal(v)
	return string(data)
}

// TestRPCDUnderOpenWrt runs the plugin as OpenWrt does: installed by the
// package, listed and called by OpenWrt's real rpcd through ubusd, with
// rpcd's sessions and luci-app-minipot's ACL deciding who may call what.
func TestRPCDUnderOpenWrt(t *testing.T) {
	a := startAgent(t, map[string]string{"fakes.log_credentials": "1"})
	p := startAPI(t, a)
	u := startOpenWrtUbus(t, owUbusOpts{apiSocket: p.Socket})
	admin, viewer := u.login("admin"), u.login("viewer")

	t.Run("methods and types", func(t *testing.T) {
		out, err := u.ubus("-v", "list", "minipot")
		if err != nil {
			t.Fatalf("%v %s", err, out)
		}
		for _, want := range []string{`"events":{"action":"String","cursor":"String","limit":"Integer"`,
			`"set_settings":{"etag":"String","settings":"Table"}`, `"stats":{"since":"String","top":"Integer","until":"String"}`,
			`"get_settings":{}`, `"apply":{}`, `"status":{}`, `"version":{}`, `"purge":{"scope":"String"}`} {
			if !strings.Contains(out, want) {
				t.Errorf("ubus -v list minipot lacks %s:\n%s", want, out)
			}
		}
	})

	t.Run("ACL", func(t *testing.T) {
		for _, tc := range []struct {
			sid, method string
			args        map[string]any
			want        int
		}{
			{admin, "status", nil, ubusOK},
			{viewer, "status", nil, ubusOK},
			{viewer, "events", map[string]any{"limit": 1}, ubusOK},
			{viewer, "set_settings", map[string]any{"settings": map[string]any{"enabled": false}}, ubusPermissionDenied},
			{viewer, "purge", map[string]any{"scope": "all"}, ubusPermissionDenied},
			{viewer, "apply", nil, ubusPermissionDenied},
			{"00000000000000000000000000000000", "status", nil, ubusPermissionDenied},
		} {
			if got, reply := u.call(tc.sid, "minipot", tc.method, tc.args); got != tc.want {
				t.Errorf("%s as %s: status %d, want %d: %v", tc.method, tc.sid, got, tc.want, reply)
			}
		}
		if !listens(a.Addr("23tcp")) {
			t.Error("a refused write switched the minipots off")
		}
	})

	t.Run("set_settings", func(t *testing.T) {
		_, got := u.call(admin, "minipot", "get_settings", nil)
		etag, _ := got["etag"].(string)
		st, got := u.call(admin, "minipot", "set_settings", map[string]any{
			"settings": map[string]any{"services": map[string]any{"2323tcp": map[string]any{"enabled": false}}}, "etag": etag})
		if st != ubusOK || got["changed"] != true {
			t.Fatalf("status %d: %v", st, got)
		}
		if listens(a.Addr("2323tcp")) {
			t.Error("2323tcp still listens")
		}
		// The same etag again: stale, with the API's status.
		_, got = u.call(admin, "minipot", "set_settings", map[string]any{"settings": map[string]any{"enabled": false}, "etag": etag})
		if got["http_status"] != 412.0 || got["error"] == nil {
			t.Errorf("stale etag: %v", got)
		}
	})

	// What attackers send: a NUL byte in a password (HTTP Basic carries
	// any byte), and markup. Each request has its own URL so that none
	// is folded into a repeat of another.
	const page = 100 // the events method's default limit
	nul := "pa\x00ss<wd>"
	markup := func(n int) string { return strings.Repeat("<", n) } // under the agent's bound of each field
	for i := 0; i < page; i++ {
		pass := markup(250)
		if i == 0 {
			pass = nul
		}
		rawHTTP(t, a.Addr("80tcp"), "GET /"+strconv.Itoa(i)+markup(1000)+" HTTP/1.1\r\nHost: "+markup(250)+"\r\nUser-Agent: "+markup(500)+
			"\r\nAuthorization: Basic "+base64.StdEncoding.EncodeToString([]byte(markup(250)+":"+pass))+"\r\n\r\n")
	}
	eventually(t, 10*time.Second, "the attempts are stored", func() (bool, string) {
		_, got := u.call(admin, "minipot", "events", map[string]any{"action": "login", "limit": 1000})
		evs, _ := got["events"].([]any)
		return len(evs) >= page, jsonString(got)[:min(300, len(jsonString(got)))]
	})

	t.Run("NUL byte", func(t *testing.T) {
		_, got := u.call(admin, "minipot", "events", map[string]any{"action": "login", "limit": 1000})
		found := false
		for _, e := range got["events"].([]any) {
			pw := dig(e, "password")
			if s, ok := pw.(string); ok && strings.HasPrefix(s, "pa") {
				t.Errorf("the password came through as the string %q: cut at its NUL", s)
			}
			if m, ok := pw.(map[string]any); ok {
				b, err := base64.StdEncoding.DecodeString(m["base64"].(string))
				if err != nil || string(b) != nul {
					t.Errorf("password %v decodes to %q (%v), want %q", pw, b, err, nul)
				}
				found = true
			}
		}
		if !found {
			t.Error("no event with the password as {\"base64\": ...}")
		}
	})

	t.Run("default page of markup", func(t *testing.T) {
		// The API's JSON is far over the 768 KiB the plugin once refused
		// at; as a ubus message it is a fraction of it.
		resp, err := p.client.Get("http://localhost/api/v1/events?action=login")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if len(body) < 768<<10 {
			t.Fatalf("the API's page is only %d bytes: the test needs more markup", len(body))
		}
		st, got := u.call(admin, "minipot", "events", map[string]any{"action": "login"})
		evs, _ := got["events"].([]any)
		if st != ubusOK || len(evs) != page || got["error"] != nil {
			t.Fatalf("status %d, %d events: %.300s", st, len(evs), jsonString(got))
		}
		t.Logf("the API's JSON: %d bytes", len(body))
	})

	t.Run("request too large", func(t *testing.T) {
		st, got := u.call(admin, "minipot", "events", map[string]any{"service": strings.Repeat("x", 70000)})
		msg, _ := got["error"].(string)
		if st != ubusOK || !strings.Contains(msg, "request too large") || got["http_status"] != nil {
			t.Errorf("status %d: %.300s", st, jsonString(got))
		}
	})
}

// TestRPCDReplyAtTheLimit: the largest reply the plugin lets through
// (rpcd.MaxBlob bytes as blobmsg) does pass through OpenWrt's rpcd and
// ubusd, whole; one byte more is refused by the plugin with a message.
// An API stand-in answers, as only its size matters here.
func TestRPCDReplyAtTheLimit(t *testing.T) {
	var n atomic.Int64
	sock := filepath.Join(t.TempDir(), "api.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"a":"`+strings.Repeat("x", int(n.Load()))+`"}`)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	u := startOpenWrtUbus(t, owUbusOpts{apiSocket: sock})
	sid := u.login("admin")
	// "a" takes a 4-byte attribute header, 4 bytes of name, and the
	// string with its NUL, padded to 4.
	fits := rpcd.MaxBlob - 8 - 1
	n.Store(int64(fits))
	st, got := u.call(sid, "minipot", "status", nil)
	if a, _ := got["a"].(string); st != ubusOK || len(a) != fits {
		t.Errorf("a reply of rpcd.MaxBlob bytes: status %d, %d bytes came, want %d: %.200v", st, len(a), fits, got["error"])
	}
	n.Store(int64(fits + 1))
	st, got = u.call(sid, "minipot", "status", nil)
	if msg, _ := got["error"].(string); st != ubusOK || !strings.Contains(msg, "too large") || got["http_status"] != nil {
		t.Errorf("one byte over: status %d: %.300s", st, jsonString(got))
	}
}

// TestRPCDPluginInstalledLater: rpcd lists a plugin's methods when it
// starts or reloads; the package's postinst reloads it, so that the ubus
// object exists right after the install.
func TestRPCDPluginInstalledLater(t *testing.T) {
	a := startAgent(t, nil)
	p := startAPI(t, a)
	u := startOpenWrtUbus(t, owUbusOpts{apiSocket: p.Socket, noPlugin: true})
	if out, err := u.ubus("list", "minipot"); err == nil {
		t.Fatalf("minipot is listed before the plugin is installed: %s", out)
	}
	if err := os.Symlink("/usr/bin/minipot", filepath.Join(u.root, "usr/libexec/rpcd/minipot")); err != nil {
		t.Fatal(err)
	}
	if out, err := u.ubus("list", "minipot"); err == nil {
		t.Fatalf("rpcd lists a plugin installed after it started without a reload (%s): the test proves nothing", out)
	}
	_, scripts := owBuild(t, need(t, "make"), true)
	// The postinst as opkg and apk run it on the router (not in an image
	// build: no IPKG_INSTROOT), in rpcd's namespace, where /etc/init.d/rpcd
	// reload sends rpcd SIGHUP as procd does.
	if out, err := u.inNS("sh", filepath.Join(scripts, "postinst")); err != nil {
		t.Fatalf("postinst: %v\n%s", err, out)
	}
	eventually(t, 10*time.Second, "minipot is listed after the postinst", func() (bool, string) {
		out, err := u.ubus("list", "minipot")
		return err == nil, out
	})
	sid := u.login("admin")
	if st, got := u.call(sid, "minipot", "version", nil); st != ubusOK || got["version"] == nil {
		t.Errorf("version: status %d: %v", st, got)
	}
}

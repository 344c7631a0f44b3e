package tests

import (
	"archive/tar"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
)

// LuCI's real client-side runtime (../shared/luci/luci-runtime.tar.gz:
// luci-base's htdocs and the bootstrap theme) in front of OpenWrt's real
// ubusd and rpcd (startOpenWrtUbus). The Go server here plays the parts
// of a router's uhttpd and LuCI's ucode dispatcher that the runtime talks
// to, and nothing more:
//
//   - /luci-static/: luci-app-minipot's htdocs over the runtime's files;
//   - the boot page of a view, with the environment luci-base's
//     template/header.ut gives `new LuCI({...})` and the markup of the
//     bootstrap theme's header and footer, then view.ut's
//     ui.instantiateView();
//   - admin/menu: the page tree built from the real menu.d files (luci-base's
//     and luci-app-minipot's) with the session's ACLs applied as the
//     dispatcher's menu_json does; admin/translations: an empty catalogue
//     (the app ships no translation yet);
//   - /ubus/: uhttpd's ubus handler: JSON-RPC 2.0 "call" [sid, object,
//     method, args], checked with rpcd's `session access` (scope ubus) and
//     forwarded with ubus_rpc_session added, through OpenWrt's `ubus` tool;
//     "list" too, which luci.js probes the endpoint with.
//
// The logins are rpcd's own (`session login` with the test's
// /etc/config/rpcd): "luci-admin" with luci-app-minipot's ACL and
// "luci-viewer" with its read half, both with luci-base's groups, which
// every LuCI login has.

// In the worktree's ../shared.
const (
	luciRuntimeTar = "../../shared/luci/luci-runtime.tar.gz"
	rpcdSourceTar  = "../../shared/openwrt/src/rpcd.tar.gz"
)

// luciSite is one LuCI front end on one ubusd and rpcd.
type luciSite struct {
	t   *testing.T
	u   *owUbus
	URL string
	www string // the runtime's www/

	menu map[string]map[string]any // menu.d specs by path

	mu     sync.Mutex // serialises the ubus calls: see forward
	sids   map[string]string
	calls  []string // object.method of every call a page made
	denied []string // those rpcd's ACL refused
}

// luciOpts: what the site runs on.
type luciOpts struct {
	apiSocket string // the API behind the rpcd plugin
}

// startLuCI unpacks the runtime, starts ubusd and rpcd with the packages
// and luci-base's ACL installed, and serves the site.
func startLuCI(t *testing.T, o luciOpts) *luciSite {
	t.Helper()
	if _, err := os.Stat(luciRuntimeTar); err != nil {
		if inCI() {
			t.Fatalf("LuCI's runtime is required (CI=true): %v", err)
		}
		t.Skipf("needs LuCI's runtime in ../shared/luci: %v", err)
	}
	dir := t.TempDir()
	if err := untarGz(luciRuntimeTar, dir, ""); err != nil {
		t.Fatalf("unpack %s: %v", luciRuntimeTar, err)
	}
	// rpcd's own ACL (the rpcd package installs it): every session may
	// ask `session access`, which LuCI does when a call is refused.
	rpcdDir := filepath.Join(dir, "rpcd-src")
	if err := untarGz(rpcdSourceTar, rpcdDir, "rpcd/unauthenticated.json"); err != nil {
		t.Fatalf("unpack %s: %v", rpcdSourceTar, err)
	}
	ref := filepath.Join(dir, "ref/luci-base/root/usr/share")
	u := startOpenWrtUbus(t, owUbusOpts{apiSocket: o.apiSocket,
		extraACLs: []string{filepath.Join(ref, "rpcd/acl.d/luci-base.json"), filepath.Join(rpcdDir, "rpcd/unauthenticated.json")},
		// luci-base's /etc/config/luci, which LuCI's form class reads.
		configs: map[string]string{"luci": readFile(t, filepath.Join(dir, "ref/luci-base/root/etc/config/luci"))}})
	s := &luciSite{t: t, u: u, www: filepath.Join(dir, "www"), sids: map[string]string{}, menu: map[string]map[string]any{}}
	for _, f := range []string{filepath.Join(ref, "luci/menu.d/luci-base.json"), luciMenu} {
		var m map[string]map[string]any
		if err := json.Unmarshal([]byte(readFile(t, f)), &m); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for k, v := range m {
			s.menu[k] = v
		}
	}
	for _, user := range []string{"luci-admin", "luci-viewer"} {
		s.sids[user] = u.login(user)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/luci-static/", s.static)
	mux.HandleFunc("/ubus/", s.ubusHandler)
	mux.HandleFunc("/cgi-bin/luci/", s.dispatch)
	mux.HandleFunc("/favicon.ico", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	s.URL = srv.URL
	return s
}

// untarGz unpacks a .tar.gz into dir (regular files and folders only;
// only the one named if only is not "").
func untarGz(file, dir, only string) error {
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		return err
	}
	tr := tar.NewReader(gz)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		name := filepath.Clean(h.Name)
		if name == "." || strings.HasPrefix(name, "..") || filepath.IsAbs(name) || only != "" && name != only {
			continue
		}
		target := filepath.Join(dir, name)
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(target, 0o755); err != nil {
				return err
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
				return err
			}
			out, err := os.Create(target)
			if err != nil {
				return err
			}
			_, err = io.Copy(out, io.LimitReader(tr, 16<<20))
			out.Close()
			if err != nil {
				return err
			}
		}
	}
}

// page is the URL of a menu path (e.g. "admin/services/minipot/reports").
func (s *luciSite) page(p string) string { return s.URL + "/cgi-bin/luci/" + p }

// open logs the browser in as user (rpcd's session, in LuCI's cookie) and
// opens the menu path.
func (s *luciSite) open(b *browser, user, p string) {
	b.t.Helper()
	b.navigate(s.URL + "/cgi-bin/luci/login?user=" + user + "&next=" + p)
}

// session returns the rpcd session of a login (opened at the start).
func (s *luciSite) session(user string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sids[user]
}

func (s *luciSite) static(w http.ResponseWriter, r *http.Request) {
	rel := path.Clean(r.URL.Path)
	for _, root := range []string{"../luci-app/htdocs", s.www} {
		f := filepath.Join(root, filepath.FromSlash(rel))
		if st, err := os.Stat(f); err == nil && !st.IsDir() {
			http.ServeFile(w, r, f)
			return
		}
	}
	http.NotFound(w, r)
}

// acls is what rpcd's `session access` answers for a session without a
// scope: every group, object and function it grants.
func (s *luciSite) acls(sid string) (map[string]map[string][]string, error) {
	out, err := s.u.ubus("call", "session", "access", jsonString(map[string]string{"ubus_rpc_session": sid}))
	if err != nil {
		return nil, fmt.Errorf("session access: %v %s", err, out)
	}
	var acl map[string]map[string][]string
	if err := json.Unmarshal([]byte(out), &acl); err != nil {
		return nil, fmt.Errorf("session access: %v %s", err, out)
	}
	return acl, nil
}

// aclPerm is the dispatcher's check_acl_depends: nil when a group is not
// granted at all, else whether one of them is granted for writing.
func aclPerm(groups []string, acl map[string]map[string][]string) *bool {
	writable := false
	for _, g := range groups {
		grant := acl["access-group"][g]
		if len(grant) == 0 {
			return nil
		}
		for _, p := range grant {
			if p == "write" {
				writable = true
			}
		}
	}
	return &writable
}

func depends(spec map[string]any) []string {
	d, _ := spec["depends"].(map[string]any)
	l, _ := d["acl"].([]any)
	var out []string
	for _, a := range l {
		if s, ok := a.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

// tree is the dispatcher's menu_json for a session's ACLs.
func (s *luciSite) tree(acl map[string]map[string][]string) map[string]any {
	root := map[string]any{"action": map[string]any{"type": "firstchild"}, "satisfied": true}
	keys := make([]string, 0, len(s.menu))
	for k := range s.menu {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, p := range keys {
		if strings.Contains(p, "*") {
			continue // the dispatcher's own function paths
		}
		node := root
		for _, seg := range strings.Split(p, "/") {
			ch, _ := node["children"].(map[string]any)
			if ch == nil {
				ch = map[string]any{}
				node["children"] = ch
			}
			n, _ := ch[seg].(map[string]any)
			if n == nil {
				n = map[string]any{"satisfied": true}
				ch[seg] = n
			}
			node = n
		}
		for k, v := range s.menu[p] {
			node[k] = v
		}
		switch perm := aclPerm(depends(s.menu[p]), acl); {
		case perm == nil:
			node["satisfied"] = false
		case !*perm:
			node["readonly"] = true
		}
	}
	return root
}

// dispatch answers the dispatcher paths the runtime asks for and renders
// the boot page of every view of the menu.
func (s *luciSite) dispatch(w http.ResponseWriter, r *http.Request) {
	p := strings.Trim(strings.TrimPrefix(r.URL.Path, "/cgi-bin/luci"), "/")
	if p == "login" {
		user := r.URL.Query().Get("user")
		if s.session(user) == "" {
			http.Error(w, "unknown login", http.StatusForbidden)
			return
		}
		http.SetCookie(w, &http.Cookie{Name: "sysauth_http", Value: s.session(user), Path: "/cgi-bin/luci/"})
		http.Redirect(w, r, "/cgi-bin/luci/"+r.URL.Query().Get("next"), http.StatusFound)
		return
	}
	c, err := r.Cookie("sysauth_http")
	if err != nil {
		w.Header().Set("X-LuCI-Login-Required", "yes")
		http.Error(w, "login required", http.StatusForbidden)
		return
	}
	sid := c.Value
	acl, err := s.acls(sid)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	switch {
	case p == "admin/menu":
		w.Header().Set("Content-Type", "application/json; charset=UTF-8")
		json.NewEncoder(w).Encode(s.tree(acl))
		return
	case strings.HasPrefix(p, "admin/translations/"):
		w.Header().Set("Content-Type", "application/javascript; charset=UTF-8")
		io.WriteString(w, "window.TR={};")
		return
	}
	// A page: resolve firstchild and alias as the dispatcher does.
	tree := s.tree(acl)
	var reqPath []string
	node := tree
	for _, seg := range strings.Split(p, "/") {
		ch, _ := node["children"].(map[string]any)
		n, _ := ch[seg].(map[string]any)
		if n == nil {
			http.NotFound(w, r)
			return
		}
		node = n
		reqPath = append(reqPath, seg)
	}
	// An alias or a firstchild redirects (the browser then asks for the
	// page it leads to, which resolves the next level).
	switch act, _ := node["action"].(map[string]any); act["type"] {
	case "alias":
		path, _ := act["path"].(string)
		http.Redirect(w, r, "/cgi-bin/luci/"+path, http.StatusFound)
		return
	case "firstchild":
		// The satisfied child of lowest order.
		ch, _ := node["children"].(map[string]any)
		best, bestOrder := "", 1<<30
		for name, c := range ch {
			cn, _ := c.(map[string]any)
			o, ok := cn["order"].(float64)
			if !ok {
				o = 1000
			}
			if cn["satisfied"] == true && cn["title"] != nil && (int(o) < bestOrder || int(o) == bestOrder && name < best) {
				best, bestOrder = name, int(o)
			}
		}
		if best == "" {
			http.NotFound(w, r)
			return
		}
		http.Redirect(w, r, "/cgi-bin/luci/"+strings.Join(append(reqPath, best), "/"), http.StatusFound)
		return
	}
	if node["satisfied"] != true {
		http.Error(w, "Forbidden", http.StatusForbidden)
		return
	}
	act, _ := node["action"].(map[string]any)
	view, _ := act["path"].(string)
	if act["type"] != "view" || view == "" {
		http.NotFound(w, r)
		return
	}
	// The ACLs of every node on the way, as ctx_append collects them.
	var groups []string
	n := tree
	for _, seg := range reqPath {
		n = n["children"].(map[string]any)[seg].(map[string]any)
		groups = append(groups, depends(n)...)
	}
	if perm := aclPerm(groups, acl); perm == nil {
		http.Error(w, "Forbidden", http.StatusForbidden)
		return
	} else {
		node["readonly"] = !*perm
	}
	s.bootPage(w, sid, reqPath, node, view)
}

// bootPage renders luci-base's header.ut (the bootstrap theme's header
// and footer markup, the LuCI environment) around view.ut.
func (s *luciSite) bootPage(w http.ResponseWriter, sid string, reqPath []string, node map[string]any, view string) {
	env := map[string]any{
		"media":          "/luci-static/bootstrap",
		"resource":       "/luci-static/resources",
		"scriptname":     "/cgi-bin/luci",
		"pathinfo":       "/" + strings.Join(reqPath, "/"),
		"documentroot":   "/www",
		"requestpath":    reqPath,
		"dispatchpath":   reqPath,
		"pollinterval":   5,
		"ubuspath":       "/ubus/",
		"sessionid":      sid,
		"token":          "0123456789abcdef0123456789abcdef",
		"nodespec":       node,
		"apply_rollback": 90,
		"apply_holdoff":  4,
		"apply_timeout":  5,
		"apply_display":  1.5,
		"rollback_token": nil,
	}
	envJSON, _ := json.Marshal(env)
	title, _ := node["title"].(string)
	w.Header().Set("Content-Type", "text/html; charset=UTF-8")
	fmt.Fprintf(w, `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>router | %s</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="/luci-static/bootstrap/cascade.css">
<link rel="stylesheet" media="only screen and (max-device-width: 854px)" href="/luci-static/bootstrap/mobile.css" />
<script src="/cgi-bin/luci/admin/translations/en"></script>
<script src="/luci-static/resources/cbi.js"></script>
</head>
<body class="lang_en %s" data-page="%s">
<header>
<a class="brand" href="/">router</a>
<ul class="nav" id="topmenu" style="display:none"></ul>
<div id="indicators" class="pull-right"></div>
</header>
<div id="maincontent" class="container">
<div id="tabmenu" style="display:none"></div>
<script src="/luci-static/resources/luci.js"></script>
<script>
L = new LuCI(%s);
</script>
<div id="view">
<div class="spinning">Loading view…</div>
<script>
L.require('ui').then(function(ui) {
	ui.instantiateView(%q);
});
</script>
</div>
</div>
<footer><span>Powered by LuCI</span><ul class="breadcrumb pull-right" id="modemenu" style="display:none"></ul></footer>
<script>L.require('menu-bootstrap')</script>
</body>
</html>
`, html.EscapeString(title), html.EscapeString(title), html.EscapeString(strings.Join(reqPath, "-")),
		strings.ReplaceAll(string(envJSON), "/", `\/`), view)
}

// rpcReq is one JSON-RPC 2.0 request of luci.js.
type rpcReq struct {
	JSONRPC string            `json:"jsonrpc"`
	ID      json.RawMessage   `json:"id"`
	Method  string            `json:"method"`
	Params  []json.RawMessage `json:"params"`
}

// ubusHandler is uhttpd's /ubus: one request or a batch (an array).
func (s *luciSite) ubusHandler(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil || r.Method != http.MethodPost {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	if trimmed := strings.TrimSpace(string(body)); strings.HasPrefix(trimmed, "[") {
		var batch []rpcReq
		if err := json.Unmarshal(body, &batch); err != nil {
			json.NewEncoder(w).Encode(rpcError(nil, -32700, "Parse error"))
			return
		}
		out := make([]any, len(batch))
		for i, q := range batch {
			out[i] = s.answer(q)
		}
		json.NewEncoder(w).Encode(out)
		return
	}
	var q rpcReq
	if err := json.Unmarshal(body, &q); err != nil {
		json.NewEncoder(w).Encode(rpcError(nil, -32700, "Parse error"))
		return
	}
	json.NewEncoder(w).Encode(s.answer(q))
}

func rpcError(id json.RawMessage, code int, msg string) map[string]any {
	return map[string]any{"jsonrpc": "2.0", "id": id, "error": map[string]any{"code": code, "message": msg}}
}

func rpcResult(id json.RawMessage, result any) map[string]any {
	return map[string]any{"jsonrpc": "2.0", "id": id, "result": result}
}

// answer does what uhttpd's ubus handler does with one request.
func (s *luciSite) answer(q rpcReq) map[string]any {
	if q.JSONRPC != "2.0" {
		return rpcError(q.ID, -32600, "Invalid request")
	}
	switch q.Method {
	case "list":
		out, err := s.u.ubus("list")
		if err != nil {
			return rpcError(q.ID, -32000, "Object not found")
		}
		return rpcResult(q.ID, strings.Fields(out))
	case "call":
	default:
		return rpcError(q.ID, -32601, "Method not found")
	}
	var sid, object, method string
	var args map[string]any
	if len(q.Params) != 4 || json.Unmarshal(q.Params[0], &sid) != nil || json.Unmarshal(q.Params[1], &object) != nil ||
		json.Unmarshal(q.Params[2], &method) != nil || json.Unmarshal(q.Params[3], &args) != nil {
		return rpcError(q.ID, -32602, "Invalid parameters")
	}
	status, reply := s.forward(sid, object, method, args)
	if status < 0 {
		return rpcError(q.ID, -32002, "Access denied")
	}
	if reply == nil {
		return rpcResult(q.ID, []any{status})
	}
	return rpcResult(q.ID, []any{status, reply})
}

// forward checks the session's ACL and makes the call; -1 is "access
// denied". Calls run one at a time: rpcd corrupts its memory under
// concurrent exec-plugin calls (docs/openwrt.md, ubus, "Known problem"),
// which a browser's parallel requests would provoke here as on a router.
func (s *luciSite) forward(sid, object, method string, args map[string]any) (int, map[string]any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	name := object + "." + method
	s.calls = append(s.calls, name)
	out, err := s.u.ubus("call", "session", "access", jsonString(map[string]string{
		"ubus_rpc_session": sid, "scope": "ubus", "object": object, "function": method}))
	var access struct {
		Access bool `json:"access"`
	}
	if err != nil || json.Unmarshal([]byte(out), &access) != nil || !access.Access {
		s.denied = append(s.denied, name)
		return -1, nil
	}
	in := map[string]any{}
	for k, v := range args {
		in[k] = v
	}
	in["ubus_rpc_session"] = sid
	out, err = s.u.ubus("call", object, method, jsonString(in))
	if err != nil && strings.Contains(out, "(No response)") && s.u.noResponse.Add(1) <= maxNoResponse {
		out, err = s.u.ubus("call", object, method, jsonString(in))
	}
	if err != nil {
		if name == "luci.getFeatures" && strings.Contains(out, "Not found") {
			// luci-base's rpcd ucode plugin (the "luci" object) is not
			// part of the host's rpcd: LuCI only probes the router's
			// features with it, and this app uses none.
			return ubusOK, map[string]any{}
		}
		var ee *exec.ExitError
		if errors.As(err, &ee) && ee.ExitCode() > 0 {
			// ubus exits with the status, negated (252 is -4, Not found).
			return (256 - ee.ExitCode()) % 256, nil
		}
		return 10, nil // UBUS_STATUS_UNKNOWN_ERROR
	}
	if strings.TrimSpace(out) == "" {
		return ubusOK, nil
	}
	var reply map[string]any
	if err := json.Unmarshal([]byte(out), &reply); err != nil {
		return 10, nil
	}
	return ubusOK, reply
}

// callLog returns the calls pages made and those the ACL refused.
func (s *luciSite) callLog() (calls, denied []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.calls...), append([]string(nil), s.denied...)
}

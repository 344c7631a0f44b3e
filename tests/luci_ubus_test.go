package tests

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// The LuCI app's files, relative to tests/.
const (
	luciView = "../luci-app/htdocs/luci-static/resources/view/minipot/datacollection.js"
	luciACL  = "../luci-app/root/usr/share/rpcd/acl.d/luci-app-minipot.json"
	luciMenu = "../luci-app/root/usr/share/luci/menu.d/luci-app-minipot.json"
	luciPot  = "../luci-app/po/templates/minipot.pot"
)

// ubus status codes (libubus) the stand-in answers with.
const (
	ubusOK               = 0
	ubusInvalidArgument  = 2
	ubusNotFound         = 4
	ubusPermissionDenied = 6
)

// ubusStandin is uhttpd's /ubus endpoint and rpcd in one: it takes LuCI's
// JSON-RPC "call" requests, refuses what the app's rpcd ACL does not grant,
// and runs the real plugin (`minipot rpcd call METHOD`, arguments on stdin)
// against a real API, answering [status, data] as ubus does.
type ubusStandin struct {
	t      *testing.T
	socket string
	grants map[string]bool // "object.method"

	mu     sync.Mutex
	calls  []string
	denied []string
}

func newUbusStandin(t *testing.T, socket string) *ubusStandin {
	t.Helper()
	read, write := aclGrants(t)
	u := &ubusStandin{t: t, socket: socket, grants: map[string]bool{}}
	for _, m := range append(read, write...) {
		u.grants[m] = true
	}
	return u
}

// newReadOnlyUbusStandin grants the read half of the ACL only: a user
// whose session has read access to the page.
func newReadOnlyUbusStandin(t *testing.T, socket string) *ubusStandin {
	t.Helper()
	read, _ := aclGrants(t)
	u := &ubusStandin{t: t, socket: socket, grants: map[string]bool{}}
	for _, m := range read {
		u.grants[m] = true
	}
	return u
}

func (u *ubusStandin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var req struct {
		ID     json.RawMessage   `json:"id"`
		Method string            `json:"method"`
		Params []json.RawMessage `json:"params"`
	}
	if r.Method != http.MethodPost || json.NewDecoder(r.Body).Decode(&req) != nil || req.Method != "call" || len(req.Params) != 4 {
		http.Error(w, "not a ubus JSON-RPC call", http.StatusBadRequest)
		return
	}
	reply := func(result ...any) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"jsonrpc": "2.0", "id": req.ID, "result": result})
	}
	var sid, object, method string
	var args map[string]json.RawMessage
	if json.Unmarshal(req.Params[0], &sid) != nil || json.Unmarshal(req.Params[1], &object) != nil ||
		json.Unmarshal(req.Params[2], &method) != nil || json.Unmarshal(req.Params[3], &args) != nil {
		reply(ubusInvalidArgument)
		return
	}
	name := object + "." + method
	u.mu.Lock()
	u.calls = append(u.calls, name)
	granted := u.grants[name]
	if !granted {
		u.denied = append(u.denied, name)
	}
	u.mu.Unlock()
	if !granted {
		reply(ubusPermissionDenied)
		return
	}
	if object != "minipot" {
		reply(ubusNotFound)
		return
	}
	// uhttpd adds the caller's session to every call, as on a router.
	if args == nil {
		args = map[string]json.RawMessage{}
	}
	args["ubus_rpc_session"], _ = json.Marshal(sid)
	in, _ := json.Marshal(args)

	ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, minipotBin, "rpcd", "call", method)
	cmd.Env = append(os.Environ(), "MINIPOT_API_SOCKET="+u.socket)
	cmd.Stdin = bytes.NewReader(in)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.Run() // rpcd ignores the exit status; the reply says what happened
	var obj map[string]any
	if err := json.Unmarshal(stdout.Bytes(), &obj); err != nil || obj == nil {
		// rpcd turns anything but a JSON object into a bare status.
		u.t.Logf("ubus %s: the plugin printed no object: %q %s", name, stdout.String(), stderr.String())
		reply(ubusInvalidArgument)
		return
	}
	reply(ubusOK, obj)
}

// callLog returns the calls made and those the ACL refused.
func (u *ubusStandin) callLog() (calls, denied []string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]string(nil), u.calls...), append([]string(nil), u.denied...)
}

// aclMethods returns "object.method" for every ubus method the app's rpcd
// ACL grants, read and write together.
func aclMethods(t *testing.T) []string {
	t.Helper()
	read, write := aclGrants(t)
	set := map[string]bool{}
	for _, m := range append(read, write...) {
		set[m] = true
	}
	return sortedKeys(set)
}

// aclGrants returns the ubus methods of the ACL's read and write halves.
func aclGrants(t *testing.T) (read, write []string) {
	t.Helper()
	data, err := os.ReadFile(luciACL)
	if err != nil {
		t.Fatal(err)
	}
	var acl map[string]struct {
		Description string `json:"description"`
		Read        struct {
			Ubus map[string][]string `json:"ubus"`
		} `json:"read"`
		Write struct {
			Ubus map[string][]string `json:"ubus"`
		} `json:"write"`
	}
	if err := json.Unmarshal(data, &acl); err != nil {
		t.Fatalf("%s: %v", luciACL, err)
	}
	r, w := map[string]bool{}, map[string]bool{}
	add := func(set map[string]bool, ubus map[string][]string) {
		for obj, ms := range ubus {
			for _, m := range ms {
				set[obj+"."+m] = true
			}
		}
	}
	for _, grp := range acl {
		add(r, grp.Read.Ubus)
		add(w, grp.Write.Ubus)
	}
	return sortedKeys(r), sortedKeys(w)
}

// declaredMethods returns "object.method" for every rpc.declare() of the
// view.
func declaredMethods(t *testing.T) []string {
	t.Helper()
	src := readFile(t, luciView)
	re := regexp.MustCompile(`rpc\.declare\(\{\s*object:\s*'([^']+)',\s*method:\s*'([^']+)'`)
	set := map[string]bool{}
	for _, m := range re.FindAllStringSubmatch(src, -1) {
		set[m[1]+"."+m[2]] = true
	}
	if n := strings.Count(src, "rpc.declare("); n != len(set) {
		t.Fatalf("%d rpc.declare() in the view, %d understood (object and method first, in that order)", n, len(set))
	}
	return sortedKeys(set)
}

// i18nString is a translatable string and where it is used.
type i18nString struct {
	msgid string
	refs  []string
}

// viewStrings returns every _('...') of the view, plus the menu title and
// the ACL description, which LuCI translates too.
func viewStrings(t *testing.T) []i18nString {
	t.Helper()
	byID := map[string]*i18nString{}
	var order []string
	add := func(id, ref string) {
		s, ok := byID[id]
		if !ok {
			s = &i18nString{msgid: id}
			byID[id] = s
			order = append(order, id)
		}
		s.refs = append(s.refs, ref)
	}
	src := readFile(t, luciView)
	// Only single-quoted literals are allowed in _(): what this finds is
	// what LuCI's i18n-scan.pl finds.
	re := regexp.MustCompile(`\b_\(\s*'((?:[^'\\]|\\.)*)'\s*\)`)
	for i, line := range strings.Split(src, "\n") {
		for _, m := range re.FindAllStringSubmatch(line, -1) {
			add(strings.NewReplacer(`\'`, `'`, `\\`, `\`).Replace(m[1]),
				fmt.Sprintf("applications/luci-app-minipot/htdocs/luci-static/resources/view/minipot/datacollection.js:%d", i+1))
		}
	}
	if n, got := len(regexp.MustCompile(`\b_\(`).FindAllString(src, -1)), len(re.FindAllString(src, -1)); n != got {
		t.Fatalf("%d calls of _() in the view, %d with one single-quoted literal", n, got)
	}
	var menu map[string]struct {
		Title string `json:"title"`
	}
	if err := json.Unmarshal([]byte(readFile(t, luciMenu)), &menu); err != nil {
		t.Fatalf("%s: %v", luciMenu, err)
	}
	for _, m := range menu {
		add(m.Title, "applications/luci-app-minipot/root/usr/share/luci/menu.d/luci-app-minipot.json")
	}
	var acl map[string]struct {
		Description string `json:"description"`
	}
	json.Unmarshal([]byte(readFile(t, luciACL)), &acl)
	for _, a := range acl {
		add(a.Description, "applications/luci-app-minipot/root/usr/share/rpcd/acl.d/luci-app-minipot.json")
	}
	out := make([]i18nString, 0, len(order))
	for _, id := range order {
		out = append(out, *byID[id])
	}
	return out
}

// potMsgids returns the msgids of a .pot file (single-line ones, as LuCI
// writes them), without the header's empty one.
func potMsgids(t *testing.T, pot string) []string {
	t.Helper()
	var ids []string
	for _, line := range strings.Split(pot, "\n") {
		rest, ok := strings.CutPrefix(line, "msgid ")
		if !ok {
			continue
		}
		var s string
		if err := json.Unmarshal([]byte(rest), &s); err != nil {
			t.Fatalf("pot: bad msgid line %q", line)
		}
		if s != "" {
			ids = append(ids, s)
		}
	}
	return ids
}

// renderPot writes the template as LuCI's i18n-scan does: a header, then
// every string with its references, sorted by msgid.
func renderPot(strs []i18nString) string {
	sorted := append([]i18nString(nil), strs...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].msgid < sorted[j].msgid })
	var b strings.Builder
	b.WriteString("msgid \"\"\nmsgstr \"Content-Type: text/plain; charset=UTF-8\"\n")
	for _, s := range sorted {
		b.WriteString("\n")
		for _, r := range s.refs {
			fmt.Fprintf(&b, "#: %s\n", r)
		}
		fmt.Fprintf(&b, "msgid \"%s\"\nmsgstr \"\"\n", poEscape.Replace(s.msgid))
	}
	return b.String()
}

var poEscape = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`, "\t", `\t`)

func readFile(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

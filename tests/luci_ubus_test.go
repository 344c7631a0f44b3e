package tests

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"
)

// The LuCI app's files, relative to tests/.
const (
	luciHtdocs = "../luci-app/htdocs"
	luciACL    = "../luci-app/root/usr/share/rpcd/acl.d/luci-app-minipot.json"
	luciMenu   = "../luci-app/root/usr/share/luci/menu.d/luci-app-minipot.json"
	luciPot    = "../luci-app/po/templates/minipot.pot"
)

// luciJS are the app's scripts: the shared class and the two views.
var luciJS = []string{
	luciHtdocs + "/luci-static/resources/minipot/common.js",
	luciHtdocs + "/luci-static/resources/view/minipot/settings.js",
	luciHtdocs + "/luci-static/resources/view/minipot/reports.js",
}

// luciSource is every script of the app, one after the other.
func luciSource(t *testing.T) string {
	t.Helper()
	var b strings.Builder
	for _, f := range luciJS {
		b.WriteString(readFile(t, f))
		b.WriteString("\n")
	}
	return b.String()
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
// app.
func declaredMethods(t *testing.T) []string {
	t.Helper()
	src := luciSource(t)
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
	// Only single-quoted literals are allowed in _(): what this finds is
	// what LuCI's i18n-scan.pl finds.
	re := regexp.MustCompile(`\b_\(\s*'((?:[^'\\]|\\.)*)'\s*\)`)
	for _, f := range luciJS {
		src := readFile(t, f)
		rel := "applications/luci-app-minipot/htdocs/" + strings.TrimPrefix(f, luciHtdocs+"/")
		for i, line := range strings.Split(src, "\n") {
			for _, m := range re.FindAllStringSubmatch(line, -1) {
				add(strings.NewReplacer(`\'`, `'`, `\\`, `\`).Replace(m[1]), fmt.Sprintf("%s:%d", rel, i+1))
			}
		}
		if n, got := len(regexp.MustCompile(`\b_\(`).FindAllString(src, -1)), len(re.FindAllString(src, -1)); n != got {
			t.Fatalf("%s: %d calls of _(), %d with one single-quoted literal", f, n, got)
		}
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

// TestNULShownAlike: a password with a NUL byte shows the same in the
// LuCI view (LuCI's runtime, OpenWrt's rpcd and ubusd, where it travels
// as {"base64": ...}) as on the API's own page: the whole text, as stored.
func TestNULShownAlike(t *testing.T) {
	b := startBrowser(t, "")
	a := startAgent(t, map[string]string{"fakes.log_credentials": "1"})
	p := startAPI(t, a)
	const password = "before\x00after<b>"
	rawHTTP(t, a.Addr("80tcp"), "GET /nul HTTP/1.1\r\nHost: x\r\nAuthorization: Basic "+
		base64.StdEncoding.EncodeToString([]byte("root:"+password))+"\r\n\r\n")
	eventually(t, 10*time.Second, "the attempt is stored", func() (bool, string) {
		var page struct {
			Events []struct {
				Password string `json:"password"`
			} `json:"events"`
		}
		p.get(t, "/api/v1/events?action=login", &page)
		return len(page.Events) == 1 && page.Events[0].Password == password, jsonString(page)
	})
	want := jsonString(password) // JS string literal of the exact text

	l := startLuCI(t, luciOpts{apiSocket: p.Socket})
	l.open(b, "luci-admin", "admin/services/minipot/reports")
	b.waitFor("the LuCI view shows the whole password", `document.querySelector('#minipot-events') && document.body.textContent.includes(`+want+`)`)

	b.navigate("http://" + p.Addr + "/#token=e2e-token-0123456789abcdef")
	b.waitFor("the API's page shows the whole password", `document.body.textContent.includes(`+want+`)`)
}

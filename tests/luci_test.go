package tests

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/minipot/minipot/agent/telnet/bot"
	"github.com/minipot/minipot/internal/event"
	"github.com/minipot/minipot/internal/settings"
)

// TestLuCIAppFiles checks the app's static contracts: the rpcd ACL grants
// exactly the ubus methods the view declares, the .pot template holds
// exactly the view's translatable strings (MINIPOT_UPDATE_POT=1 rewrites
// it), the menu entry points at the view and its ACL, and the view never
// writes markup itself.
func TestLuCIAppFiles(t *testing.T) {
	if acl, decl := aclMethods(t), declaredMethods(t); !slices.Equal(acl, decl) {
		t.Errorf("the ACL grants %v, the view declares %v", acl, decl)
	}
	// What changes something is in the write half only: a read-only
	// session can look, not touch.
	read, write := aclGrants(t)
	if want := []string{"minipot.events", "minipot.get_settings", "minipot.stats", "minipot.status", "minipot.version"}; !slices.Equal(read, want) {
		t.Errorf("the ACL's read half is %v, want %v", read, want)
	}
	if want := []string{"minipot.apply", "minipot.purge", "minipot.set_settings"}; !slices.Equal(write, want) {
		t.Errorf("the ACL's write half is %v, want %v", write, want)
	}

	strs := viewStrings(t)
	if os.Getenv("MINIPOT_UPDATE_POT") == "1" {
		if err := os.WriteFile(luciPot, []byte(renderPot(strs)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want := map[string]bool{}
	for _, s := range strs {
		want[s.msgid] = true
	}
	have := map[string]bool{}
	for _, id := range potMsgids(t, readFile(t, luciPot)) {
		if have[id] {
			t.Errorf("pot: %q twice", id)
		}
		have[id] = true
	}
	for id := range want {
		if !have[id] {
			t.Errorf("pot: missing %q (MINIPOT_UPDATE_POT=1 go test -run TestLuCIAppFiles ./tests rewrites it)", id)
		}
	}
	for id := range have {
		if !want[id] {
			t.Errorf("pot: %q is not used any more", id)
		}
	}

	var menu map[string]struct {
		Title  string `json:"title"`
		Action struct {
			Type string `json:"type"`
			Path string `json:"path"`
		} `json:"action"`
		Depends struct {
			ACL []string `json:"acl"`
		} `json:"depends"`
	}
	if err := json.Unmarshal([]byte(readFile(t, luciMenu)), &menu); err != nil {
		t.Fatal(err)
	}
	var acl map[string]any
	json.Unmarshal([]byte(readFile(t, luciACL)), &acl)
	for path, m := range menu {
		if m.Action.Type != "view" || filepath.Join("../luci-app/htdocs/luci-static/resources/view", m.Action.Path+".js") != filepath.Clean(luciView) {
			t.Errorf("menu %s: action %+v is not the view", path, m.Action)
		}
		for _, a := range m.Depends.ACL {
			if _, ok := acl[a]; !ok {
				t.Errorf("menu %s depends on ACL %q, which acl.d does not define", path, a)
			}
		}
	}

	src := readFile(t, luciView)
	if m := regexp.MustCompile(`\.(innerHTML|outerHTML)\b|insertAdjacentHTML|document\.write|E\(\s*'<`).FindString(src); m != "" {
		t.Errorf("the view writes markup itself (%s): attacker text must go in as text nodes", m)
	}
	mk := readFile(t, "../luci-app/Makefile")
	for _, s := range []string{"include ../../luci.mk", "LUCI_TITLE:=", "+minipot"} {
		if !strings.Contains(mk, s) {
			t.Errorf("luci-app/Makefile lacks %q", s)
		}
	}
}

// TestLuCIView loads the view in headless chromium through a LuCI
// stand-in whose ubus calls go through OpenWrt's real ubusd and rpcd
// (luci_ubus_test.go) to the plugin as the package installs it, a real API
// and a real agent: the switches show the file, saving changes the file and the
// services, a telnet bot's attempt shows up (as text, whatever it typed),
// apply and both purges work, a stale ETag is refused, and a read-only
// session, a refused call and a missing API are each shown for what they
// are. Every call the page makes passes the app's own rpcd ACL.
func TestLuCIView(t *testing.T) {
	b := startBrowser(t, "")
	a := startAgent(t, map[string]string{"fakes.disable": "LIST:2323tcp"})
	p := startAPI(t, a)
	u := newUbusStandin(t, p.Socket)

	mux := http.NewServeMux()
	mux.Handle("/ubus", u)
	mux.Handle("/ubus-ro", newReadOnlyUbusStandin(t, p.Socket))
	mux.Handle("/ubus-edited", newUbusStandin(t, editingSocket(t, p)))
	mux.Handle("/ubus-noapi", newUbusStandin(t, filepath.Join(t.TempDir(), "no-api.sock")))
	mux.HandleFunc("/favicon.ico", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })
	mux.Handle("/luci-static/", http.FileServer(http.Dir("../luci-app/htdocs")))
	mux.Handle("/standin/", http.StripPrefix("/standin/", http.FileServer(http.Dir("luci-standin"))))
	srv := httptest.NewServer(mux)
	defer srv.Close()

	b.navigate(srv.URL + "/standin/index.html?view=view.minipot.datacollection")
	b.waitFor("the view renders", `window.__luci && (window.__luci.ready || window.__luci.error)`)
	if loadErr := evalJS[string](b, `window.__luci.error || ""`); loadErr != "" {
		t.Fatalf("the view failed: %s", loadErr)
	}

	// What the page shows, read the way an owner would see it.
	type pageState struct {
		Enabled, Creds bool
		Services       map[string]bool
		Status         map[string]string
		Privacy        string
		Bars           int
		Version        string
	}
	state := func() pageState {
		return evalJS[pageState](b, `(() => {
			const q = s => document.querySelector(s);
			const svc = {}, st = {};
			document.querySelectorAll('input[data-service]').forEach(c => svc[c.dataset.service] = c.checked);
			document.querySelectorAll('[id^="minipot-status-"]').forEach(td => st[td.id.slice(15)] = td.dataset.state || '');
			return { Enabled: q('#minipot-enabled').checked, Creds: q('#minipot-log-credentials').checked,
				Services: svc, Status: st, Privacy: q('#minipot-privacy').textContent,
				Bars: document.querySelectorAll('#minipot-chart g.minipot-hour').length,
				Version: q('#minipot-version').textContent };
		})()`)
	}
	s := state()
	// Every service of the table, as the API lists it: only 2323tcp off.
	wantSvc := map[string]bool{}
	for _, svc := range settings.Services() {
		wantSvc[svc.Key] = svc.Key != "2323tcp"
	}
	if !s.Enabled || !s.Creds || !mapsEqual(s.Services, wantSvc) {
		t.Errorf("switches: enabled %v, credentials %v, services %v; want true, true, %v", s.Enabled, s.Creds, s.Services, wantSvc)
	}
	// Each state is the API's, shown as given: this agent listens on
	// loopback, which the API says in words.
	if s.Status["23tcp"] != "unreachable" || s.Status["2323tcp"] != "off" {
		t.Errorf("status: %v", s.Status)
	}
	var st struct {
		Services []struct {
			Key, Label string
			State      struct{ Code, Text string }
		}
	}
	p.get(t, "/api/v1/status", &st)
	var apiKeys []string
	for _, sv := range st.Services {
		apiKeys = append(apiKeys, sv.Key)
		shown := evalJS[[]string](b, fmt.Sprintf(`(k => [document.querySelector('label[for="minipot-svc-' + k + '"]').textContent,
			document.querySelector('#minipot-status-' + k + ' strong').textContent, document.querySelector('#minipot-status-' + k).dataset.state])(%q)`, sv.Key))
		if len(shown) != 3 || shown[0] != sv.Label || shown[1] != sv.State.Text || shown[2] != sv.State.Code {
			t.Errorf("%s shows %q, /status says %q, %q, %q", sv.Key, shown, sv.Label, sv.State.Text, sv.State.Code)
		}
	}
	if keys := evalJS[[]string](b, `[...document.querySelectorAll('input[data-service]')].map(c => c.dataset.service)`); !slices.Equal(keys, apiKeys) {
		t.Errorf("the view lists %v, /status %v", keys, apiKeys)
	}
	// The same detail in both families shows once.
	if txt := b.text("#minipot-status-23tcp"); !strings.Contains(txt, "listens on loopback") || strings.Count(txt, "(agent.listen)") != 1 {
		t.Errorf("Telnet 23 status: %q", txt)
	}
	if !strings.Contains(s.Privacy, "password") || s.Bars < 24 || !strings.HasPrefix(s.Version, "minipot ") {
		t.Errorf("privacy %q, %d hourly bars, version %q", s.Privacy, s.Bars, s.Version)
	}

	// Toggle two services and save: the file and the agent follow.
	b.do(`document.querySelector('#minipot-svc-8080tcp').click(), document.querySelector('#minipot-svc-2323tcp').click(),
		document.querySelector('#minipot-save').click()`)
	b.waitFor("the save is confirmed", `document.querySelector('#notifications').textContent.includes('The settings are saved and in effect.')`)
	conf := readFile(t, filepath.Join(a.Dir, "ucollect"))
	if !strings.Contains(conf, "list disable '8080tcp'") || strings.Contains(conf, "2323tcp") {
		t.Errorf("the file after saving:\n%s", conf)
	}
	b.waitFor("the status follows", `document.querySelector('#minipot-status-8080tcp').dataset.state == 'off' &&
		document.querySelector('#minipot-status-2323tcp').dataset.state == 'unreachable'`)
	if !listens(a.Addr("2323tcp")) || listens(a.Addr("8080tcp")) {
		t.Errorf("after saving, 2323tcp listens %v, 8080tcp %v", listens(a.Addr("2323tcp")), listens(a.Addr("8080tcp")))
	}

	// A bot tries a password that is markup: it must show as text.
	const pass = `<img src=x onerror=window.__pwned=1>`
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	r, err := bot.Attempt(ctx, a.Addr("23tcp"), "admin", pass)
	cancel()
	if err != nil || r.Outcome != bot.Rejected {
		t.Fatalf("bot attempt: %+v, %v", r, err)
	}
	a.find(t, 1, logins("23tcp"))
	// A request repeated on one connection shows once and as its repeats.
	rawHTTP(t, a.Addr("80tcp"), strings.Repeat("GET /again HTTP/1.1\r\nHost: router\r\n\r\n", 3))
	a.find(t, 1, func(e event.Event) bool { return e.URL == "/again" && e.Count == 2 })
	b.do(`window.__luci.poll()`)
	b.waitFor("the attempt is in the latest events",
		`document.querySelector('#minipot-attacks .minipot-latest').textContent.includes("admin / ")`)
	b.waitFor("the repeats are in the latest events",
		`document.querySelector('#minipot-attacks .minipot-latest').textContent.includes("GET /again (repeated 2 times)")`)
	shown := evalJS[struct {
		Latest, Pairs, Sources string
		Imgs, Peak             int
		Pwned                  bool
	}](b, `({ Latest: document.querySelector('.minipot-latest').textContent,
		Pairs: document.querySelector('.minipot-top-credentials').textContent,
		Sources: document.querySelector('.minipot-top-sources').textContent,
		Imgs: document.querySelectorAll('#view img').length,
		Peak: Math.max(...[...document.querySelectorAll('#minipot-chart g.minipot-hour')].map(g => +g.dataset.attempts)),
		Pwned: window.__pwned === 1 })`)
	if !strings.Contains(shown.Pairs, pass) || !strings.Contains(shown.Sources, "127.0.0.1") || shown.Peak < 1 {
		t.Errorf("attacks panel: credentials %q, sources %q, peak %d attempts/hour", shown.Pairs, shown.Sources, shown.Peak)
	}
	if shown.Imgs != 0 || shown.Pwned || !strings.Contains(shown.Latest, "admin / "+pass) {
		t.Errorf("attacker text became markup: %d <img>, script ran: %v, latest events %q", shown.Imgs, shown.Pwned, shown.Latest)
	}
	if path := os.Getenv("MINIPOT_LUCI_SCREENSHOT"); path != "" {
		if err := b.screenshot(path); err != nil {
			t.Errorf("screenshot: %v", err)
		}
	}

	// Purge the credentials, confirming in the dialog.
	b.do(`document.querySelector('#minipot-purge-credentials').click()`)
	b.waitFor("the confirmation dialog", `document.querySelector('#minipot-purge-confirm')`)
	b.do(`document.querySelector('#minipot-purge-confirm').click()`)
	b.waitFor("the purge is confirmed", `document.querySelector('#notifications').textContent.includes('Stored credentials are deleted.')`)
	b.waitFor("the password is gone from the page", fmt.Sprintf(
		`!document.querySelector('#minipot-attacks').textContent.includes(%q) && document.querySelector('#modal').style.display == 'none'`, pass))

	// A change made with uci behind the agent's back: the page offers to
	// apply the file, and applying it brings the agent in line.
	a.UCI("set", "ucollect.agent.hostname=luci-test")
	a.UCI("commit", "ucollect")
	b.do(`window.__luci.poll()`)
	b.waitFor("the page offers to apply the file", `document.querySelector('#minipot-apply')`)
	b.do(`document.querySelector('#minipot-apply').click()`)
	b.waitFor("the agent runs the file", `!document.querySelector('#minipot-apply') && window.__luci.pending == 0`)

	// The page still holds the ETag from before that change: saving now
	// must be refused, not overwrite it.
	b.do(`document.querySelector('#minipot-save').click()`)
	b.waitFor("the conflict is shown", `document.querySelector('#notifications').textContent.includes('changed elsewhere meanwhile')`)
	if conf := readFile(t, filepath.Join(a.Dir, "ucollect")); !strings.Contains(conf, "luci-test") {
		t.Errorf("a stale save overwrote the uci change:\n%s", conf)
	}

	// Delete everything.
	b.do(`document.querySelector('#minipot-purge-all').click()`)
	b.waitFor("the confirmation dialog", `document.querySelector('#minipot-purge-confirm')`)
	b.do(`document.querySelector('#minipot-purge-confirm').click()`)
	b.waitFor("the events are gone", `document.querySelector('#notifications').textContent.includes('All events are deleted.') &&
		document.querySelector('.minipot-latest .placeholder') && !document.querySelector('.minipot-top-sources').textContent.includes('127.0.0.1')`)

	// Every call went through the ACL, and every string through the pot.
	calls, denied := u.callLog()
	if len(denied) > 0 {
		t.Errorf("the ACL refused %v", denied)
	}
	called := map[string]bool{}
	for _, c := range calls {
		called[c] = true
	}
	if acl := aclMethods(t); !slices.Equal(sortedKeys(called), acl) {
		t.Errorf("the view called %v; the ACL grants %v", sortedKeys(called), acl)
	}
	used := evalJS[map[string]bool](b, `window.__luci.i18n`)
	pot := map[string]bool{}
	for _, id := range potMsgids(t, readFile(t, luciPot)) {
		pot[id] = true
	}
	for s := range used {
		if !pot[s] {
			t.Errorf("_(%q) at run time is not in the pot", s)
		}
	}
	if lateErr := evalJS[string](b, `window.__luci.error || ""`); lateErr != "" || len(b.pageErrors()) > 0 {
		t.Errorf("page errors: %q %v", lateErr, b.pageErrors())
	}

	// A read-only session: everything shown, nothing to press.
	b.navigate(srv.URL + "/standin/index.html?readonly=1&view=view.minipot.datacollection")
	b.waitFor("the read-only view renders", `window.__luci && window.__luci.ready`)
	if n := evalJS[int](b, `[...document.querySelectorAll('#view input, #view button')].filter(e => !e.disabled).length`); n != 0 {
		t.Errorf("read-only: %d controls enabled", n)
	}

	// A session whose page still offers a save its ACL refuses: the
	// refusal is shown, and nothing changes.
	before := readFile(t, filepath.Join(a.Dir, "ucollect"))
	b.navigate(srv.URL + "/standin/index.html?ubus=/ubus-ro&view=view.minipot.datacollection")
	b.waitFor("the view renders", `window.__luci && window.__luci.ready`)
	b.do(`document.querySelector('#minipot-svc-23tcp').click(), document.querySelector('#minipot-save').click()`)
	b.waitFor("the refusal is shown", `document.querySelector('#notifications').textContent.includes('Permission denied')`)
	if after := readFile(t, filepath.Join(a.Dir, "ucollect")); after != before {
		t.Errorf("a refused save changed the file:\n%s", after)
	}

	// Through a proxy that adds a service and says a real service owns
	// port 80: the view lists the added service where the API puts it and
	// shows both states as the API words them.
	b.navigate(srv.URL + "/standin/index.html?ubus=/ubus-edited&view=view.minipot.datacollection")
	b.waitFor("the edited view renders", `window.__luci && window.__luci.ready && document.querySelector('#minipot-status-`+addedKey+`')`)
	keys := evalJS[[]string](b, `[...document.querySelectorAll('input[data-service]')].map(c => c.dataset.service)`)
	if len(keys) < 3 || keys[0] != "23tcp" || keys[1] != addedKey {
		t.Errorf("the view lists %v, want %s second", keys, addedKey)
	}
	added := evalJS[[]string](b, `(k => [document.querySelector('label[for="minipot-svc-' + k + '"]').textContent,
		document.querySelector('tr[data-service-row="' + k + '"]').children[2].textContent,
		document.querySelector('#minipot-status-' + k + ' strong').textContent, document.querySelector('#minipot-status-' + k).dataset.state,
		String(document.querySelector('#minipot-svc-' + k).checked)])('`+addedKey+`')`)
	if want := []string{addedLabel, "2121", addedText, "reachable", "true"}; !slices.Equal(added, want) {
		t.Errorf("the added service shows %q, want %q", added, want)
	}
	real := evalJS[[]string](b, `[document.querySelector('#minipot-status-80tcp strong').textContent, document.querySelector('#minipot-status-80tcp').dataset.state,
		document.querySelector('#minipot-status-80tcp').textContent]`)
	if len(real) != 3 || real[0] != realText || real[1] != "real_service" || !strings.Contains(real[2], "ipv4: Allow-HTTP accepts it") {
		t.Errorf("80tcp shows %q, want %q as real_service with its detail", real, realText)
	}

	// No API behind the plugin: the page says so, with the plugin's reason.
	b.navigate(srv.URL + "/standin/index.html?ubus=/ubus-noapi&view=view.minipot.datacollection")
	b.waitFor("the view says the service is unreachable", `window.__luci && window.__luci.ready && document.querySelector('#minipot-unavailable pre').textContent != ''`)
	if msg := evalJS[string](b, `document.querySelector('#minipot-unavailable pre').textContent`); !strings.Contains(msg, "is `minipot api` running?") {
		t.Errorf("unreachable API: the page says %q", msg)
	}
}

func mapsEqual[K comparable, V comparable](a, b map[K]V) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// TestLuCIExportBlock: the LuCI view's export block shows the real
// exporter's state through ubus (rpcd plugin → API → status file) and its
// switches save section export.
func TestLuCIExportBlock(t *testing.T) {
	br := startBroker(t, map[string]string{"r0": "p0"})
	a := exportAgent(t, br, "r0", "p0", map[string]string{"export.sensor_id": "luci-sensor"})
	writeBacklog(t, a.DB, "luci", 20)
	x := startExporter(t, a.Dir)
	eventually(t, 15*time.Second, "exported", func() (bool, string) {
		st, err := x.Status()
		return err == nil && st.MQTT.Connected && st.MQTT.Waiting == 0 && st.MQTT.Sent > 0, fmt.Sprintf("%+v %v", st.MQTT, err)
	})
	b := startBrowser(t, "")
	p := startAPI(t, a)
	mux := http.NewServeMux()
	mux.Handle("/ubus", newUbusStandin(t, p.Socket))
	mux.HandleFunc("/favicon.ico", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })
	mux.Handle("/luci-static/", http.FileServer(http.Dir("../luci-app/htdocs")))
	mux.Handle("/standin/", http.StripPrefix("/standin/", http.FileServer(http.Dir("luci-standin"))))
	srv := httptest.NewServer(mux)
	defer srv.Close()

	b.navigate(srv.URL + "/standin/index.html?view=view.minipot.datacollection")
	b.waitFor("the view renders", `window.__luci && (window.__luci.ready || window.__luci.error)`)
	if loadErr := evalJS[string](b, `window.__luci.error || ""`); loadErr != "" {
		t.Fatalf("the view failed: %s", loadErr)
	}
	b.waitFor("the export state shows", `document.querySelector('#minipot-export-state tr[data-row="1"]') &&
		document.querySelector('#minipot-export-state tr[data-row="1"]').textContent.includes('Yes')`)
	state := b.text("#minipot-export-state")
	for _, want := range []string{"luci-sensor", "Events waiting0", "Events lost to retention0", "Last errorNone"} {
		if !strings.Contains(state, want) {
			t.Errorf("the export state lacks %q: %q", want, state)
		}
	}
	if !evalJS[bool](b, `document.querySelector('#minipot-export-enabled').checked`) {
		t.Error("the export switch shows off")
	}
	b.do(`document.querySelector('#minipot-export-enabled').click(), document.querySelector('#minipot-export-save').click()`)
	b.waitFor("the save is confirmed", `document.querySelector('#notifications').textContent.includes('The export settings are saved.')`)
	if conf := readFile(t, filepath.Join(a.Dir, "ucollect")); !strings.Contains(conf, "option enabled '0'") {
		t.Errorf("the file after switching export off:\n%s", conf)
	}
	b.waitFor("the state says export is off", `document.querySelector('#minipot-export-state').textContent.includes('Export is off')`)
}

package tests

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/minipot/minipot/agent/telnet/bot"
	"github.com/minipot/minipot/internal/event"
	"github.com/minipot/minipot/internal/settings"
	"github.com/minipot/minipot/internal/store"
)

// TestLuCIAppFiles checks the app's static contracts: the rpcd ACL grants
// exactly the ubus methods the app declares, its read half only what
// reads; the .pot template holds exactly the app's translatable strings
// (MINIPOT_UPDATE_POT=1 rewrites it); the menu's Data collection entry
// depends on the ACL and opens its first child, and each child is one of
// the app's views; and no script writes markup itself.
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

	// The menu: Data collection (the ACL's) opens its first child, and
	// each child is a view of the app.
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
	const top = "admin/services/minipot"
	if m := menu[top]; m.Action.Type != "firstchild" || !slices.Equal(m.Depends.ACL, []string{"luci-app-minipot"}) {
		t.Errorf("menu %s: %+v, want firstchild depending on luci-app-minipot", top, m)
	}
	var views []string
	for path, m := range menu {
		for _, a := range m.Depends.ACL {
			if _, ok := acl[a]; !ok {
				t.Errorf("menu %s depends on ACL %q, which acl.d does not define", path, a)
			}
		}
		if path == top {
			continue
		}
		if !strings.HasPrefix(path, top+"/") || m.Action.Type != "view" || m.Title == "" {
			t.Errorf("menu %s: %+v is not a view under %s", path, m, top)
			continue
		}
		views = append(views, luciHtdocs+"/luci-static/resources/view/"+m.Action.Path+".js")
	}
	sort.Strings(views)
	if want := []string{luciJS[2], luciJS[1]}; !slices.Equal(views, want) {
		t.Errorf("the menu's views are %v, want %v", views, want)
	}

	src := luciSource(t)
	if m := regexp.MustCompile(`\.(innerHTML|outerHTML)\b|insertAdjacentHTML|document\.write|E\(\s*'<`).FindString(src); m != "" {
		t.Errorf("the app writes markup itself (%s): attacker text must go in as text nodes", m)
	}
	mk := readFile(t, "../luci-app/Makefile")
	for _, s := range []string{"include ../../luci.mk", "LUCI_TITLE:=", "+minipot"} {
		if !strings.Contains(mk, s) {
			t.Errorf("luci-app/Makefile lacks %q", s)
		}
	}
}

// luciReady waits until LuCI rendered the view (or its error).
func luciReady(t *testing.T, b *browser, what string) {
	t.Helper()
	b.waitFor(what, `window.L && L.loaded && !document.querySelector('#view > .spinning') && document.querySelector('#view').children.length > 0`)
	if e := evalJS[string](b, `(document.querySelector('#view .alert-message.error, #view .error') || {}).textContent || ""`); e != "" {
		t.Fatalf("%s: LuCI shows an error: %s", what, e)
	}
}

// clickCSS clicks an element as a user does (a real mouse event).
func clickCSS(t *testing.T, b *browser, sel string) {
	t.Helper()
	if err := b.run(10*time.Second, chromedp.Click(chromedp.CSS(sel))); err != nil {
		t.Fatalf("click %s: %v", sel, err)
	}
}

// noteShown waits for a notification with the text, and returns a JS
// expression true while it is still there.
func noteShown(t *testing.T, b *browser, what, text string) string {
	t.Helper()
	expr := fmt.Sprintf(`[...document.querySelectorAll('#maincontent > .alert-message')].some(n => n.textContent.includes(%q))`, text)
	b.waitFor(what, expr)
	return expr
}

// cellsWithoutTitle counts the table cells of the view without the
// data-title LuCI's mobile layout shows in place of the hidden headers
// (a table's placeholder row aside).
const cellsWithoutTitle = `[...document.querySelectorAll('#view td')].filter(td => !td.closest('tr.placeholder') && !td.hasAttribute('data-title')).map(td => td.outerHTML.slice(0, 120))`

// atWidth sets the browser's viewport as a phone's (mobile) or a desktop's.
func atWidth(t *testing.T, b *browser, width int64, mobile bool) {
	t.Helper()
	opts := []chromedp.EmulateViewportOption{}
	if mobile {
		opts = append(opts, chromedp.EmulateMobile)
	}
	if err := b.run(10*time.Second, chromedp.EmulateViewport(width, 900, opts...)); err != nil {
		t.Fatalf("viewport %d: %v", width, err)
	}
}

// TestLuCISettings loads the settings view in LuCI's real client runtime
// whose /ubus goes through OpenWrt's real rpcd (session, ACL) and ubusd to
// the plugin as the package installs it, a real API and a real agent: the
// switches show the file and each service's state as /status words it,
// saving through the one footer changes the file and the agent, the
// confirmation expires, a stale ETag is refused, a file changed behind
// the agent's back can be applied, the page fits a phone, and a read-only
// login sees everything disabled and gets a clear refusal on save.
func TestLuCISettings(t *testing.T) {
	b := startBrowser(t, "")
	a := startAgent(t, map[string]string{"fakes.disable": "LIST:2323tcp"})
	p := startAPI(t, a)
	l := startLuCI(t, luciOpts{apiSocket: p.Socket})
	// The menu entry opens its first child, the settings.
	l.open(b, "luci-admin", "admin/services/minipot")
	luciReady(t, b, "the settings view renders")
	if u := evalJS[string](b, `location.pathname`); u != "/cgi-bin/luci/admin/services/minipot/settings" {
		t.Errorf("Data collection opens %s", u)
	}
	tabs := evalJS[[]string](b, `[...document.querySelectorAll('#tabmenu li a')].map(a => a.textContent)`)
	if !slices.Equal(tabs, []string{"Settings", "Reports"}) {
		t.Errorf("the menu's tabs are %q", tabs)
	}

	type svc struct {
		Key, Label, State, Text string
		On                      bool
	}
	shown := func() []svc {
		return evalJS[[]svc](b, `[...document.querySelectorAll('tr[data-section-id]')].map(tr => ({
			Key: tr.dataset.sectionId, On: tr.querySelector('input[type=checkbox]').checked,
			Label: tr.querySelector('[data-name=label] output').textContent,
			State: tr.querySelector('[id^=minipot-status-]').dataset.state,
			Text: (tr.querySelector('[id^=minipot-status-] strong') || {}).textContent || '' }))`)
	}
	var st struct {
		Services []struct {
			Key, Label string
			State      struct{ Code, Text string }
		}
	}
	p.get(t, "/api/v1/status", &st)
	var want []svc
	for _, s := range st.Services {
		want = append(want, svc{Key: s.Key, Label: s.Label, State: s.State.Code, Text: s.State.Text, On: s.Key != "2323tcp"})
	}
	if got := shown(); !slices.Equal(got, want) {
		t.Errorf("the services shown:\n%+v\nwant (the API's list, 2323tcp off):\n%+v", got, want)
	}
	if len(want) != len(settings.Services()) {
		t.Errorf("/status lists %d services, the table has %d", len(want), len(settings.Services()))
	}
	flags := evalJS[[]bool](b, `['enabled', 'log_credentials'].map(o => document.querySelector('#cbi-json-fakes-' + o + ' input[type=checkbox]').checked)`)
	if !slices.Equal(flags, []bool{true, true}) {
		t.Errorf("enabled, credentials show %v, the file says on, on", flags)
	}
	if txt := b.text("#cbi-json-fakes-log_credentials .cbi-value-description"); !strings.Contains(txt, "password") {
		t.Errorf("the credentials switch does not explain itself: %q", txt)
	}
	if bad := evalJS[[]string](b, cellsWithoutTitle); len(bad) > 0 {
		t.Errorf("cells without data-title: %q", bad)
	}
	if v := b.text("#minipot-version"); !strings.HasPrefix(v, "minipot version ") || evalJS[bool](b, `!!document.querySelector('#minipot-version').closest('.cbi-value-description')`) {
		t.Errorf("the version line: %q (plain text, no help icon)", v)
	}
	// One footer, with LuCI's buttons: Save & Apply, Reset (no Save:
	// docs/openwrt.md says why).
	footer := evalJS[[]string](b, `[...document.querySelectorAll('.cbi-page-actions')].map(f => [...f.querySelectorAll('li[display], button')].map(e => e.textContent).join('|'))`)
	if !slices.Equal(footer, []string{"Save & Apply|Reset"}) {
		t.Errorf("footers: %q, want one with Save & Apply and Reset", footer)
	}

	// Toggle two services, Reset puts them back; toggle again and save.
	toggle := `document.querySelector('tr[data-section-id="8080tcp"] input[type=checkbox]').click(), document.querySelector('tr[data-section-id="2323tcp"] input[type=checkbox]').click()`
	b.do(toggle)
	clickCSS(t, b, ".cbi-page-actions .cbi-button-reset")
	b.waitFor("Reset shows the file again", `document.querySelector('tr[data-section-id="8080tcp"] input[type=checkbox]').checked && !document.querySelector('tr[data-section-id="2323tcp"] input[type=checkbox]').checked`)
	b.do(toggle)
	clickCSS(t, b, ".cbi-page-actions .cbi-button-apply li[display]")
	saved := noteShown(t, b, "the save is confirmed", "The settings are saved and in effect.")
	conf := readFile(t, filepath.Join(a.Dir, "ucollect"))
	if !strings.Contains(conf, "list disable '8080tcp'") || strings.Contains(conf, "2323tcp") {
		t.Errorf("the file after saving:\n%s", conf)
	}
	b.waitFor("the status follows", `document.querySelector('#minipot-status-8080tcp').dataset.state == 'off' &&
		document.querySelector('#minipot-status-2323tcp').dataset.state == 'unreachable'`)
	if !listens(a.Addr("2323tcp")) || listens(a.Addr("8080tcp")) {
		t.Errorf("after saving, 2323tcp listens %v, 8080tcp %v", listens(a.Addr("2323tcp")), listens(a.Addr("8080tcp")))
	}
	// The confirmation goes away by itself.
	b.waitFor("the confirmation expires", "!("+saved+")")

	// The file changed with uci behind the page's back: saving the old
	// page is refused (ETag), nothing is overwritten.
	a.UCI("set", "ucollect.agent.hostname=luci-test")
	a.UCI("commit", "ucollect")
	b.do(`document.querySelector('tr[data-section-id="21tcp"] input[type=checkbox]').click()`)
	clickCSS(t, b, ".cbi-page-actions .cbi-button-apply li[display]")
	noteShown(t, b, "the conflict is shown", "changed elsewhere meanwhile")
	if conf := readFile(t, filepath.Join(a.Dir, "ucollect")); !strings.Contains(conf, "luci-test") || strings.Contains(conf, "21tcp") {
		t.Errorf("a stale save overwrote the uci change:\n%s", conf)
	}
	// Reloaded, the page offers to apply the file to the agent.
	b.navigate(l.page("admin/services/minipot/settings"))
	luciReady(t, b, "the settings view renders again")
	b.waitFor("the page offers to apply the file", `document.querySelector('#minipot-apply')`)
	b.do(`document.querySelector('#minipot-apply').click()`)
	noteShown(t, b, "the agent runs the file", "The agent runs the settings file now.")
	b.waitFor("the offer goes", `!document.querySelector('#minipot-apply')`)

	// A phone: no horizontal overflow, each cell labelled.
	atWidth(t, b, 390, true)
	b.navigate(l.page("admin/services/minipot/settings"))
	luciReady(t, b, "the settings view renders on a phone")
	if w := evalJS[int](b, `document.documentElement.scrollWidth`); w > 390 {
		t.Errorf("at 390 px the page is %d px wide", w)
	}
	if lbl := evalJS[string](b, `getComputedStyle(document.querySelector('tr[data-section-id="23tcp"] td[data-name=port]'), '::before').content`); !strings.Contains(lbl, "Port") {
		t.Errorf("on a phone the port cell is labelled %s, want its data-title", lbl)
	}
	atWidth(t, b, 1100, false)

	calls, denied := l.callLog()
	if len(denied) > 0 {
		t.Errorf("the ACL refused %v", denied)
	}
	if len(b.pageErrors()) > 0 {
		t.Errorf("page errors: %v", b.pageErrors())
	}
	for _, c := range calls {
		if strings.HasPrefix(c, "minipot.") && !slices.Contains(aclMethods(t), c) {
			t.Errorf("the view called %s, which the ACL does not grant", c)
		}
	}

	// The read-only login: everything shown, nothing enabled; a save
	// forced anyway is refused by rpcd, and the page says so.
	before := readFile(t, filepath.Join(a.Dir, "ucollect"))
	l.open(b, "luci-viewer", "admin/services/minipot/settings")
	luciReady(t, b, "the read-only view renders")
	if got := shown(); len(got) != len(want) {
		t.Errorf("read-only: %d services shown", len(got))
	}
	if n := evalJS[int](b, `[...document.querySelectorAll('#view input[type=checkbox], .cbi-page-actions button')].filter(e => !e.disabled).length +
		document.querySelectorAll('.cbi-page-actions .cbi-dropdown:not([disabled])').length`); n != 0 {
		t.Errorf("read-only: %d controls enabled", n)
	}
	b.do(`document.querySelector('.cbi-page-actions .cbi-button-apply').removeAttribute('disabled')`)
	clickCSS(t, b, ".cbi-page-actions .cbi-button-apply li[display]")
	noteShown(t, b, "the refusal is shown", "may look at minipot but not change it")
	// Errors do not pile up: a second refusal replaces the first.
	clickCSS(t, b, ".cbi-page-actions .cbi-button-apply li[display]")
	b.waitFor("the second refusal", `document.querySelectorAll('#maincontent > .alert-message').length == 1 && document.querySelector('#maincontent > .alert-message.minipot-error')`)
	time.Sleep(500 * time.Millisecond) // the second call's answer, had it added one
	if n := evalJS[int](b, `document.querySelectorAll('#maincontent > .alert-message').length`); n != 1 {
		t.Errorf("%d notifications after two refusals, want 1", n)
	}
	if after := readFile(t, filepath.Join(a.Dir, "ucollect")); after != before {
		t.Errorf("a refused save changed the file:\n%s", after)
	}
	if _, denied := l.callLog(); !slices.Equal(denied, []string{"minipot.set_settings", "minipot.set_settings"}) {
		t.Errorf("rpcd refused %v, want the viewer's two set_settings only", denied)
	}
}

// luciBacklog writes events into the agent's store as if they had come
// over the last 30 days: 60 logins on 23tcp an hour ago from 60
// addresses, 4 proxy requests on 8080tcp 3 days ago, 2 requests on 80tcp
// 20 days ago.
func luciBacklog(t *testing.T, db string) {
	t.Helper()
	st, err := store.Open(db, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	now, id := time.Now(), int64(1000)
	emit := func(age time.Duration, svc string, port int, ip string, e event.Event) {
		id++
		e.Time, e.Service, e.Port, e.SrcIP, e.SrcPort, e.ConnID = now.Add(-age), svc, port, ip, 40000, id
		st.Emit(&e)
	}
	for i := range 60 {
		emit(time.Hour, "23tcp", 23, fmt.Sprintf("198.51.100.%d", i+1), event.Event{Action: event.Login, Username: "root", Password: fmt.Sprintf("pw%d", i)})
	}
	for range 4 {
		emit(72*time.Hour, "8080tcp", 8080, "203.0.113.8", event.Event{Action: event.Request, Method: "CONNECT", URL: "example.com:443"})
	}
	for range 2 {
		emit(20*24*time.Hour, "80tcp", 80, "203.0.113.80", event.Event{Action: event.Request, Method: "GET", URL: "/old"})
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestLuCIReports: the reports view in LuCI's runtime through the real
// rpcd and ubusd: the chart over 24 hours, 7 and 30 days with a series per
// service matching /stats, dated axes, the events paged with the API's
// cursor, filtered by service, action and address, exported as shown
// (CSV and JSON), attacker markup shown as text, the store's size, both
// purges, the phone width, and a read-only login that cannot purge.
func TestLuCIReports(t *testing.T) {
	b := startBrowser(t, "")
	a := startAgent(t, map[string]string{"fakes.log_credentials": "1"})
	luciBacklog(t, a.DB)
	// A real bot's attempt whose password is markup.
	const pass = `<img src=x onerror=window.__pwned=1>`
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	r, err := bot.Attempt(ctx, a.Addr("23tcp"), "admin", pass)
	cancel()
	if err != nil || r.Outcome != bot.Rejected {
		t.Fatalf("bot attempt: %+v, %v", r, err)
	}
	a.find(t, 1, func(e event.Event) bool { return e.Password == pass })
	// A request repeated on one connection is stored once and as its repeats.
	rawHTTP(t, a.Addr("80tcp"), strings.Repeat("GET /again HTTP/1.1\r\nHost: router\r\n\r\n", 3))
	a.find(t, 1, func(e event.Event) bool { return e.URL == "/again" && e.Count == 2 })
	p := startAPI(t, a)
	l := startLuCI(t, luciOpts{apiSocket: p.Socket})
	l.open(b, "luci-admin", "admin/services/minipot/reports")
	luciReady(t, b, "the reports view renders")
	b.waitFor("the events show", `document.querySelector('#minipot-events')`)

	// The chart: one bar per bucket, each service's part as /stats counts it.
	chart := func(rng string, buckets int) {
		t.Helper()
		b.do(fmt.Sprintf(`(s => { s.value = %q; s.dispatchEvent(new Event('change')); })(document.querySelector('#minipot-range'))`, rng))
		b.waitFor("the chart of "+rng, fmt.Sprintf(`document.querySelectorAll('#minipot-chart g.minipot-bucket').length == %d`, buckets))
		var stats struct {
			Services []struct {
				Service  string
				Attempts int
			}
		}
		p.get(t, "/api/v1/stats?since="+rng+"&until=now", &stats)
		want := map[string]int{}
		for _, s := range stats.Services {
			if s.Attempts > 0 {
				want[s.Service] = s.Attempts
			}
		}
		got := evalJS[map[string]int](b, `(() => { const m = {};
			document.querySelectorAll('#minipot-chart rect[data-service]').forEach(r => m[r.dataset.service] = (m[r.dataset.service] || 0) + +r.dataset.count);
			return m; })()`)
		if !maps.Equal(got, want) {
			t.Errorf("%s: the chart's series %v, /stats %v", rng, got, want)
		}
		if labels := evalJS[[]string](b, `[...document.querySelectorAll('#minipot-chart g.minipot-bucket text')].map(t => t.textContent)`); len(labels) < 4 || !regexp.MustCompile(`\d`).MatchString(labels[0]) {
			t.Errorf("%s: axis labels %q", rng, labels)
		}
		legend := b.text("#minipot-legend")
		for k := range want {
			if !strings.Contains(legend, settings.Services()[slices.IndexFunc(settings.Services(), func(s settings.Service) bool { return s.Key == k })].Label) {
				t.Errorf("%s: the legend %q lacks %s", rng, legend, k)
			}
		}
	}
	chart("24h", 24)
	chart("7d", 28)
	chart("30d", 30)

	// The events of 30 days, 50 a page.
	rows := func() []string {
		return evalJS[[]string](b, `[...document.querySelectorAll('#minipot-events tr.tr:not(.table-titles):not(.placeholder)')].map(tr => tr.textContent)`)
	}
	b.waitFor("the first page", `document.querySelectorAll('#minipot-events tr.tr:not(.table-titles)').length == 50 && !document.querySelector('#minipot-older').disabled`)
	first := rows()
	clickCSS(t, b, "#minipot-older")
	b.waitFor("the second page", `document.querySelector('#minipot-page').textContent == 'Page 2'`)
	second := rows()
	if len(second) == 0 || slices.Contains(first, second[0]) || !evalJS[bool](b, `document.querySelector('#minipot-older').disabled`) {
		t.Errorf("page 2: %d rows, first %q; older enabled: %v", len(second), second, !evalJS[bool](b, `document.querySelector('#minipot-older').disabled`))
	}
	clickCSS(t, b, "#minipot-newer")
	b.waitFor("back on page 1", `document.querySelector('#minipot-page').textContent == 'Page 1'`)
	if again := rows(); !slices.Equal(again, first) {
		t.Errorf("page 1 again differs")
	}

	// Filters, and the export of what is shown.
	filter := func(service, action, addr string, n int) {
		t.Helper()
		b.do(fmt.Sprintf(`document.querySelector('#minipot-filter-service').value = %q, document.querySelector('#minipot-filter-action').value = %q,
			document.querySelector('#minipot-filter-address').value = %q`, service, action, addr))
		// LuCI disables the button until the page came: wait for both.
		b.waitFor("the filter button is ready", `!document.querySelector('#minipot-filter').disabled`)
		clickCSS(t, b, "#minipot-filter")
		b.waitFor(fmt.Sprintf("%d events of %s/%s/%s", n, service, action, addr), fmt.Sprintf(
			`!document.querySelector('#minipot-filter').disabled && document.querySelectorAll('#minipot-events tr.tr:not(.table-titles):not(.placeholder)').length == %d`, n))
	}
	filter("8080tcp", "", "", 4)
	b.do(`document.querySelector('#minipot-filter-service').value = '80tcp', document.querySelector('#minipot-filter-action').value = 'request'`)
	b.waitFor("the filter button is ready", `!document.querySelector('#minipot-filter').disabled`)
	clickCSS(t, b, "#minipot-filter")
	b.waitFor("the repeats show", `!document.querySelector('#minipot-filter').disabled && document.querySelector('#minipot-events').textContent.includes('GET /again (repeated 2 times)')`)
	filter("8080tcp", "request", "", 4)
	filter("", "", "198.51.100.7", 1)
	filter("", "", "192.0.2.1", 0)
	filter("8080tcp", "request", "203.0.113.8", 4)
	exported := evalJS[[]string](b, `['#minipot-export-csv', '#minipot-export-json'].map(s => {
		const x = new XMLHttpRequest(); x.open('GET', document.querySelector(s).href, false); x.send(); return x.responseText; })`)
	if len(exported) != 2 {
		t.Fatalf("export: %q", exported)
	}
	if lines := strings.Split(strings.TrimSpace(exported[0]), "\r\n"); len(lines) != 5 || !strings.HasPrefix(lines[0], "id,time,service") || !strings.Contains(lines[1], `"example.com:443"`) {
		t.Errorf("CSV export:\n%s", exported[0])
	}
	var doc struct {
		Filter map[string]string
		Events []struct{ Service, URL string }
	}
	if err := json.Unmarshal([]byte(exported[1]), &doc); err != nil || len(doc.Events) != 4 || doc.Filter["service"] != "8080tcp" || doc.Events[0].URL != "example.com:443" {
		t.Errorf("JSON export (%v):\n%s", err, exported[1])
	}

	// An address that is none: the API's reason, by its field, and the
	// events stay as they were.
	b.do(`document.querySelector('#minipot-filter-address').value = '<b>not an address'`)
	b.do(`document.querySelector('#minipot-filter-address').dispatchEvent(new KeyboardEvent('keydown', { key: 'Enter' }))`)
	noteShown(t, b, "the bad address is refused", `src_ip: "<b>not an address" is not an IP address`)

	// Attacker markup is text.
	filter("", "login", "", 50)
	shown := evalJS[struct {
		Text  string
		Imgs  int
		Pwned bool
	}](b, `({ Text: document.querySelector('#view').textContent, Imgs: document.querySelectorAll('#view img').length, Pwned: window.__pwned === 1 })`)
	if !strings.Contains(shown.Text, "admin / "+pass) || shown.Imgs != 0 || shown.Pwned {
		t.Errorf("attacker markup: %d <img>, script ran %v, shown as text: %v", shown.Imgs, shown.Pwned, strings.Contains(shown.Text, pass))
	}
	if bad := evalJS[[]string](b, cellsWithoutTitle); len(bad) > 0 {
		t.Errorf("cells without data-title: %q", bad)
	}
	if n := evalJS[int](b, `document.querySelectorAll('.cbi-page-actions').length`); n != 0 {
		t.Errorf("the reports view has %d footers; it saves nothing", n)
	}
	if s := b.text("#minipot-store"); !strings.Contains(s, "of at most") {
		t.Errorf("the store's size: %q", s)
	}

	// A phone: nothing wider than the screen, the chart's text readable.
	atWidth(t, b, 390, true)
	b.navigate(l.page("admin/services/minipot/reports"))
	luciReady(t, b, "the reports render on a phone")
	b.waitFor("the events show", `document.querySelector('#minipot-events')`)
	if h := evalJS[float64](b, `Math.min(...[...document.querySelectorAll('#minipot-chart text')].map(t => t.getBoundingClientRect().height))`); h < 9 {
		t.Errorf("on a phone the chart's text is %.1f px high", h)
	}
	if w := evalJS[int](b, `document.documentElement.scrollWidth`); w > 390 {
		t.Errorf("at 390 px the reports are %d px wide: %v", w, evalJS[[]string](b, `[...document.querySelectorAll('#view *')].filter(e => e.getBoundingClientRect().right > 392).slice(0, 8).map(e => e.tagName + '#' + e.id + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right))`))
	}
	atWidth(t, b, 1100, false)

	// Purge the credentials, then everything.
	clickCSS(t, b, "#minipot-purge-credentials")
	b.waitFor("the confirmation dialog", `document.querySelector('#minipot-purge-confirm')`)
	clickCSS(t, b, "#minipot-purge-confirm")
	noteShown(t, b, "the purge is confirmed", "Stored credentials are deleted.")
	b.waitFor("the password is gone", fmt.Sprintf(`!document.querySelector('#view').textContent.includes(%q)`, pass))
	clickCSS(t, b, "#minipot-purge-all")
	b.waitFor("the confirmation dialog", `document.querySelector('#minipot-purge-confirm')`)
	clickCSS(t, b, "#minipot-purge-confirm")
	noteShown(t, b, "the purge is confirmed", "All events are deleted.")
	b.waitFor("the events are gone", `document.querySelector('#minipot-events tr.placeholder') && !document.querySelector('#minipot-top-sources').textContent.includes('198.51.100')`)
	if _, denied := l.callLog(); len(denied) > 0 {
		t.Errorf("the ACL refused %v", denied)
	}
	if len(b.pageErrors()) > 0 {
		t.Errorf("page errors: %v", b.pageErrors())
	}

	// The read-only login sees the reports and cannot purge.
	l.open(b, "luci-viewer", "admin/services/minipot/reports")
	luciReady(t, b, "the read-only reports render")
	b.waitFor("the events show", `document.querySelector('#minipot-events')`)
	if n := evalJS[int](b, `[...document.querySelectorAll('#minipot-purge-credentials, #minipot-purge-all')].filter(e => !e.disabled).length`); n != 0 {
		t.Errorf("read-only: %d purge buttons enabled", n)
	}
}

// TestLuCIExportBlock: the settings view's export section shows the real
// exporter's state (real mosquitto, real exporter) through LuCI's runtime
// and the real rpcd and ubusd, and its switch saves section export.
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
	l := startLuCI(t, luciOpts{apiSocket: p.Socket})
	l.open(b, "luci-admin", "admin/services/minipot/settings")
	luciReady(t, b, "the settings view renders")
	b.waitFor("the export state shows", `(document.querySelector('#minipot-export-state td[data-title="Connected"]') || {}).textContent == 'Yes'`)
	state := evalJS[map[string]string](b, `Object.fromEntries([...document.querySelectorAll('#minipot-export-state td')].map(td => [td.dataset.title, td.textContent]))`)
	want := map[string]string{"Sensor": "luci-sensor", "Connected": "Yes", "Events waiting": "0", "Events lost to retention": "0", "Last error": "None"}
	for k, v := range want {
		if state[k] != v {
			t.Errorf("export state %q: %q, want %q (%v)", k, state[k], v, state)
		}
	}
	if !evalJS[bool](b, `document.querySelector('#cbi-json-export-enabled input[type=checkbox]').checked`) {
		t.Error("the export switch shows off")
	}
	b.do(`document.querySelector('#cbi-json-export-enabled input[type=checkbox]').click()`)
	clickCSS(t, b, ".cbi-page-actions .cbi-button-apply li[display]")
	noteShown(t, b, "the save is confirmed", "The settings are saved and in effect.")
	if conf := readFile(t, filepath.Join(a.Dir, "ucollect")); !regexp.MustCompile(`config export 'export'\n(\t[^\n]*\n)*\toption enabled '0'`).MatchString(conf) {
		t.Errorf("the file after switching export off:\n%s", conf)
	}
	b.waitFor("the state says export is off", `document.querySelector('#minipot-export-state').textContent.includes('Export is off')`)
	if errs := b.pageErrors(); len(errs) > 0 {
		t.Errorf("page errors: %v", errs)
	}
}

// TestLuCIServicesFromAPI: the settings view lists the services /status
// lists, in its order, and shows each state as /status words it (a proxy
// in front of the real API adds a service and says a real service owns
// port 80; TestLuCISettings runs the same view against the API as it is).
func TestLuCIServicesFromAPI(t *testing.T) {
	b := startBrowser(t, "")
	a := startAgent(t, nil)
	p := startAPI(t, a)
	l := startLuCI(t, luciOpts{apiSocket: editingSocket(t, p)})
	l.open(b, "luci-admin", "admin/services/minipot/settings")
	luciReady(t, b, "the settings view renders")
	keys := evalJS[[]string](b, `[...document.querySelectorAll('tr[data-section-id]')].map(tr => tr.dataset.sectionId)`)
	if len(keys) != len(settings.Services())+1 || keys[0] != "23tcp" || keys[1] != addedKey {
		t.Errorf("the view lists %v, want %s second", keys, addedKey)
	}
	row := func(k string) []string {
		return evalJS[[]string](b, fmt.Sprintf(`(tr => [tr.querySelector('[data-name=label] output').textContent, tr.querySelector('[data-name=port] output').textContent,
			tr.querySelector('[id^=minipot-status-] strong').textContent, tr.querySelector('[id^=minipot-status-]').dataset.state,
			tr.querySelector('[id^=minipot-status-]').textContent])(document.querySelector('tr[data-section-id=%q]'))`, k))
	}
	if got := row(addedKey); !slices.Equal(got[:4], []string{addedLabel, "2121", addedText, "reachable"}) {
		t.Errorf("the added service shows %q", got)
	}
	if got := row("80tcp"); got[2] != realText || got[3] != "real_service" || !strings.Contains(got[4], "ipv4: Allow-HTTP accepts it") {
		t.Errorf("80tcp shows %q, want %q as real_service with its detail", got, realText)
	}
	if errs := b.pageErrors(); len(errs) > 0 {
		t.Errorf("page errors: %v", errs)
	}
}

// TestLuCIWithoutAPI: with no API behind the plugin, each view says so,
// with the plugin's reason, instead of failing in LuCI's error box.
func TestLuCIWithoutAPI(t *testing.T) {
	b := startBrowser(t, "")
	l := startLuCI(t, luciOpts{apiSocket: filepath.Join(t.TempDir(), "no-api.sock")})
	l.open(b, "luci-admin", "admin/services/minipot/settings")
	luciReady(t, b, "the settings view renders")
	if msg := b.text("#minipot-unavailable pre"); !strings.Contains(msg, "is `minipot api` running?") {
		t.Errorf("settings without the API say %q", msg)
	}
	b.navigate(l.page("admin/services/minipot/reports"))
	luciReady(t, b, "the reports view renders")
	b.waitFor("the reason shows", `document.querySelector('#minipot-stats').textContent.includes('is \x60minipot api\x60 running?')`)
	if errs := b.pageErrors(); len(errs) > 0 {
		t.Errorf("page errors: %v", errs)
	}
}

package tests

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/minipot/minipot/agent/telnet/bot"
	"github.com/minipot/minipot/internal/event"
	"github.com/minipot/minipot/internal/settings"
	"github.com/minipot/minipot/internal/store"
	"github.com/minipot/minipot/internal/uci"
)

// Attacker text that would run if the page ever treated it as HTML.
const (
	xssURL = `/<script>window.__pwned=1</script>`
	xssUA  = `<img src=x onerror="window.__pwned=2">`
)

// TestUIPage drives the Data collection page served by a real `minipot
// api` in headless chromium, beside a real agent: every switch changes
// the UCI file and the agent's listeners, a telnet attack made during the
// test shows up in the attacks panel, attacker text stays text, and the
// purge works.
func TestUIPage(t *testing.T) {
	b := startBrowser(t, "MINIPOT_UI_SCREENSHOT")
	a := startAgent(t, map[string]string{"fakes.log_credentials": "0"})
	p := startAPI(t, a)
	const token = "e2e-token-0123456789abcdef"

	load := func() settings.Settings {
		t.Helper()
		s, err := settings.Load(uci.Dir{Path: a.Dir})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	listening := func(keys ...string) func() (bool, string) {
		return func() (bool, string) {
			for _, key := range settings.Services() {
				want := slices.Contains(keys, key.Key)
				if listens(a.Addr(key.Key)) != want {
					return false, fmt.Sprintf("%s listening: %v, want %v", key.Key, !want, want)
				}
			}
			return true, ""
		}
	}
	var all []string
	for _, svc := range settings.Services() {
		all = append(all, svc.Key)
	}

	url := "http://" + p.Addr + "/#token=" + token
	if err := b.run(20*time.Second, chromedp.Navigate(url)); err != nil {
		t.Fatalf("open %s: %v", url, err)
	}
	b.waitFor("the page loads", `document.body.dataset.ready === "1"`)
	loc := evalJS[string](b, `location.href`)
	if strings.Contains(loc, "token") {
		t.Errorf("the token stays in the address bar: %s", loc)
	}
	if !evalJS[bool](b, `document.getElementById("enabled").checked`) {
		t.Error("the master switch shows off")
	}
	if evalJS[bool](b, `document.getElementById("log_credentials").checked`) {
		t.Error("collect credentials shows on")
	}
	// The services, their order and each one's state are /status's: this
	// agent listens on loopback, which the state says in words.
	var st struct {
		Services []struct {
			Key, Label string
			State      struct{ Code, Text string }
		}
	}
	p.get(t, "/api/v1/status", &st)
	shownKeys := evalJS[[]string](b, `[...document.querySelectorAll("#services tbody tr")].map(tr => tr.dataset.service)`)
	var apiKeys []string
	for _, s := range st.Services {
		apiKeys = append(apiKeys, s.Key)
		shown := evalJS[[]string](b, fmt.Sprintf(`(tr => [tr.querySelector("label").textContent, tr.querySelector(".state").textContent, tr.querySelector(".state").dataset.state])(document.querySelector("#services tr[data-service='%s']"))`, s.Key))
		if len(shown) != 3 || shown[0] != s.Label || shown[1] != s.State.Text || shown[2] != s.State.Code {
			t.Errorf("%s shows %q, /status says %q, %q, %q", s.Key, shown, s.Label, s.State.Text, s.State.Code)
		}
	}
	if !slices.Equal(shownKeys, apiKeys) {
		t.Errorf("the page lists %v, /status %v", shownKeys, apiKeys)
	}
	if txt := b.text("#services tr[data-service='23tcp'] .state"); !strings.Contains(txt, "listens on loopback ("+a.Host+") only") {
		t.Errorf("Telnet 23 status: %q", txt)
	}

	// Collect credentials.
	b.click("#log_credentials")
	if !load().LogCredentials {
		t.Fatal("collect credentials: fakes.log_credentials is not 1 in the file")
	}

	// Each service the page shows, off and on again.
	shown := evalJS[[]string](b, `Array.from(document.querySelectorAll("#services tr[data-service]")).map(r => r.dataset.service)`)
	if len(shown) == 0 {
		t.Fatal("the page shows no service")
	}
	for _, key := range shown {
		if !slices.Contains(all, key) {
			t.Errorf("the page shows %s, which is no service", key)
		}
	}
	for _, key := range shown {
		box := "#svc-" + key
		b.click(box)
		if s := load(); s.ServiceEnabled(key) {
			t.Fatalf("%s unticked: still enabled in the file (disable %v)", key, s.Disabled)
		}
		others := slices.DeleteFunc(slices.Clone(all), func(k string) bool { return k == key })
		eventually(t, 10*time.Second, key+" stops listening", listening(others...))
		b.waitFor(key+" shows off", fmt.Sprintf(`(s => s.textContent === "Off: this minipot is switched off." && s.dataset.state === "off")(document.querySelector("#services tr[data-service='%s'] .state"))`, key))
		b.click(box)
		if !load().ServiceEnabled(key) {
			t.Fatalf("%s ticked: not enabled in the file", key)
		}
		eventually(t, 10*time.Second, key+" listens again", listening(all...))
	}

	// The master switch.
	b.click("#enabled")
	if load().Enabled {
		t.Fatal("master switch off: fakes.enabled is still 1")
	}
	eventually(t, 10*time.Second, "nothing listens", listening())
	b.waitFor("services show data collection off", `[...document.querySelectorAll("#services .state")].every(s => s.textContent === "Off: data collection is switched off.")`)
	b.click("#enabled")
	if !load().Enabled {
		t.Fatal("master switch on: fakes.enabled is not 1")
	}
	eventually(t, 10*time.Second, "every fake listens", listening(all...))

	// Someone else changes the file: the page's next change is refused
	// (412), and it says so and shows the file as it is.
	a.UCI("add_list", "ucollect.fakes.disable=8123tcp")
	a.UCI("commit", "ucollect")
	b.click("#svc-2323tcp")
	if s := load(); !s.ServiceEnabled("2323tcp") || s.ServiceEnabled("8123tcp") {
		t.Errorf("after a conflicting change: disabled %v, want only 8123tcp", s.Disabled)
	}
	if txt := b.text("#notice"); !strings.Contains(txt, "Someone else changed the settings") {
		t.Errorf("the page does not tell about the conflict: %q", txt)
	}
	b.waitFor("the page shows the file as it is", `document.getElementById("svc-2323tcp").checked && !document.getElementById("svc-8123tcp").checked`)
	// That change was made with uci, without reload_config: the page
	// offers to apply it.
	b.waitFor("the page offers to apply", `!document.getElementById("apply").hidden`)
	b.click("#apply")
	eventually(t, 10*time.Second, "8123tcp stops listening once applied",
		listening(slices.DeleteFunc(slices.Clone(all), func(k string) bool { return k == "8123tcp" })...))
	b.waitFor("the agent shows in sync", `document.getElementById("apply").hidden`)

	// An attack made now shows up in the panel; attacker text stays text.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	r, err := bot.Attempt(ctx, a.Addr("23tcp"), "root", "xc3511")
	cancel()
	if err != nil || r.Outcome != bot.Rejected {
		t.Fatalf("telnet attempt: %+v, %v", r, err)
	}
	// Three times on one connection: stored once, then as its 2 repeats.
	rawHTTP(t, a.Addr("80tcp"), strings.Repeat("GET "+xssURL+" HTTP/1.1\r\nHost: router\r\nUser-Agent: "+xssUA+"\r\n\r\n", 3))
	a.find(t, 1, logins("23tcp"))
	a.find(t, 1, func(e event.Event) bool { return e.Service == "80tcp" && e.UserAgent == xssUA && e.Count == 2 })
	eventually(t, 15*time.Second, "the attacks panel shows the attempts", func() (bool, string) {
		if err := b.run(5*time.Second, chromedp.Click(chromedp.CSS("#refresh"))); err != nil {
			return false, err.Error()
		}
		time.Sleep(300 * time.Millisecond)
		events, sources, pairs := b.text("#events tbody"), b.text("#top-sources tbody"), b.text("#top-pairs tbody")
		ok := strings.Contains(events, "user root / password xc3511") && strings.Contains(events, xssURL) &&
			strings.Contains(events, "User-Agent: "+xssUA) && strings.Contains(events, "repeated 2 times") &&
			strings.Contains(sources, "127.0.0.1") &&
			strings.Contains(pairs, "xc3511")
		return ok, fmt.Sprintf("events %q, sources %q, credentials %q", tail(events, 600), sources, pairs)
	})
	pwned := evalJS[int](b, `window.__pwned === undefined ? 0 : window.__pwned`)
	imgs := evalJS[int](b, `document.querySelectorAll("main img, main script").length`)
	if pwned != 0 || imgs != 0 {
		t.Errorf("attacker text ran: __pwned=%d, %d img/script elements in the page", pwned, imgs)
	}
	if bars := evalJS[int](b, `document.querySelectorAll("#chart svg g.bucket").length`); bars < 24 {
		t.Errorf("the chart has %d hourly bars, want 24 or more", bars)
	}
	if txt := b.text("#chart-caption"); strings.Contains(txt, ": 0 in all") {
		t.Errorf("the chart counts no attempts: %q", txt)
	}

	// Purge the credentials, confirming in the dialog.
	b.click("#purge-credentials")
	b.waitFor("the confirmation opens", `document.getElementById("confirm").open`)
	b.click("#confirm-ok")
	b.waitFor("the panel has no credentials", `!document.querySelector("#top-pairs tbody").textContent.includes("xc3511")`)
	var page struct {
		Events []struct{ Username, Password string }
	}
	p.get(t, "/api/v1/events?limit=1000", &page)
	for _, e := range page.Events {
		if e.Username != "" || e.Password != "" {
			t.Errorf("credentials left after the purge: %+v", e)
		}
	}

	// The page itself, fetched as the browser did: no token needed, a
	// strict CSP; and nothing was refused by it.
	resp, err := http.Get("http://" + p.Addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(resp.Header.Get("Content-Security-Policy"), "default-src 'self'") {
		t.Errorf("GET / without a token: %s, CSP %q", resp.Status, resp.Header.Get("Content-Security-Policy"))
	}
	if violations := evalJS[string](b, `document.body.dataset.cspViolations`); violations != "0" {
		t.Errorf("%s CSP violations on the page", violations)
	}
	// Without the token the page asks for it, and works once given it.
	evalJS[bool](b, `sessionStorage.clear(), location.reload(), true`)
	b.waitFor("the page asks for the token", `!document.getElementById("token-form").hidden && document.getElementById("main").hidden`)
	// It tells a router's owner where the token is, and the developer too.
	tokenText := b.text("#token-form")
	for _, want := range []string{"--token-file", "/etc/minipot/api.token", "ssh root@", "make run", "var/api.token"} {
		if !strings.Contains(tokenText, want) {
			t.Errorf("the token screen does not say %q: %q", want, tokenText)
		}
	}
	if err := b.run(10*time.Second, chromedp.SendKeys(chromedp.CSS("#token-input"), token), chromedp.Click(chromedp.CSS("#token-form button"))); err != nil {
		t.Fatal(err)
	}
	b.waitFor("the page loads with the typed token", `document.body.dataset.ready === "1" && !document.getElementById("main").hidden`)

	// The refused requests the test provoked (412, 401) are no errors.
	errs := slices.DeleteFunc(b.pageErrors(), func(e string) bool {
		return strings.Contains(e, "status of 412") || strings.Contains(e, "status of 401")
	})
	if len(errs) > 0 {
		t.Errorf("the page reported errors:\n%s", strings.Join(errs, "\n"))
	}
}

// TestUIPageFollowsStatus: the page lists the services /status lists, in
// its order, with its labels and ports, and shows each state's words as
// given: through a proxy that adds a service and says a real service owns
// port 80, the page shows both without knowing either.
func TestUIPageFollowsStatus(t *testing.T) {
	b := startBrowser(t, "MINIPOT_UI_STATE_SCREENSHOT")
	a := startAgent(t, nil)
	p := startAPI(t, a)
	srv := httptest.NewServer(editingProxy(t, func(ctx context.Context) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "tcp", p.Addr)
	}, p.Addr))
	defer srv.Close()
	if err := b.run(20*time.Second, chromedp.Navigate(srv.URL+"/#token=e2e-token-0123456789abcdef")); err != nil {
		t.Fatal(err)
	}
	b.waitFor("the page loads", `document.body.dataset.ready === "1"`)
	keys := evalJS[[]string](b, `[...document.querySelectorAll("#services tbody tr")].map(tr => tr.dataset.service)`)
	want := []string{"23tcp", addedKey}
	for _, s := range settings.Services()[1:] {
		want = append(want, s.Key)
	}
	if !slices.Equal(keys, want) {
		t.Errorf("the page lists %v, want %v", keys, want)
	}
	row := func(key string) []string {
		return evalJS[[]string](b, fmt.Sprintf(`(tr => [...tr.querySelectorAll("td")].slice(1).map(td => td.textContent).concat([tr.querySelector(".state").dataset.state, String(tr.querySelector("input").checked)]))(document.querySelector("#services tr[data-service='%s']"))`, key))
	}
	if got, want := row(addedKey), []string{addedLabel, "2121 → 3490", addedText, "reachable", "true"}; !slices.Equal(got, want) {
		t.Errorf("the added service shows %q, want %q", got, want)
	}
	if got := row("80tcp"); len(got) != 5 || got[2] != realText || got[3] != "real_service" {
		t.Errorf("80tcp shows %q, want %q as real_service", got, realText)
	}
	if title := evalJS[string](b, `document.querySelector("#services tr[data-service='80tcp'] .state").title`); title != "ipv4: Allow-HTTP accepts it" {
		t.Errorf("80tcp's detail: %q", title)
	}
}

// rawHTTP sends one request as given and reads the answer.
func rawHTTP(t *testing.T, addr, req string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Read(make([]byte, 512)); err != nil {
		t.Fatalf("answer to %q: %v", req, err)
	}
}

// TestUIExportBlock: the built-in page shows the exporter's state (real
// mosquitto, real exporter) and its switches change section export.
func TestUIExportBlock(t *testing.T) {
	br := startBroker(t, map[string]string{"r0": "p0"})
	a := exportAgent(t, br, "r0", "p0", map[string]string{"export.sensor_id": "ui-sensor"})
	writeBacklog(t, a.DB, "ui", 20)
	x := startExporter(t, a.Dir)
	eventually(t, 15*time.Second, "exported", func() (bool, string) {
		st, err := x.Status()
		return err == nil && st.MQTT.Connected && st.MQTT.Waiting == 0 && st.MQTT.Sent > 0, fmt.Sprintf("%+v %v", st.MQTT, err)
	})
	p := startAPI(t, a)
	b := startBrowser(t, "")
	b.navigate("http://" + p.Addr + "/#token=e2e-token-0123456789abcdef")
	b.waitFor("the page loads", `document.body.dataset.ready === "1"`)
	b.waitFor("the export block shows the exporter", `document.getElementById("export-connected").textContent === "yes"`)
	if txt := b.text("#export-sensor"); txt != "ui-sensor" {
		t.Errorf("sensor shown: %q", txt)
	}
	if txt := b.text("#export-waiting"); txt != "0" {
		t.Errorf("waiting shown: %q", txt)
	}
	if txt := b.text("#export-last"); txt == "never" || txt == "–" {
		t.Errorf("last export shown: %q", txt)
	}
	if !evalJS[bool](b, `document.getElementById("export-enabled").checked`) || evalJS[bool](b, `document.getElementById("export-credentials").checked`) {
		t.Error("the switches do not show the file")
	}
	load := func() settings.Settings {
		s, err := settings.Load(uci.Dir{Path: a.Dir})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	b.click("#export-credentials")
	if !load().Export.Credentials {
		t.Error("the credentials switch did not set export.credentials")
	}
	b.click("#export-enabled")
	if load().Export.Enabled {
		t.Fatal("the export switch did not clear export.enabled")
	}
	// The exporter follows the file by itself, and the page says so.
	b.waitFor("the page shows export off", `document.getElementById("export-connected").textContent === "export is off"`)
}

// seedEvents writes n events of several services, actions and addresses,
// one every step and a minute (the newest now), into the agent's store,
// with attacker text a spreadsheet or a CSV parser would trip on.
func seedEvents(t *testing.T, a *agentProc, n int, step time.Duration) {
	t.Helper()
	st, err := store.Open(a.DB, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	srcs := []string{"198.51.100.7", "203.0.113.9", "2001:db8::5", "2001:db8:1234:5678:9abc:def0:1234:5678"}
	now := time.Now()
	for i := range n {
		e := &event.Event{Time: now.Add(-time.Duration(i) * (step + time.Minute)), SrcIP: srcs[i%len(srcs)],
			SrcPort: 40000 + i, ConnID: int64(1000 + i), Count: 1}
		switch i % 5 {
		case 0:
			e.Service, e.Port, e.Action, e.Username, e.Password = "23tcp", 23, event.Login, "root", fmt.Sprintf("pw-%d", i)
		case 1:
			e.Service, e.Port, e.Action, e.Method, e.URL, e.Host = "80tcp", 80, event.Request, "GET", fmt.Sprintf("/cgi-bin/a,b\"%d", i), "router"
			if i%3 == 0 {
				e.URL += "?" + strings.Repeat("x", 300) // one word wider than any screen
			}
			e.UserAgent = `=HYPERLINK("http://x.example/` + fmt.Sprint(i) + `")`
		case 2:
			e.Service, e.Port, e.Action, e.Method, e.URL = "3128tcp", 3128, event.Request, "CONNECT", "example.com:443"
			e.UserAgent = "line one\nline two"
		case 3:
			e.Service, e.Port, e.Action, e.Username, e.Password = "22tcp", 22, event.Login, "admin", "-1+1"
		case 4:
			e.Service, e.Port, e.Action = "23tcp", 23, event.Connect
		}
		st.Emit(e)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	if st.Dropped() != 0 {
		t.Fatalf("seed: %d events dropped", st.Dropped())
	}
	chownNobody(t, a.Dir)
}

// apiEvents walks every page of /events with a filter, as a script would.
func apiEvents(t *testing.T, p *apiProc, filter url.Values) []map[string]any {
	t.Helper()
	var all []map[string]any
	cursor := ""
	for {
		q := url.Values{}
		for k, v := range filter {
			q[k] = v
		}
		q.Set("limit", "1000")
		if cursor != "" {
			q.Set("cursor", cursor)
		}
		var page struct {
			Events     []map[string]any `json:"events"`
			NextCursor string           `json:"next_cursor"`
		}
		p.get(t, "/api/v1/events?"+q.Encode(), &page)
		all = append(all, page.Events...)
		if page.NextCursor == "" {
			return all
		}
		cursor = page.NextCursor
	}
}

func eventIDs(evs []map[string]any) []int64 {
	ids := make([]int64, len(evs))
	for i, e := range evs {
		ids[i] = int64(e["id"].(float64))
	}
	return ids
}

// pageLayoutProblems is JavaScript listing what does not fit the screen:
// a document wider than the viewport, text squeezed to a letter or two per
// line, chart labels under 11 px as drawn.
const pageLayoutProblems = `(() => {
  const bad = [];
  const vw = window.innerWidth;
  const de = document.documentElement;
  if (de.scrollWidth > vw || document.body.scrollWidth > vw) bad.push("document " + de.scrollWidth + " px wide in a " + vw + " px viewport");
  for (const e of document.querySelectorAll("main *, header *, #config-problems *")) {
    if (!e.offsetParent && getComputedStyle(e).position !== "fixed") continue;
    const r = e.getBoundingClientRect();
    if (r.right > vw + 0.5 && !e.closest(".chart")) bad.push(e.tagName + "#" + e.id + "." + e.className + " ends at " + Math.round(r.right) + " px");
    const direct = [...e.childNodes].filter(n => n.nodeType === 3).map(n => n.textContent).join("").trim();
    if (direct.length < 6) continue;
    const cs = getComputedStyle(e);
    const fs = parseFloat(cs.fontSize), lh = parseFloat(cs.lineHeight) || fs * 1.45;
    if (r.height > 3.5 * lh && r.width < 3 * fs) bad.push(e.tagName + " " + JSON.stringify(direct.slice(0, 30)) + " squeezed to " + Math.round(r.width) + " px");
  }
  const svg = document.querySelector("#chart svg");
  if (!svg) { bad.push("no chart"); return bad; }
  const scale = svg.getBoundingClientRect().width / svg.viewBox.baseVal.width;
  for (const t of svg.querySelectorAll("text")) {
    const px = parseFloat(getComputedStyle(t).fontSize) * scale;
    if (px < 11) bad.push("chart label " + JSON.stringify(t.textContent) + " drawn at " + px.toFixed(1) + " px");
  }
  const boxes = [...svg.querySelectorAll("text.xlabel")].map(t => [t.textContent, t.getBoundingClientRect()]);
  for (let i = 1; i < boxes.length; i++) {
    if (boxes[i][1].left < boxes[i - 1][1].right) bad.push("chart labels " + JSON.stringify(boxes[i - 1][0]) + " and " + JSON.stringify(boxes[i][0]) + " overlap");
  }
  if (svg.getBoundingClientRect().right > vw) bad.push("the chart ends at " + svg.getBoundingClientRect().right + " px");
  return bad;
})()`

// TestUIPageViews drives the page over a seeded store at phone widths
// (360, 390 px), on a tablet (768 px) and at desktop width (1280 px): nothing overflows, the
// chart's range switches its dated axis and its per-service series (as
// /stats counts them), the events page through the whole store, each
// filter narrows as the API does, and the downloads hold exactly the
// filtered events.
func TestUIPageViews(t *testing.T) {
	b := startBrowser(t, "MINIPOT_UI_VIEWS_SCREENSHOT")
	a := startAgent(t, nil)
	seedEvents(t, a, 160, 4*time.Hour) // over 27 days
	p := startAPI(t, a)
	downloads := t.TempDir()
	b.downloadsTo(downloads)
	all := apiEvents(t, p, nil)
	if len(all) < 160 {
		t.Fatalf("the API lists %d events, want the 160 seeded at least", len(all))
	}
	open := func() {
		t.Helper()
		b.navigate("about:blank") // a new document, not a jump to the fragment
		b.navigate("http://" + p.Addr + "/#token=e2e-token-0123456789abcdef")
		b.waitFor("the page loads", `document.body.dataset.ready === "1"`)
	}

	type bucket struct {
		Start string         `json:"start"`
		Total int            `json:"total"`
		Segs  map[string]int `json:"segs"`
	}
	type chart struct {
		Since   string         `json:"since"`
		Buckets []bucket       `json:"buckets"`
		Labels  []string       `json:"labels"`
		Legend  map[string]int `json:"legend"`
	}
	chartState := func() (since string, buckets []bucket, labels []string, legend map[string]int) {
		t.Helper()
		s := evalJS[chart](b, `(() => ({
  since: document.getElementById("chart").dataset.since,
  buckets: [...document.querySelectorAll("#chart g.bucket")].map(g => ({ start: g.dataset.start, total: +g.dataset.total,
    segs: Object.fromEntries([...g.querySelectorAll("rect.seg")].map(r => [r.dataset.service, +r.dataset.count])) })),
  labels: [...document.querySelectorAll("#chart text.xlabel")].map(t => t.textContent),
  legend: Object.fromEntries([...document.querySelectorAll("#legend li[data-service]")].map(li => [li.dataset.service, +li.dataset.count])),
}))()`)
		return s.Since, s.Buckets, s.Labels, s.Legend
	}
	var svcStatus struct {
		Services []struct{ Key, Label string }
	}
	p.get(t, "/api/v1/status", &svcStatus)
	svcLabels := map[string]string{}
	for _, s := range svcStatus.Services {
		svcLabels[s.Key] = s.Label
	}
	// checkRange switches the chart and compares it with /stats over the
	// window the page asked for.
	checkRange := func(r string, bars int) []string {
		t.Helper()
		b.click(fmt.Sprintf(`[data-range="%s"]`, r))
		b.waitFor("the chart shows "+r, fmt.Sprintf(`document.getElementById("chart").dataset.range === %q`, r))
		since, buckets, labels, legend := chartState()
		var st struct {
			Services []struct {
				Service  string
				Attempts int
			}
		}
		p.get(t, "/api/v1/stats?since="+url.QueryEscape(since), &st)
		want := map[string]int{}
		for _, s := range st.Services {
			if s.Attempts > 0 {
				want[s.Service] = s.Attempts
			}
		}
		if !maps.Equal(legend, want) {
			t.Errorf("%s: the legend shows %v, /stats?since=%s counts %v", r, legend, since, want)
		}
		// Each series named by its label, with a fill of its own.
		named := evalJS[[][]string](b, `[...document.querySelectorAll("#legend li[data-service]")].map(li => [li.dataset.service, li.textContent, li.querySelector("rect").getAttribute("fill")])`)
		fills := map[string]bool{}
		for _, n := range named {
			if want := svcLabels[n[0]] + ": " + fmt.Sprint(legend[n[0]]); n[1] != want {
				t.Errorf("%s: legend entry %q, want %q", r, n[1], want)
			}
			fills[n[2]] = true
		}
		if len(fills) != len(named) {
			t.Errorf("%s: %d series share %d fills: %q", r, len(named), len(fills), named)
		}
		sums := map[string]int{}
		for _, bk := range buckets {
			n := 0
			for k, c := range bk.Segs {
				sums[k] += c
				n += c
			}
			if n != bk.Total {
				t.Errorf("%s: bar %s stacks %d, totals %d", r, bk.Start, n, bk.Total)
			}
		}
		if !maps.Equal(sums, want) {
			t.Errorf("%s: the bars stack %v, /stats counts %v", r, sums, want)
		}
		if bars > 0 && len(buckets) != bars {
			t.Errorf("%s: %d bars, want %d", r, len(buckets), bars)
		}
		// Each bar one step after the other (a day or an hour, DST
		// allowed), the last one holding now.
		step := time.Hour
		if bars > 0 {
			step = 24 * time.Hour
		}
		var starts []time.Time
		for _, bk := range buckets {
			ts, err := time.Parse(time.RFC3339, bk.Start)
			if err != nil {
				t.Fatalf("%s: bar start %q: %v", r, bk.Start, err)
			}
			starts = append(starts, ts)
		}
		for i := 1; i < len(starts); i++ {
			if d := starts[i].Sub(starts[i-1]); d < step-time.Hour || d > step+time.Hour {
				t.Errorf("%s: bars %s and %s are %v apart, want %v", r, starts[i-1], starts[i], d, step)
			}
		}
		if len(starts) > 0 {
			if last := starts[len(starts)-1]; time.Now().Before(last) || time.Since(last) > step+time.Hour {
				t.Errorf("%s: the last bar starts %s, not holding now", r, last)
			}
		}
		if bad := evalJS[[]string](b, pageLayoutProblems); len(bad) > 0 {
			t.Errorf("%s:\n%s", r, strings.Join(bad, "\n"))
		}
		// A tap on the fullest bar writes its counts under the chart.
		fullest := 0
		for i, bk := range buckets {
			if bk.Total > buckets[fullest].Total {
				fullest = i
			}
		}
		if len(buckets) > 0 && buckets[fullest].Total > 0 {
			bk := buckets[fullest]
			b.click(fmt.Sprintf(`#chart g.bucket[data-start="%s"] rect.hit`, bk.Start))
			detail := b.text("#chart-detail")
			if !strings.Contains(detail, fmt.Sprintf(": %d attempts (", bk.Total)) {
				t.Errorf("%s: tapping the bar of %s (%d attempts) shows %q", r, bk.Start, bk.Total, detail)
			}
			for k, c := range bk.Segs {
				if !strings.Contains(detail, fmt.Sprintf("%s %d", svcLabels[k], c)) {
					t.Errorf("%s: the bar's detail %q lacks %s %d", r, detail, svcLabels[k], c)
				}
			}
		}
		if len(labels) < 3 {
			t.Errorf("%s: %d axis labels %q, want 3 or more", r, len(labels), labels)
		}
		return labels
	}

	// The phone at 390 px is set up in Adelaide (UTC+9:30 or +10:30: hours do not
	// start on the clock there) and in German; the tablet prefers dark
	// pages; the desktop is in New York.
	for _, w := range []struct {
		width, height int
		mobile        bool
		zone, locale  string
		dark          bool
	}{{360, 740, true, "", "", false}, {390, 844, true, "Australia/Adelaide", "de_DE", false}, {768, 1024, true, "", "", true}, {1280, 900, false, "America/New_York", "en_US", false}} {
		parent := t
		t.Run(fmt.Sprint(w.width), func(t *testing.T) {
			b.t = t
			defer func() { b.t = parent }()
			b.viewport(w.width, w.height, w.mobile)
			if w.zone != "" {
				b.zoneAndLocale(w.zone, w.locale)
			}
			b.colorScheme(map[bool]string{true: "dark", false: "light"}[w.dark])
			open()
			// Dark text on a light page, or light on a dark one.
			lum := evalJS[[]float64](b, `[document.documentElement, document.querySelector(".card")].flatMap(e => {
  const l = c => { const [r, g, b] = c.match(/[\d.]+/g).map(Number); return (0.2126 * r + 0.7152 * g + 0.0722 * b) / 255; };
  const cs = getComputedStyle(e);
  return [l(cs.backgroundColor), l(cs.color)];
})`)
			for i := 0; i+1 < len(lum); i += 2 {
				if bg, fg := lum[i], lum[i+1]; w.dark != (bg < fg) || math.Abs(bg-fg) < 0.5 {
					t.Errorf("dark %v: background luminance %.2f, text %.2f", w.dark, bg, fg)
				}
			}
			if w.zone != "" {
				if got := evalJS[[]string](b, `[TIME_ZONE, FMT.dateTime.resolvedOptions().locale]`); got[0] != w.zone || !strings.HasPrefix(got[1], w.locale[:2]) {
					t.Errorf("the page writes times in %q, want %s, %s", got, w.zone, w.locale)
				}
				if txt := b.text("#chart-caption"); !strings.Contains(txt, w.zone) {
					t.Errorf("the caption does not name the time zone: %q", txt)
				}
			}
			if vw := evalJS[int](b, `window.innerWidth`); vw != w.width {
				t.Errorf("the page lays out %d px wide in a %d px viewport", vw, w.width)
			}
			if bad := evalJS[[]string](b, pageLayoutProblems); len(bad) > 0 {
				t.Errorf("at %d px:\n%s", w.width, strings.Join(bad, "\n"))
			}
			day := checkRange("24h", 0)
			week := checkRange("7d", 7)
			month := checkRange("30d", 30)
			if slices.Equal(day, week) || slices.Equal(week, month) {
				t.Errorf("the axis keeps its labels across ranges: 24h %q, 7d %q, 30d %q", day, week, month)
			}
			if bad := evalJS[[]string](b, pageLayoutProblems); len(bad) > 0 {
				t.Errorf("at %d px with 30 days:\n%s", w.width, strings.Join(bad, "\n"))
			}
			// One time format: every time shown is the page's own
			// Intl format of the instant it names.
			if bad := evalJS[[]string](b, `[...document.querySelectorAll("time")].filter(e => e.textContent !== FMT.dateTime.format(new Date(e.dateTime))).map(e => e.textContent)`); len(bad) > 0 {
				t.Errorf("times not in the page's format: %q", bad)
			}
			if n, want := evalJS[int](b, `document.querySelectorAll("#events time.dt").length`), map[bool]int{true: 20, false: 50}[w.width <= 640]; n != want {
				t.Errorf("the first page shows %d events, want %d at %d px", n, want, w.width)
			}
			if n, want := evalJS[int](b, `document.querySelectorAll("#top-urls tbody tr").length`), map[bool]int{true: 5, false: 10}[w.width <= 640]; n != want {
				t.Errorf("the top URLs list %d, want %d at %d px", n, want, w.width)
			}
			// MINIPOT_UI_VIEWS_SHOTS names a folder for screenshots of the
			// first screens at each width, as a phone shows them.
			if dir := os.Getenv("MINIPOT_UI_VIEWS_SHOTS"); dir != "" {
				for i := range 6 {
					b.do(fmt.Sprintf("window.scrollTo(0, %d)", i*w.height))
					png, err := chromedp.Run(b.ctx, chromedp.CaptureScreenshot())
					if err == nil {
						err = os.WriteFile(filepath.Join(dir, fmt.Sprintf("page-%d-%d.png", w.width, i)), png, 0o644)
					}
					if err != nil {
						t.Error(err)
					}
				}
				b.do("window.scrollTo(0, 0)")
				for _, r := range []string{"24h", "7d"} {
					b.click(fmt.Sprintf(`[data-range="%s"]`, r))
					b.waitFor("the chart shows "+r, fmt.Sprintf(`document.getElementById("chart").dataset.range === %q`, r))
					png, err := chromedp.Run(b.ctx, chromedp.Screenshot(chromedp.CSS("#attacks figure")))
					if err == nil {
						err = os.WriteFile(filepath.Join(dir, fmt.Sprintf("chart-%d-%s.png", w.width, r)), png, 0o644)
					}
					if err != nil {
						t.Error(err)
					}
				}
			}
		})
	}
	b.t = t

	// The store's size against its bound, as /status gives them.
	var status struct {
		Store struct {
			Size    int64 `json:"size"`
			MaxSize int64 `json:"max_size"`
		}
	}
	p.get(t, "/api/v1/status", &status)
	if txt, want := b.text("#store-size"), fmt.Sprintf("MiB of at most %.1f MiB", float64(status.Store.MaxSize)/(1<<20)); status.Store.MaxSize == 0 || status.Store.Size == 0 || !strings.Contains(txt, want) {
		t.Errorf("the store's size: %q, want %q (/status: %+v)", txt, want, status.Store)
	}

	// Paging walks every event once (the desktop layout is still on).
	pageSize := evalJS[int](b, `PAGE`)
	if pageSize != 50 {
		t.Errorf("%d events a page on a desktop, want 50", pageSize)
	}
	shownIDs := func() []int64 {
		return evalJS[[]int64](b, `[...document.querySelectorAll("#events tbody tr[data-id]")].map(tr => +tr.dataset.id)`)
	}
	var walked []int64
	var pages [][]int64
	for {
		ids := shownIDs()
		pages = append(pages, ids)
		walked = append(walked, ids...)
		if evalJS[bool](b, `document.getElementById("ev-older").disabled`) {
			break
		}
		if len(pages) > 20 {
			t.Fatal("more than 20 pages")
		}
		first := ids[0]
		b.click("#ev-older")
		b.waitFor("the next page", fmt.Sprintf(`(tr => tr && tr.dataset.id !== "%d")(document.querySelector("#events tbody tr[data-id]"))`, first))
	}
	if !slices.Equal(walked, eventIDs(all)) {
		t.Errorf("paging shows %d events (%d pages), the API %d: %v", len(walked), len(pages), len(all), walked)
	}
	if len(pages) < 3 {
		t.Errorf("%d pages for %d events", len(pages), len(all))
	}
	b.click("#ev-newer")
	b.waitFor("the previous page", fmt.Sprintf(`document.querySelector("#events tbody tr[data-id]").dataset.id === "%d"`, pages[len(pages)-2][0]))
	if got := shownIDs(); !slices.Equal(got, pages[len(pages)-2]) {
		t.Errorf("back one page: %v, want %v", got, pages[len(pages)-2])
	}

	// Each filter narrows as the API does.
	setFilter := func(service, action, src string) {
		t.Helper()
		b.do(fmt.Sprintf(`document.getElementById("f-service").value = %q, document.getElementById("f-action").value = %q, document.getElementById("f-src").value = %q`, service, action, src))
		b.click(`#filters button[type="submit"]`)
	}
	for _, f := range []url.Values{
		{"service": {"80tcp"}},
		{"action": {"login"}},
		{"src_ip": {"203.0.113.9"}},
		{"service": {"23tcp"}, "action": {"login"}, "src_ip": {"2001:db8::5"}},
	} {
		setFilter(f.Get("service"), f.Get("action"), f.Get("src_ip"))
		want := eventIDs(apiEvents(t, p, f))
		if len(want) == 0 || len(want) >= len(all) {
			t.Fatalf("filter %v: the API lists %d of %d events: not a narrowing filter", f, len(want), len(all))
		}
		first := want[:min(len(want), pageSize)]
		b.waitFor("the filter applies", fmt.Sprintf(`[...document.querySelectorAll("#events tbody tr[data-id]")].map(tr => tr.dataset.id).join(",") === %q`, joinIDs(first)))
		if more := evalJS[bool](b, `!document.getElementById("ev-older").disabled`); more != (len(want) > pageSize) {
			t.Errorf("filter %v: older pages offered %v with %d events", f, more, len(want))
		}
	}
	// A top address opens its events.
	top := b.text("#top-sources tbody tr:first-child button.link")
	b.click("#top-sources tbody tr:first-child button.link")
	want := eventIDs(apiEvents(t, p, url.Values{"src_ip": {top}}))
	if len(want) == 0 {
		t.Fatalf("no events of the top address %q", top)
	}
	b.waitFor("the top address's events", fmt.Sprintf(`document.getElementById("f-src").value === %q && [...document.querySelectorAll("#events tbody tr[data-id]")].map(tr => tr.dataset.id).join(",") === %q`, top, joinIDs(want[:min(len(want), pageSize)])))

	setFilter("", "", "999.1.1.1")
	b.waitFor("a bad address is named", `!document.getElementById("filter-error").hidden`)
	if txt := b.text("#filter-error"); !strings.Contains(txt, `Source address: "999.1.1.1" is not an IP address`) {
		t.Errorf("bad address: %q", txt)
	}
	if n := evalJS[int](b, `document.querySelectorAll("#events tbody tr[data-id]").length`); n != 0 {
		t.Errorf("a bad filter leaves %d events of the previous one shown", n)
	}

	// Downloads of a filtered view: exactly its events.
	filter := url.Values{"src_ip": {"198.51.100.7"}}
	setFilter("", "", "198.51.100.7")
	wantEvents := apiEvents(t, p, filter)
	// The list is redrawn for the filter before the buttons under it are
	// clicked: a click lands where a button was when it started.
	b.waitFor("the address's events", fmt.Sprintf(`[...document.querySelectorAll("#events tbody tr[data-id]")].map(tr => tr.dataset.id).join(",") === %q`, joinIDs(eventIDs(wantEvents)[:min(len(wantEvents), pageSize)])))
	b.click("#dl-json")
	var doc struct {
		Filter    map[string]string
		Truncated bool
		Events    []map[string]any
	}
	if err := json.Unmarshal(downloaded(t, downloads, ".json"), &doc); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(doc.Events, wantEvents) || doc.Truncated || doc.Filter["src_ip"] != "198.51.100.7" {
		t.Errorf("JSON download: %d events (truncated %v, filter %v), want the API's %d", len(doc.Events), doc.Truncated, doc.Filter, len(wantEvents))
	}
	b.click("#dl-csv")
	rows, err := csv.NewReader(bytes.NewReader(downloaded(t, downloads, ".csv"))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != len(wantEvents)+1 {
		t.Fatalf("CSV download: %d rows, want a header and %d events", len(rows), len(wantEvents))
	}
	formulas := 0
	for i, e := range wantEvents {
		for j, col := range rows[0] {
			cell := rows[i+1][j]
			var exp string
			switch v := e[col].(type) {
			case nil:
			case string:
				exp = v
				if strings.ContainsAny(v[:min(len(v), 1)], "=+-@\t\r") {
					exp = "'" + v // not a formula in a spreadsheet
					formulas++
				}
			case float64:
				exp = strconv.FormatFloat(v, 'f', -1, 64)
			default:
				t.Fatalf("event field %s: %T", col, v)
			}
			if cell != exp {
				t.Errorf("CSV event %v, %s: %q, wantEvents %q", e["id"], col, cell, exp)
			}
		}
		for k := range e {
			if !slices.Contains(rows[0], k) {
				t.Errorf("CSV lacks the column %s", k)
			}
		}
	}
	if formulas == 0 {
		t.Error("the seeded formulas were not among the downloaded events")
	}
	if txt := b.text("#dl-note"); !strings.Contains(txt, fmt.Sprintf("Saved %d events", len(wantEvents))) {
		t.Errorf("after the download: %q", txt)
	}
	if v := evalJS[string](b, `document.body.dataset.cspViolations`); v != "0" {
		t.Errorf("%s CSP violations (the downloads included)", v)
	}
	// The bad address's 400 is the one refusal the test provoked.
	if errs := slices.DeleteFunc(b.pageErrors(), func(e string) bool { return strings.Contains(e, "status of 400") }); len(errs) > 0 {
		t.Errorf("the page reported errors:\n%s", strings.Join(errs, "\n"))
	}
}

func joinIDs(ids []int64) string {
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = strconv.FormatInt(id, 10)
	}
	return strings.Join(s, ",")
}

// downloaded waits for the one file with suffix the browser saved in dir,
// returns its bytes and removes it.
func downloaded(t *testing.T, dir, suffix string) []byte {
	t.Helper()
	var data []byte
	eventually(t, 15*time.Second, "a "+suffix+" download", func() (bool, string) {
		names, _ := filepath.Glob(filepath.Join(dir, "*"+suffix))
		if len(names) != 1 {
			return false, fmt.Sprintf("files %v", names)
		}
		d, err := os.ReadFile(names[0])
		if err != nil || len(d) == 0 {
			return false, fmt.Sprint(err)
		}
		data = d
		return os.Remove(names[0]) == nil, "remove"
	})
	return data
}

// TestUIPageSettingsProblems: an invalid option in the UCI file is named
// on the page with /status's reason, the page neither offers to apply the
// file nor words the API's refusal of a change; a file that does not parse
// is named too, and the page still shows the stored events; warnings
// (settings.warnings, unknown options) show apart from the errors.
func TestUIPageSettingsProblems(t *testing.T) {
	b := startBrowser(t, "")
	a := startAgent(t, nil)
	p := startAPI(t, a)
	a.UCI("set", "ucollect.store.max_size=lots")
	a.UCI("set", "ucollect.fakes.redir_offset=70000")
	a.UCI("commit", "ucollect")
	b.navigate("http://" + p.Addr + "/#token=e2e-token-0123456789abcdef")
	b.waitFor("the page loads", `document.body.dataset.ready === "1"`)
	var st struct {
		Settings struct {
			Valid  bool
			Errors []settings.FieldError
		}
	}
	p.get(t, "/api/v1/status", &st)
	if st.Settings.Valid || len(st.Settings.Errors) < 2 {
		t.Fatalf("/status: %+v, want two invalid options at least", st.Settings)
	}
	shown := evalJS[[]string](b, `[...document.querySelectorAll("#config-error-list li")].map(li => li.textContent)`)
	var want []string
	for _, fe := range st.Settings.Errors {
		want = append(want, fe.Field+": "+fe.Message)
	}
	if !slices.Equal(shown, want) || !slices.ContainsFunc(shown, func(s string) bool { return strings.HasPrefix(s, "store.max_size: ") }) {
		t.Errorf("the page lists %q, want %q", shown, want)
	}
	if !evalJS[bool](b, `!document.getElementById("config-problems").hidden && document.getElementById("config-warnings").hidden`) {
		t.Error("the problems box is hidden, or shows warnings there are none of")
	}
	if txt := b.text("#agent"); !strings.Contains(txt, "invalid options") || strings.Contains(txt, "not applied yet") {
		t.Errorf("agent line: %q", txt)
	}
	if !evalJS[bool](b, `document.getElementById("apply").hidden`) {
		t.Error("the page offers to apply an invalid file")
	}
	b.click("#log_credentials")
	if txt := b.text("#notice"); !strings.Contains(txt, "Not saved: the settings file has problems") || strings.Contains(txt, "this request") {
		t.Errorf("a change refused for the file's sake: %q", txt)
	}

	// A file that does not parse at all.
	if err := os.WriteFile(filepath.Join(a.Dir, "ucollect"), []byte("config fakes 'fakes'\n\toption enabled '1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	b.do(`document.body.dataset.ready = "stale", location.reload()`)
	b.waitFor("the page loads again", `document.body.dataset.ready === "1"`)
	if txt := b.text("#config-error-list"); !strings.Contains(txt, "The file: the file does not parse") {
		t.Errorf("a file that does not parse: %q", txt)
	}
	if evalJS[bool](b, `document.getElementById("main").hidden`) {
		t.Error("the page hides everything for a file that does not parse")
	}

	// Warnings: a typo of an option, which the API names in
	// settings.warnings with its guess, apart from the errors.
	if err := os.WriteFile(filepath.Join(a.Dir, "ucollect"), []byte("config fakes 'fakes'\n\toption enabled '1'\nconfig store 'store'\n\toption max_sise '8'\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var st2 struct {
		Settings struct{ Warnings []settings.FieldError }
	}
	p.get(t, "/api/v1/status", &st2)
	if len(st2.Settings.Warnings) != 1 || st2.Settings.Warnings[0].Field != "store.max_sise" {
		t.Fatalf("/status warnings: %+v, want store.max_sise", st2.Settings.Warnings)
	}
	wantWarn := "store.max_sise: " + st2.Settings.Warnings[0].Message
	b.do(`document.body.dataset.ready = "stale", location.reload()`)
	b.waitFor("the page loads again", `document.body.dataset.ready === "1"`)
	if txt := b.text("#config-warning-list"); txt != wantWarn {
		t.Errorf("warnings: %q", txt)
	}
	if !evalJS[bool](b, `!document.getElementById("config-warnings").hidden && document.getElementById("config-errors").hidden`) {
		t.Error("warnings shown as errors, or not at all")
	}
}

// TestUIPageCredentialsOff: with credentials off, a password a bot types
// appears nowhere on the page, in its attributes or in its downloads.
//
// A bot first tries while credentials are collected, then the owner
// switches collecting off on the page and a second bot tries: neither
// pair shows, and the page says stored ones are hidden.
func TestUIPageCredentialsOff(t *testing.T) {
	b := startBrowser(t, "")
	a := startAgent(t, map[string]string{"fakes.log_credentials": "1"})
	p := startAPI(t, a)
	downloads := t.TempDir()
	b.downloadsTo(downloads)
	attempt := func(user, pass string, n int) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		r, err := bot.Attempt(ctx, a.Addr("23tcp"), user, pass)
		cancel()
		if err != nil || r.Outcome != bot.Rejected {
			t.Fatalf("telnet attempt: %+v, %v", r, err)
		}
		a.find(t, n, logins("23tcp"))
	}
	const onUser, onPass = "on-user-1234", "on-secret-pw-5678"
	attempt(onUser, onPass, 1)
	b.navigate("http://" + p.Addr + "/#token=e2e-token-0123456789abcdef")
	b.waitFor("the page shows the stored pair", `document.body.dataset.ready === "1" && document.getElementById("top-pairs").textContent.includes("`+onPass+`")`)
	b.click("#log_credentials")
	eventually(t, 10*time.Second, "credentials off and the agent following", func() (bool, string) {
		var st struct {
			Agent struct {
				InSync bool `json:"in_sync"`
			}
			Settings struct {
				LogCredentials bool `json:"log_credentials"`
			}
		}
		p.get(t, "/api/v1/status", &st)
		return st.Agent.InSync && !st.Settings.LogCredentials, fmt.Sprintf("%+v", st)
	})
	const user, pass = "off-user-4711", "off-secret-pw-0815"
	attempt(user, pass, 2)
	b.do(`document.body.dataset.ready = "stale", location.reload()`)
	b.waitFor("the page shows the attempt", `document.body.dataset.ready === "1" && document.querySelector("#events tbody").textContent.includes("credentials not stored")`)
	b.click("#dl-json")
	js := string(downloaded(t, downloads, ".json"))
	b.click("#dl-csv")
	csvText := string(downloaded(t, downloads, ".csv"))
	if !strings.Contains(js, `"login"`) || !strings.Contains(csvText, ",login,") {
		t.Fatalf("the downloads lack the login:\n%s\n%s", js, csvText)
	}
	html := evalJS[string](b, `document.documentElement.outerHTML + document.body.innerText`)
	for what, s := range map[string]string{"the page": html, "the JSON download": js, "the CSV download": csvText} {
		for _, secret := range []string{user, pass, onUser, onPass} {
			if strings.Contains(s, secret) {
				t.Errorf("%s holds %q", what, secret)
			}
		}
	}
	if !evalJS[bool](b, `!document.getElementById("credentials-off").hidden`) || !strings.Contains(b.text("#credentials-off"), "hidden") {
		t.Errorf("the page does not say credentials are not collected and stored ones hidden: %q", b.text("#credentials-off"))
	}
}

// TestUIPageDownloadBound: a download stops at 10,000 events, the newest
// of the filter, and says so in the file and on the page.
func TestUIPageDownloadBound(t *testing.T) {
	b := startBrowser(t, "")
	a := startAgent(t, nil)
	seedEvents(t, a, 10050, 0)
	p := startAPI(t, a)
	downloads := t.TempDir()
	b.downloadsTo(downloads)
	all := apiEvents(t, p, nil)
	if len(all) < 10050 {
		t.Fatalf("the API lists %d events, want 10050 at least", len(all))
	}
	b.navigate("http://" + p.Addr + "/#token=e2e-token-0123456789abcdef")
	b.waitFor("the page loads", `document.body.dataset.ready === "1"`)
	b.click("#dl-json")
	var doc struct {
		Truncated bool
		Events    []map[string]any
	}
	if err := json.Unmarshal(downloaded(t, downloads, ".json"), &doc); err != nil {
		t.Fatal(err)
	}
	if !doc.Truncated || !slices.Equal(eventIDs(doc.Events), eventIDs(all[:10000])) {
		t.Errorf("download of %d events: %d (truncated %v), want the newest 10000", len(all), len(doc.Events), doc.Truncated)
	}
	b.waitFor("the page says so", `document.getElementById("dl-note").textContent.includes("the newest 10000")`)
}

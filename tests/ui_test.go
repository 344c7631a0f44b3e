package tests

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/minipot/minipot/agent/telnet/bot"
	"github.com/minipot/minipot/internal/event"
	"github.com/minipot/minipot/internal/settings"
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
	if bars := evalJS[int](b, `document.querySelectorAll("#chart svg rect.bar").length`); bars < 24 {
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

package webapi

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/minipot/minipot/internal/event"
	"github.com/minipot/minipot/internal/firewall"
	"github.com/minipot/minipot/internal/servicestate"
	"github.com/minipot/minipot/internal/settings"
)

// events makes n connections from a few addresses over the last hours:
// connect, a login with credentials on telnet (or a request on HTTP and the
// proxies), disconnect.
func fixtureEvents(n int, now time.Time) []event.Event {
	var evs []event.Event
	svcs := []struct {
		key  string
		port int
	}{{"23tcp", 23}, {"80tcp", 80}, {"3128tcp", 3128}}
	for i := range n {
		s := svcs[i%len(svcs)]
		base := event.Event{Time: now.Add(-time.Duration(n-i) * 10 * time.Minute), Service: s.key, Port: s.port,
			SrcIP: fmt.Sprintf("198.51.100.%d", i%4), SrcPort: 40000 + i, ConnID: int64(i + 1)}
		c := base
		c.Action = event.Connect
		evs = append(evs, c)
		a := base
		switch s.key {
		case "23tcp":
			a.Action, a.Username, a.Password = event.Login, "root", fmt.Sprintf("pw%d", i%2)
		case "80tcp":
			a.Action, a.Method, a.URL, a.UserAgent = event.Request, "GET", "/<script>alert(1)</script>", "zgrab"
		default:
			a.Action, a.Method, a.URL = event.Request, "CONNECT", "api.ipify.org:443"
		}
		evs = append(evs, a)
		d := base
		d.Action, d.Duration, d.Reason = event.Disconnect, 1500*time.Millisecond, event.ReasonClosed
		evs = append(evs, d)
	}
	return evs
}

func TestEvents(t *testing.T) {
	e := newEnv(t)
	e.collectCredentials()
	if r := e.do("GET", "/api/v1/events", ""); r.status != 200 || !strings.Contains(string(r.body), `"events": []`) {
		t.Errorf("events before the store exists: %d %s", r.status, r.body)
	}
	now := time.Now().UTC()
	e.fixture(fixtureEvents(30, now))

	// Every page, through the cursor: 90 events, newest first, no repeats.
	seen := map[int64]bool{}
	var last time.Time
	next := "/api/v1/events?limit=7"
	pages := 0
	for next != "" {
		var page EventPage
		r := e.do("GET", next, "")
		if r.status != 200 {
			t.Fatalf("%s: %d %s", next, r.status, r.body)
		}
		r.decode(t, &page)
		for _, ev := range page.Events {
			if seen[ev.ID] || (!last.IsZero() && ev.Time.After(last)) {
				t.Fatalf("event %d repeated or out of order", ev.ID)
			}
			seen[ev.ID], last = true, ev.Time
		}
		next = page.Next
		pages++
	}
	if len(seen) != 90 || pages != 13 {
		t.Errorf("%d events in %d pages, want 90 in 13", len(seen), pages)
	}

	tests := []struct {
		query string
		want  int
		check func(EventDoc) bool
	}{
		{"service=23tcp", 30, func(ev EventDoc) bool { return ev.Service == "23tcp" }},
		{"action=login", 10, func(ev EventDoc) bool { return ev.Username == "root" && ev.Password != "" }},
		{"action=request&service=80tcp", 10, func(ev EventDoc) bool { return ev.URL == "/<script>alert(1)</script>" && ev.Username == "" }},
		{"src_ip=198.51.100.1", 24, func(ev EventDoc) bool { return ev.SrcIP == "198.51.100.1" }},
		{"since=" + url.QueryEscape(now.Add(-55*time.Minute).Format(time.RFC3339)), 15, func(EventDoc) bool { return true }},
		{"since=55m", 15, func(EventDoc) bool { return true }},
		{"until=" + now.Add(-295*time.Minute).Format(time.RFC3339), 3, func(EventDoc) bool { return true }},
		{"action=disconnect&limit=1", 1, func(ev EventDoc) bool { return ev.DurationMS == 1500 && ev.Reason == "closed" }},
	}
	for _, tc := range tests {
		var page EventPage
		r := e.do("GET", "/api/v1/events?limit=1000&"+tc.query, "")
		if strings.Contains(tc.query, "limit=1") {
			r = e.do("GET", "/api/v1/events?"+tc.query, "")
		}
		r.decode(t, &page)
		if r.status != 200 || len(page.Events) != tc.want {
			t.Errorf("%s: %d, %d events, want %d", tc.query, r.status, len(page.Events), tc.want)
		}
		for _, ev := range page.Events {
			if !tc.check(ev) {
				t.Errorf("%s: %+v", tc.query, ev)
			}
		}
	}
	// Attacker text is JSON-escaped on the wire.
	if r := e.do("GET", "/api/v1/events?service=80tcp&action=request&limit=1", ""); strings.Contains(string(r.body), "<script>") {
		t.Errorf("attacker text is not escaped: %s", r.body)
	}

	for _, q := range []string{"service=443tcp", "action=hack", "src_ip=1.2.3", "since=yesterday-ish", "limit=0", "limit=5000",
		"cursor=abc", "servce=23tcp", "service=23tcp&service=80tcp", "since=3600"} {
		if r := e.do("GET", "/api/v1/events?"+q, ""); r.status != 400 {
			t.Errorf("%s: %d %s", q, r.status, r.body)
		}
	}
}

func TestStats(t *testing.T) {
	e := newEnv(t)
	e.collectCredentials()
	now := time.Now().UTC()
	var doc StatsDoc
	if r := e.do("GET", "/api/v1/stats?since=24h", ""); r.status != 200 {
		t.Fatalf("stats without a store: %d %s", r.status, r.body)
	}
	e.fixture(fixtureEvents(30, now))
	r := e.do("GET", "/api/v1/stats?since=24h&top=3", "")
	r.decode(t, &doc)
	if r.status != 200 || doc.Events != 90 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	if s := doc.Services[0]; s.Service != "23tcp" || s.Connections != 10 || s.Attempts != 10 || s.Actions["login"] != 10 || s.Actions["disconnect"] != 10 {
		t.Errorf("23tcp: %+v", s)
	}
	if len(doc.Hourly) != 25 && len(doc.Hourly) != 24 {
		t.Errorf("%d hours in a day's window", len(doc.Hourly))
	}
	var conns int64
	for _, h := range doc.Hourly {
		conns += h.Connections
	}
	if conns != 30 {
		t.Errorf("hourly connections add up to %d, want 30", conns)
	}
	top := doc.Top
	if len(top.Sources) != 3 || top.Sources[0].Count != 8 || len(top.Usernames) != 1 || top.Usernames[0] != (ValueCount{"root", 10}) ||
		len(top.Pairs) != 2 || top.Pairs[0].Username != "root" || top.URLs[0].Value != "/<script>alert(1)</script>" ||
		top.ProxyTargets[0] != (ValueCount{"api.ipify.org:443", 10}) {
		t.Errorf("top: %+v", top)
	}
	for _, q := range []string{"since=soon", "top=0", "top=x", "window=1h"} {
		if r := e.do("GET", "/api/v1/stats?"+q, ""); r.status != 400 {
			t.Errorf("%s: %d", q, r.status)
		}
	}
}

func TestPurge(t *testing.T) {
	e := newEnv(t)
	e.collectCredentials()
	if r := e.do("POST", "/api/v1/events/purge", `{"scope": "credentials"}`); r.status != 200 {
		t.Errorf("purge without a store: %d %s", r.status, r.body)
	}
	e.fixture(fixtureEvents(9, time.Now()))
	var doc StatsDoc
	e.do("GET", "/api/v1/stats", "").decode(t, &doc)
	if len(doc.Top.Passwords) == 0 {
		t.Fatal("no passwords before the purge")
	}
	for _, body := range []string{`{}`, `{"scope": "everything"}`, `{"scope": "all", "really": true}`, `{"scope": 1}`, `scope=all`} {
		if r := e.do("POST", "/api/v1/events/purge", body); r.status != 400 {
			t.Errorf("purge %s: %d", body, r.status)
		}
	}
	if r := e.do("POST", "/api/v1/events/purge", `{"scope": "credentials"}`); r.status != 200 {
		t.Fatalf("purge credentials: %d %s", r.status, r.body)
	}
	var page EventPage
	e.do("GET", "/api/v1/events?limit=1000", "").decode(t, &page)
	if len(page.Events) != 27 {
		t.Errorf("%d events after purging credentials, want 27", len(page.Events))
	}
	for _, ev := range page.Events {
		if ev.Username != "" || ev.Password != "" {
			t.Errorf("credentials left: %+v", ev)
		}
	}
	e.do("GET", "/api/v1/stats", "").decode(t, &doc)
	if len(doc.Top.Passwords)+len(doc.Top.Usernames)+len(doc.Top.Pairs) != 0 || doc.Events != 27 {
		t.Errorf("statistics after purging credentials: %+v", doc.Top)
	}
	if !strings.Contains(e.log.String(), `"scope":"credentials"`) {
		t.Errorf("the purge is not logged:\n%s", e.log.String())
	}
	if r := e.do("POST", "/api/v1/events/purge", `{"scope": "all"}`); r.status != 200 {
		t.Fatalf("purge all: %d %s", r.status, r.body)
	}
	e.do("GET", "/api/v1/events", "").decode(t, &page)
	e.do("GET", "/api/v1/stats", "").decode(t, &doc)
	if len(page.Events) != 0 || doc.Events != 0 {
		t.Errorf("after purging all: %d events, stats %d", len(page.Events), doc.Events)
	}
}

func TestStatus(t *testing.T) {
	e := newEnv(t)
	e.fixture(fixtureEvents(3, time.Now()))
	e.agent.rep.Store.Dropped = 7
	var st StatusDoc
	r := e.do("GET", "/api/v1/status", "")
	r.decode(t, &st)
	if r.status != 200 || !st.Agent.Running || !st.Agent.InSync || !st.Settings.Valid || !st.Firewall.Managed || st.Firewall.Backend != "fake" {
		t.Errorf("status: %s", r.body)
	}
	if st.Store.Path != e.db || st.Store.Size == 0 || st.Store.Dropped != 7 {
		t.Errorf("store: %+v", st.Store)
	}
	svc := map[string]ServiceState{}
	for _, s := range st.Services {
		svc[s.Key] = s
	}
	if !svc["23tcp"].Listening || svc["2323tcp"].Listening || svc["2323tcp"].Reason != "disabled" || svc["2323tcp"].Enabled {
		t.Errorf("services: %+v", st.Services)
	}
	e.api.cfg.Firewall = nil
	e.do("GET", "/api/v1/status", "").decode(t, &st)
	if st.Firewall.Managed || !strings.Contains(st.Firewall.Note, "--firewall") {
		t.Errorf("unmanaged firewall: %+v", st.Firewall)
	}
}

// TestServiceStates: /status gives each service's state as package
// servicestate computes it from what the API sees, per family, for every
// kind of router the API can meet.
func TestServiceStates(t *testing.T) {
	// The fake agent listens on loopback, where redirected connections
	// never arrive; a router's agent listens on every address.
	everywhere := func(e *env) {
		e.agent.mu.Lock()
		defer e.agent.mu.Unlock()
		for i := range e.agent.rep.Services {
			if e.agent.rep.Services[i].Listening {
				e.agent.rep.Services[i].Address = fmt.Sprintf("[::]:%d", e.agent.rep.Services[i].FakePort)
			}
		}
	}
	applied := func(e *env) {
		if r := e.do("POST", "/api/v1/settings/apply", "{}"); r.status != 200 {
			e.t.Fatalf("apply: %d %s", r.status, r.body)
		}
		everywhere(e)
	}
	cases := []struct {
		name   string
		setup  func(e *env)
		key    string
		code   servicestate.Code
		reason servicestate.Reason
		v6     servicestate.Reason // when it differs from reason
	}{
		{"rules not applied yet", everywhere, "23tcp", servicestate.Waiting, servicestate.FirewallOutOfSync, ""},
		{"working", applied, "23tcp", servicestate.Reachable, servicestate.Redirected, ""},
		{"disabled", applied, "2323tcp", servicestate.Off, servicestate.ServiceDisabled, ""},
		{"fake on loopback", func(e *env) { applied(e); e.agent.load() }, "23tcp", servicestate.Unreachable, servicestate.FakeWrongAddress, ""},
		{"fake cannot listen", func(e *env) { e.agent.cannotListen = "80tcp"; e.agent.load(); applied(e) }, "80tcp",
			servicestate.Unreachable, servicestate.FakeNotListening, ""},
		{"agent down", func(e *env) { applied(e); e.agent.mu.Lock(); e.agent.running = false; e.agent.mu.Unlock() }, "23tcp", servicestate.Unreachable, servicestate.AgentDown, ""},
		{"firewall not managed", func(e *env) { everywhere(e); e.api.cfg.Firewall = nil }, "23tcp",
			servicestate.Unreachable, servicestate.FirewallUnmanaged, ""},
		{"firewall unreadable", func(e *env) { applied(e); e.fw.Err = errors.New("iptables: exit 3") }, "23tcp",
			servicestate.Unreachable, servicestate.FirewallError, ""},
		{"rules cannot be installed", func(e *env) {
			e.fw.failOn = func(settings.Settings) bool { return true }
			everywhere(e)
			if r := e.do("POST", "/api/v1/settings/apply", "{}"); r.status != 500 {
				e.t.Fatalf("apply with a failing firewall: %d %s", r.status, r.body)
			}
		}, "23tcp", servicestate.Unreachable, servicestate.ApplyFailed, ""},
		{"no WAN device", func(e *env) {
			applied(e)
			e.fw.editStatus = func(st *firewall.Status) {
				st.WANDevices, st.Problem, st.Services, st.InSync = nil, firewall.ErrNoWAN.Error(), nil, false
			}
		}, "23tcp", servicestate.Unreachable, servicestate.NoWAN, ""},
		{"port forwarded", func(e *env) {
			applied(e)
			e.fw.editStatus = func(st *firewall.Status) {
				for i, d := range st.Services {
					if d.Service == "8080tcp" && d.Family == firewall.IPv4 {
						st.Services[i].Redirect, st.Services[i].Cause = firewall.RedirectNone, firewall.CauseForwarded
						st.Services[i].Reason = "the router forwards port 8080 (nas): the forward takes the connections"
					}
				}
			}
		}, "8080tcp", servicestate.RealService, servicestate.PortForwarded, servicestate.Redirected},
		{"real service on IPv4", func(e *env) {
			applied(e)
			e.fw.editStatus = func(st *firewall.Status) {
				for i, d := range st.Services {
					if d.Service == "80tcp" && d.Family == firewall.IPv4 {
						st.Services[i].Redirect, st.Services[i].Reason = firewall.RedirectNone, "a service listens on port 80 (every address) and the router's firewall accepts it from the WAN (Allow-HTTP): the real service gets the connections"
					}
				}
			}
		}, "80tcp", servicestate.RealService, servicestate.RealServiceAccepted, servicestate.Redirected},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t)
			c.setup(e)
			var st StatusDoc
			e.do("GET", "/api/v1/status", "").decode(t, &st)
			var got *ServiceState
			for i := range st.Services {
				if st.Services[i].Key == c.key {
					got = &st.Services[i]
				}
			}
			if got == nil {
				t.Fatalf("no %s in %+v", c.key, st.Services)
			}
			v6 := c.v6
			if v6 == "" {
				v6 = c.reason
			}
			fs := got.State.Families
			if len(fs) != 2 || fs[0].Reason != c.reason || fs[1].Reason != v6 || got.State.Text == "" {
				t.Errorf("%s: %+v, want ipv4 %s, ipv6 %s", c.key, got.State, c.reason, v6)
			}
			if c.v6 == "" && (got.State.Code != c.code || got.State.Reason != c.reason) {
				t.Errorf("%s: %s/%s, want %s/%s", c.key, got.State.Code, got.State.Reason, c.code, c.reason)
			}
		})
	}
	// Every service of the table, in its order: pages list them from here.
	e := newEnv(t)
	var st StatusDoc
	e.do("GET", "/api/v1/status", "").decode(t, &st)
	var keys []string
	for _, s := range st.Services {
		keys = append(keys, s.Key)
	}
	var table []string
	for _, s := range settings.Services() {
		table = append(table, s.Key)
	}
	if !slices.Equal(keys, table) {
		t.Errorf("/status lists %v, the service table %v", keys, table)
	}
}

// TestOpenAPIStateEnums: openapi.json names exactly the codes and reasons
// package servicestate gives.
func TestOpenAPIStateEnums(t *testing.T) {
	e := newEnv(t)
	schema := e.spec.Components.Schemas["ServiceRunState"].Value
	enum := func(s *openapi3.Schema) []string {
		var out []string
		for _, v := range s.Enum {
			out = append(out, v.(string))
		}
		slices.Sort(out)
		return out
	}
	var codes, reasons []string
	for _, c := range servicestate.Codes() {
		codes = append(codes, string(c))
	}
	for _, r := range servicestate.Reasons() {
		reasons = append(reasons, string(r))
	}
	slices.Sort(codes)
	slices.Sort(reasons)
	fam := schema.Properties["families"].Value.Items.Value
	for name, got := range map[string][]string{
		"code": enum(schema.Properties["code"].Value), "reason": enum(schema.Properties["reason"].Value),
		"families.code": enum(fam.Properties["code"].Value), "families.reason": enum(fam.Properties["reason"].Value),
	} {
		want := reasons
		if strings.HasSuffix(name, "code") {
			want = codes
		}
		if !slices.Equal(got, want) {
			t.Errorf("openapi.json ServiceRunState %s: %v, servicestate has %v", name, got, want)
		}
	}
}

func TestAccess(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct {
		method, path, body string
		header             []string
		status             int
	}{
		{"GET", "/api/v1/health", "", nil, 200},
		{"GET", "/api/v1/version", "", nil, 200},
		{"GET", "/api/v1/openapi.json", "", nil, 200},
		{"GET", "/api/v1/health", "", []string{"Host", "127.0.0.1:8377"}, 200},
		{"GET", "/api/v1/health", "", []string{"Host", "[::1]:8377"}, 200},
		{"GET", "/api/v1/health", "", []string{"Host", "attacker.example"}, 403},
		{"GET", "/api/v1/health", "", []string{"Host", "192.168.1.1"}, 403},
		{"GET", "/api/v1/nothing", "", nil, 404},
		{"DELETE", "/api/v1/settings", "{}", nil, 405},
		{"PUT", "/api/v1/settings", "{}", nil, 405},
		{"GET", "/nothing", "", nil, 404}, // "/" is the page: ui_test.go
	} {
		if r := e.do(tc.method, tc.path, tc.body, tc.header...); r.status != tc.status {
			t.Errorf("%s %s %v: %d, want %d: %s", tc.method, tc.path, tc.header, r.status, tc.status, r.body)
		}
	}
	// Over TCP the token is required.
	e.serve(Access{Token: "s3cret-token-0123456789"})
	for _, tc := range []struct {
		auth   string
		status int
	}{{"", 401}, {"Bearer wrong", 401}, {"Basic czNjcmV0", 401}, {"Bearer s3cret-token-0123456789", 200}} {
		if r := e.do("GET", "/api/v1/settings", "", "Authorization", tc.auth); r.status != tc.status {
			t.Errorf("Authorization %q: %d, want %d", tc.auth, r.status, tc.status)
		}
	}
}

func TestParseTime(t *testing.T) {
	now := time.Date(2025, 6, 1, 15, 30, 0, 0, time.UTC)
	for in, want := range map[string]time.Time{
		"":                          {},
		"now":                       now,
		"today":                     time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC),
		"24h":                       now.Add(-24 * time.Hour),
		"7d":                        now.Add(-7 * 24 * time.Hour),
		"2025-05-30":                time.Date(2025, 5, 30, 0, 0, 0, 0, time.UTC),
		"2025-05-30T10:00:00+02:00": time.Date(2025, 5, 30, 8, 0, 0, 0, time.UTC),
	} {
		got, err := parseTime(in, now)
		if err != nil || !got.Equal(want) {
			t.Errorf("parseTime(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"3600", "tomorrow", "2025-13-01", "-1h"} {
		if _, err := parseTime(in, now); err == nil {
			t.Errorf("parseTime(%q) succeeded", in)
		}
	}
}

// TestStatusWarnings: an option of minipot's own sections that it does not
// read shows in /status as settings.warnings, named by section.option, and
// once in the API's log; the file stays valid and applies.
func TestStatusWarnings(t *testing.T) {
	e := newEnv(t)
	var st StatusDoc
	e.do("GET", "/api/v1/status", "").decode(t, &st)
	if len(st.Settings.Warnings) != 0 || strings.Contains(e.log.String(), "settings:") {
		t.Fatalf("warnings for the canonical file: %+v\nlog: %s", st.Settings.Warnings, e.log.String())
	}
	data := append(e.fileBytes(), "\nconfig store 'store'\n\toption max_sise '8'\n"...)
	data = append(data, "\nconfig uplink 'uplink'\n\toption name 'api.turris.cz'\n"...)
	if err := os.WriteFile(e.file, data, 0o644); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		r := e.do("GET", "/api/v1/status", "")
		r.decode(t, &st)
		want := settings.Errors{{Field: "store.max_sise", Message: "unknown option, ignored (did you mean store.max_size?)"}}
		if !st.Settings.Valid || !reflect.DeepEqual(st.Settings.Warnings, want) {
			t.Errorf("status settings: %s", r.body)
		}
	}
	if n := strings.Count(e.log.String(), "max_sise"); n != 1 {
		t.Errorf("the warning is in the API's log %d times, want once:\n%s", n, e.log.String())
	}
}

// TestCredentialsOffHidesStored: events stored while credentials were
// collected keep them in the store (purge deletes them), but once the
// owner switches collecting off neither /events nor /stats shows them,
// nor secrets elsewhere in their texts; switched on again, they show.
func TestCredentialsOffHidesStored(t *testing.T) {
	e := newEnv(t)
	now := time.Now().UTC()
	evs := fixtureEvents(6, now)
	evs = append(evs, event.Event{Time: now, Service: "80tcp", Port: 80, SrcIP: "198.51.100.9", SrcPort: 4444, ConnID: 99,
		Action: event.Request, Method: "GET", URL: "/login?user=admin&pass=hunter2", UserAgent: "curl"},
		event.Event{Time: now, Service: "3128tcp", Port: 3128, SrcIP: "198.51.100.9", SrcPort: 4445, ConnID: 100,
			Action: event.Request, Method: "GET", URL: "http://bob:hunter2@example.com/", Host: "bob:hunter2@example.com"})
	e.fixture(evs)
	secrets := []string{"hunter2", "pw0", "pw1", `"root"`}
	for _, on := range []bool{false, true} {
		if on {
			e.collectCredentials()
		}
		for _, target := range []string{"/api/v1/events?limit=1000", "/api/v1/stats"} {
			r := e.do("GET", target, "")
			if r.status != 200 {
				t.Fatalf("%s: %d %s", target, r.status, r.body)
			}
			for _, sec := range secrets {
				if got := strings.Contains(string(r.body), sec); got != on {
					t.Errorf("credentials on %v: %s shows %s: %v", on, target, sec, got)
				}
			}
		}
	}
	// Off: the redacted URLs keep their shape, counted once each.
	e.do("PATCH", "/api/v1/settings", `{"log_credentials": false}`)
	var doc StatsDoc
	e.do("GET", "/api/v1/stats", "").decode(t, &doc)
	urls := map[string]int64{}
	for _, v := range append(doc.Top.URLs, doc.Top.ProxyTargets...) {
		urls[v.Value] += v.Count
	}
	if !doc.CredentialsHidden {
		t.Error("stats with credentials off do not say stored ones are hidden")
	}
	if urls["/login?user=&pass="] != 1 || urls["http://example.com/"] != 1 || len(doc.Top.Usernames)+len(doc.Top.Passwords)+len(doc.Top.Pairs) != 0 {
		t.Errorf("top with credentials off: %+v", doc.Top)
	}
}

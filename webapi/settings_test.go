package webapi

import (
	"bytes"
	"fmt"
	"os"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minipot/minipot/internal/settings"
	"github.com/minipot/minipot/internal/uci"
)

func TestGetSettings(t *testing.T) {
	e := newEnv(t)
	r := e.do("GET", "/api/v1/settings", "")
	if r.status != 200 {
		t.Fatalf("GET /settings: %d %s", r.status, r.body)
	}
	if want := etagOf(settings.Digest(e.fileBytes())); r.header.Get("ETag") != want {
		t.Errorf("ETag %q, want the file's sha256 %q", r.header.Get("ETag"), want)
	}
	var doc SettingsDoc
	r.decode(t, &doc)
	if !doc.Enabled || doc.LogCredentials || doc.Services["2323tcp"].Enabled || !doc.Services["23tcp"].Enabled ||
		doc.Services["23tcp"].FakePort != 1392 || doc.MarkMask != "0xC0000" || doc.Limits.IdleTimeout != "1m" || doc.Store.Path != e.db {
		t.Errorf("settings: %+v", doc)
	}
}

// TestFlattenCoversEverySetting keeps the change list honest: every leaf
// of settings.Settings has an entry.
func TestFlattenCoversEverySetting(t *testing.T) {
	var count func(reflect.Type) int
	count = func(t reflect.Type) int {
		if t.Kind() != reflect.Struct {
			return 1
		}
		n := 0
		for i := range t.NumField() {
			n += count(t.Field(i).Type)
		}
		return n
	}
	if got, want := len(flatten(settings.Defaults())), count(reflect.TypeOf(settings.Settings{})); got != want {
		t.Errorf("flatten lists %d options, settings.Settings has %d", got, want)
	}
}

func TestPatchSettings(t *testing.T) {
	e := newEnv(t)
	etag := e.do("GET", "/api/v1/settings", "").header.Get("ETag")
	r := e.do("PATCH", "/api/v1/settings",
		`{"enabled": false, "log_credentials": true, "services": {"2323tcp": {"enabled": true}, "80tcp": {"enabled": false}},
		  "limits": {"idle_timeout": "30s"}, "agent": {"hostname": "turris"}}`, "If-Match", etag)
	if r.status != 200 {
		t.Fatalf("PATCH: %d %s", r.status, r.body)
	}
	var res UpdateResult
	r.decode(t, &res)
	file := e.fileBytes()
	if want := etagOf(settings.Digest(file)); res.ETag != want || r.header.Get("ETag") != want {
		t.Errorf("ETag %q / header %q, want %q", res.ETag, r.header.Get("ETag"), want)
	}
	want := []Change{
		{"fakes.enabled", "1", "0"}, {"fakes.log_credentials", "0", "1"}, {"fakes.disable", "2323tcp", "80tcp"},
		{"agent.hostname", "OpenWrt", "turris"}, {"limits.idle_timeout", "1m", "30s"},
	}
	if !res.Changed || !slices.Equal(res.Changes, want) {
		t.Errorf("changes %+v, want %+v", res.Changes, want)
	}
	for _, s := range []string{"option enabled '0'", "option log_credentials '1'", "list disable '80tcp'", "option idle_timeout '30s'", "option hostname 'turris'"} {
		if !bytes.Contains(file, []byte(s)) {
			t.Errorf("file lacks %q:\n%s", s, file)
		}
	}
	if bytes.Contains(file, []byte("2323tcp")) {
		t.Errorf("2323tcp still disabled:\n%s", file)
	}
	ap := res.Applied
	if !ap.File.Written || !ap.Firewall.Managed || !ap.Firewall.Applied || !ap.Agent.Running || !ap.Agent.Applied {
		t.Errorf("applied: %+v", ap)
	}
	if got := e.fw.Applied(); len(got) != 1 || got[0].Enabled {
		t.Errorf("firewall applied %+v, want the new settings once", got)
	}
	if rep, _ := e.agent.Report(); rep.ConfigDigest != settings.Digest(file) {
		t.Errorf("agent runs %s, want the file's %s", rep.ConfigDigest, settings.Digest(file))
	}
	if !strings.Contains(e.log.String(), `"fakes.enabled":"1 -> 0"`) || !strings.Contains(e.log.String(), `"peer":"unix uid=`) {
		t.Errorf("the change is not logged with what changed and who:\n%s", e.log.String())
	}
	var doc SettingsDoc
	e.do("GET", "/api/v1/settings", "").decode(t, &doc)
	if doc.Enabled || !doc.LogCredentials || doc.Services["80tcp"].Enabled || !doc.Services["2323tcp"].Enabled || doc.Agent.Hostname != "turris" {
		t.Errorf("GET after PATCH: %+v", doc)
	}

	// The same document again changes nothing and writes nothing.
	before := e.fileBytes()
	r = e.do("PATCH", "/api/v1/settings", `{"enabled": false}`)
	r.decode(t, &res)
	if r.status != 200 || res.Changed || len(res.Changes) != 0 || !bytes.Equal(before, e.fileBytes()) {
		t.Errorf("no-op PATCH: %d changed=%v %+v", r.status, res.Changed, res.Changes)
	}
	// What GET returned can be sent back whole.
	full := e.do("GET", "/api/v1/settings", "")
	if r := e.do("PATCH", "/api/v1/settings", string(full.body)); r.status != 200 {
		t.Errorf("PATCH with the GET document: %d %s", r.status, r.body)
	}
}

// TestBadInput: every kind of bad request gets a clear 4xx naming the
// field, and leaves the file unchanged byte for byte, the rules and the
// agent untouched.
func TestBadInput(t *testing.T) {
	e := newEnv(t)
	before := e.fileBytes()
	huge := `{"agent": {"hostname": "` + strings.Repeat("a", 70<<10) + `"}}`
	tests := []struct {
		name, body string
		header     []string
		status     int
		field      string // a field the error must name ("-": none)
		message    string // part of the message
	}{
		{"malformed", `{"enabled": tru`, nil, 400, "", "malformed JSON"},
		{"not an object", `[true]`, nil, 400, "", "JSON object"},
		{"two values", `{} {}`, nil, 400, "", "more than one"},
		{"empty", ``, []string{"Content-Type", "application/json"}, 400, "", "malformed JSON"},
		{"unknown field", `{"enable": false}`, nil, 400, "enable", "unknown field"},
		{"unknown nested field", `{"limits": {"idle": "30s"}}`, nil, 400, "limits.idle", "unknown field"},
		{"unknown service field", `{"services": {"23tcp": {"on": false}}}`, nil, 400, "services.23tcp.on", "unknown field"},
		{"string for bool", `{"enabled": "0"}`, nil, 400, "fakes.enabled", "true or false"},
		{"number for string", `{"agent": {"hostname": 7}}`, nil, 400, "agent.hostname", "must be a string"},
		{"string for number", `{"redir_offset": "1369"}`, nil, 400, "fakes.redir_offset", "must be a number"},
		{"object for list", `{"firewall": {"wan_devices": {"a": 1}}}`, nil, 400, "firewall.wan_devices", "array"},
		{"null", `{"enabled": null}`, nil, 400, "fakes.enabled", "null"},
		{"fraction", `{"agent": {"attempts": 2.5}}`, nil, 400, "agent.attempts", "whole number"},
		{"too big a number", `{"redir_offset": 1e30}`, nil, 400, "fakes.redir_offset", "whole number"},
		{"offset too large", `{"redir_offset": 64000}`, nil, 400, "fakes.redir_offset", "outside"},
		{"offset zero", `{"redir_offset": 0}`, nil, 400, "fakes.redir_offset", "outside"},
		{"offset negative", `{"redir_offset": -5}`, nil, 400, "fakes.redir_offset", ""},
		{"mask with three bits", `{"mark_mask": "0xE0000"}`, nil, 400, "fakes.mark_mask", "two bits"},
		{"mask not a number", `{"mark_mask": "0xZZ"}`, nil, 400, "fakes.mark_mask", "not a 32-bit number"},
		{"unknown service", `{"services": {"9999tcp": {"enabled": false}}}`, nil, 400, "fakes.disable", "unknown service"},
		{"read-only port", `{"services": {"23tcp": {"port": 2222}}}`, nil, 400, "fakes.disable", "read-only"},
		{"bad duration", `{"limits": {"idle_timeout": "5 minutes"}}`, nil, 400, "limits.idle_timeout", "not a duration"},
		{"duration out of range", `{"agent": {"login_delay": "1h"}}`, nil, 400, "agent.login_delay", "outside"},
		{"bad host name", `{"agent": {"hostname": "my router"}}`, nil, 400, "agent.hostname", "host name"},
		{"bad device", `{"firewall": {"wan_devices": ["eth0", "bad/dev"]}}`, nil, 400, "firewall.wan_devices", "device"},
		{"bad backend", `{"firewall": {"backend": "pf"}}`, nil, 400, "firewall.backend", "auto, nft, legacy"},
		{"several errors at once", `{"redir_offset": 70000, "agent": {"attempts": 0}}`, nil, 400, "agent.attempts", ""},
		{"oversized body", huge, nil, 413, "-", "larger than"},
		{"text/plain", `{"enabled": false}`, []string{"Content-Type", "text/plain"}, 415, "-", "application/json"},
		{"form", `enabled=false`, []string{"Content-Type", "application/x-www-form-urlencoded"}, 415, "-", "application/json"},
		{"no content type", `{"enabled": false}`, []string{"Content-Type", ""}, 415, "-", "application/json"},
		{"foreign Host", `{"enabled": false}`, []string{"Host", "evil.example:8377"}, 403, "-", "not local"},
		{"foreign Origin", `{"enabled": false}`, []string{"Origin", "http://evil.example"}, 403, "-", "cross-origin"},
		{"cross-site fetch", `{"enabled": false}`, []string{"Sec-Fetch-Site", "cross-site"}, 403, "-", "cross-site"},
		{"stale If-Match", `{"enabled": false}`, []string{"If-Match", `"0000"`}, 412, "-", "changed since you read them"},
		{"weak If-Match", `{"enabled": false}`, []string{"If-Match", "W/" + etagOf(settings.Digest(before))}, 412, "-", "changed since"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do("PATCH", "/api/v1/settings", tc.body, tc.header...)
			if r.status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.status, tc.status, r.body)
			}
			var ae apiError
			r.decode(t, &ae)
			msg := ae.Error
			named := tc.field == "-"
			for _, f := range ae.Fields {
				msg += " | " + f.Field + ": " + f.Message
				named = named || f.Field == tc.field
			}
			if !named {
				t.Errorf("no error names field %q: %s", tc.field, r.body)
			}
			if !strings.Contains(msg, tc.message) {
				t.Errorf("message %q lacks %q", msg, tc.message)
			}
			if !bytes.Equal(before, e.fileBytes()) {
				t.Fatalf("the file changed:\n%s", e.fileBytes())
			}
		})
	}
	if n := len(e.fw.Applied()); n != 0 {
		t.Errorf("the firewall was applied %d times", n)
	}
	if n := len(e.agent.reloads); n != 0 {
		t.Errorf("the agent was reloaded %d times", n)
	}
}

// TestConcurrentUpdates: updates based on the same ETag conflict (one
// wins, the others get 412); updates without If-Match are serialized and
// none is lost.
func TestConcurrentUpdates(t *testing.T) {
	e := newEnv(t)
	etag := e.do("GET", "/api/v1/settings", "").header.Get("ETag")
	keys := []string{"23tcp", "80tcp", "3128tcp", "8080tcp", "8123tcp"}
	statuses := make([]int, len(keys))
	var wg sync.WaitGroup
	for i, k := range keys {
		wg.Go(func() {
			statuses[i] = e.do("PATCH", "/api/v1/settings", `{"services": {"`+k+`": {"enabled": false}}}`, "If-Match", etag).status
		})
	}
	wg.Wait()
	won := 0
	for i, s := range statuses {
		switch s {
		case 200:
			won++
		case 412:
		default:
			t.Errorf("%s: status %d", keys[i], s)
		}
	}
	if won != 1 {
		t.Errorf("%d updates with the same If-Match succeeded (%v), want 1", won, statuses)
	}

	e.do("PATCH", "/api/v1/settings", `{"services": {"23tcp": {"enabled": true}, "80tcp": {"enabled": true}, "3128tcp": {"enabled": true}, "8080tcp": {"enabled": true}, "8123tcp": {"enabled": true}}}`)
	for _, k := range keys {
		wg.Go(func() {
			if r := e.do("PATCH", "/api/v1/settings", `{"services": {"`+k+`": {"enabled": false}}}`); r.status != 200 {
				t.Errorf("%s: %d %s", k, r.status, r.body)
			}
		})
	}
	wg.Wait()
	s, err := settings.Load(e.dir)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"2323tcp", "3128tcp", "23tcp", "80tcp", "8080tcp", "8123tcp"}; !sameSet(s.Disabled, want) {
		t.Errorf("disabled %v after concurrent updates, want %v", s.Disabled, want)
	}
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// TestChangeInTheFileIsPickedUp: a change made directly in the file, as
// `uci set` + `uci commit` make it, shows at once; a PATCH based on the
// old ETag is refused; the status says the agent has not loaded it.
func TestChangeInTheFileIsPickedUp(t *testing.T) {
	e := newEnv(t)
	old := e.do("GET", "/api/v1/settings", "").header.Get("ETag")
	if err := e.dir.Update(settings.Package, func(p *uci.Package) error {
		p.Section("fakes").Set("log_credentials", "1")
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	r := e.do("GET", "/api/v1/settings", "")
	var doc SettingsDoc
	r.decode(t, &doc)
	if !doc.LogCredentials || r.header.Get("ETag") == old {
		t.Errorf("the file's change is not shown: log_credentials=%v ETag %s (was %s)", doc.LogCredentials, r.header.Get("ETag"), old)
	}
	var st StatusDoc
	e.do("GET", "/api/v1/status", "").decode(t, &st)
	if st.Agent.InSync || !st.Settings.LogCredentials {
		t.Errorf("status: agent in sync %v, settings %+v", st.Agent.InSync, st.Settings)
	}
	before := e.fileBytes()
	if r := e.do("PATCH", "/api/v1/settings", `{"enabled": false}`, "If-Match", old); r.status != 412 || r.header.Get("ETag") != etagOf(settings.Digest(before)) {
		t.Errorf("PATCH with the old ETag: %d ETag %q", r.status, r.header.Get("ETag"))
	}
	if !bytes.Equal(before, e.fileBytes()) {
		t.Error("a stale PATCH changed the file")
	}
	// POST /settings/apply reloads the agent with the file as it is.
	var res UpdateResult
	r = e.do("POST", "/api/v1/settings/apply", `{}`)
	r.decode(t, &res)
	if r.status != 200 || !res.Applied.Agent.Applied || !res.Applied.Firewall.Applied {
		t.Errorf("apply: %d %s", r.status, r.body)
	}
	e.do("GET", "/api/v1/status", "").decode(t, &st)
	if !st.Agent.InSync {
		t.Errorf("agent not in sync after apply: %+v", st.Agent)
	}
}

// TestInvalidFile: a file with an invalid option is shown with its
// default and the error; a PATCH that does not fix it gets 409, one that
// sets it writes the new value.
func TestInvalidFile(t *testing.T) {
	e := newEnv(t)
	data := bytes.Replace(e.fileBytes(), []byte("config fakes 'fakes'\n"), []byte("config fakes 'fakes'\n\toption redir_offset 'abc'\n"), 1)
	if err := os.WriteFile(e.file, data, 0o644); err != nil {
		t.Fatal(err)
	}
	var doc SettingsDoc
	e.do("GET", "/api/v1/settings", "").decode(t, &doc)
	if doc.RedirOffset != 1369 || len(doc.Errors) != 1 || doc.Errors[0].Field != "fakes.redir_offset" {
		t.Errorf("invalid file: offset %d errors %+v", doc.RedirOffset, doc.Errors)
	}
	r := e.do("PATCH", "/api/v1/settings", `{"enabled": false}`)
	var ae apiError
	r.decode(t, &ae)
	if r.status != 409 || len(ae.Fields) != 1 || ae.Fields[0].Field != "fakes.redir_offset" || !bytes.Equal(data, e.fileBytes()) {
		t.Errorf("PATCH on an invalid file: %d %s", r.status, r.body)
	}
	r = e.do("PATCH", "/api/v1/settings", `{"enabled": false, "redir_offset": 1369}`)
	if r.status != 200 || !bytes.Contains(e.fileBytes(), []byte("option enabled '0'")) || bytes.Contains(e.fileBytes(), []byte("abc")) {
		t.Errorf("PATCH fixing the file: %d %s\n%s", r.status, r.body, e.fileBytes())
	}
	if s, err := settings.Load(e.dir); err != nil || s.RedirOffset != 1369 {
		t.Errorf("after the fix: %+v %v", s.RedirOffset, err)
	}
	if err := os.WriteFile(e.file, []byte("config fakes 'fakes\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if r := e.do("PATCH", "/api/v1/settings", `{"enabled": true}`); r.status != 409 {
		t.Errorf("PATCH on a file that does not parse: %d %s", r.status, r.body)
	}
	if r := e.do("GET", "/api/v1/settings", ""); r.status != 500 || !strings.Contains(string(r.body), "does not parse") {
		t.Errorf("GET of a file that does not parse: %d %s", r.status, r.body)
	}
}

// TestRollback: when the firewall or the agent cannot apply the new
// settings, the previous file comes back byte for byte, the rules are
// converged back and the agent reloaded with it.
func TestRollback(t *testing.T) {
	tests := []struct {
		name  string
		setup func(e *env)
		want  string
	}{
		{"firewall fails", func(e *env) { e.fw.failOn = func(s settings.Settings) bool { return s.ServiceEnabled("2323tcp") } }, "firewall: iptables"},
		{"fake port taken", func(e *env) { e.agent.cannotListen = "2323tcp" }, "2323tcp cannot listen on port 3692"},
		{"agent does not confirm", func(e *env) { e.agent.hang = true }, "did not"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			before := e.fileBytes()
			tc.setup(e)
			r := e.do("PATCH", "/api/v1/settings", `{"services": {"2323tcp": {"enabled": true}}}`)
			var res UpdateResult
			r.decode(t, &res)
			if r.status != 500 || !res.RolledBack || !strings.Contains(res.Error, tc.want) {
				t.Errorf("status %d rolled back %v error %q, want %q", r.status, res.RolledBack, res.Error, tc.want)
			}
			if !bytes.Equal(before, e.fileBytes()) {
				t.Errorf("the file is not restored:\n%s\nwas\n%s", e.fileBytes(), before)
			}
			if res.ETag != etagOf(settings.Digest(before)) || res.Settings.Services["2323tcp"].Enabled {
				t.Errorf("the response does not describe the restored file: %s %+v", res.ETag, res.Settings.Services["2323tcp"])
			}
			if tc.name != "agent does not confirm" {
				if rep, _ := e.agent.Report(); rep.ConfigDigest != settings.Digest(before) {
					t.Errorf("the agent runs %s, not the restored file", rep.ConfigDigest)
				}
			}
			if a := e.fw.Applied(); len(a) == 0 || slices.Contains(a[len(a)-1].Disabled, "2323tcp") == false {
				t.Errorf("the rules were not converged back to the previous settings: %+v", a)
			}
		})
	}
}

func TestAgentNotRunning(t *testing.T) {
	e := newEnv(t)
	e.agent.running = false
	var res UpdateResult
	r := e.do("PATCH", "/api/v1/settings", `{"log_credentials": true}`)
	r.decode(t, &res)
	if r.status != 200 || res.Applied.Agent.Running || !strings.Contains(res.Applied.Agent.Note, "not running") {
		t.Errorf("%d %s", r.status, r.body)
	}
	var st StatusDoc
	e.do("GET", "/api/v1/status", "").decode(t, &st)
	if st.Agent.Running || st.Services[0].Listening || st.Services[0].Reason != "the agent is not running" {
		t.Errorf("status: %+v %+v", st.Agent, st.Services[0])
	}
}

func TestEtagMatches(t *testing.T) {
	d := "abc"
	for _, tc := range []struct {
		header string
		want   bool
	}{{`"abc"`, true}, {`abc`, true}, {`*`, true}, {`"x", "abc"`, true}, {`W/"abc"`, false}, {`"abd"`, false}, {``, false}} {
		if got := etagMatches(tc.header, d); got != tc.want {
			t.Errorf("etagMatches(%q) = %v", tc.header, got)
		}
	}
}

func TestUCIField(t *testing.T) {
	for in, want := range map[string]string{
		"enabled": "fakes.enabled", "mark_mask": "fakes.mark_mask", "services.23tcp.enabled": "fakes.disable",
		"services.23tcp": "fakes.disable", "agent.hostname": "agent.hostname", "limits.idle_timeout": "limits.idle_timeout",
	} {
		if got := uciField(in); got != want {
			t.Errorf("uciField(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestDocFollowsTheFieldsTable: the settings document has a field for
// every option of the fields table and no other (services and errors
// aside), so docOf and applyPatch, which go by the table, miss nothing.
func TestDocFollowsTheFieldsTable(t *testing.T) {
	root := reflect.ValueOf(&SettingsDoc{}).Elem()
	want := map[string]bool{}
	for _, o := range settings.Defaults().Options() {
		if jsonPath(o) == "" {
			continue
		}
		want[jsonPath(o)] = true
		if _, ok := docField(root, jsonPath(o)); !ok {
			t.Errorf("option %s has no field %q in SettingsDoc", o.Path(), jsonPath(o))
		}
	}
	var leaves func(t reflect.Type, prefix string)
	leaves = func(typ reflect.Type, prefix string) {
		for i := range typ.NumField() {
			name, _, _ := strings.Cut(typ.Field(i).Tag.Get("json"), ",")
			path := join(prefix, name)
			if path == "services" || path == "errors" {
				continue
			}
			if typ.Field(i).Type.Kind() == reflect.Struct {
				leaves(typ.Field(i).Type, path)
			} else if !want[path] {
				t.Errorf("SettingsDoc field %s is no option of the fields table", path)
			}
		}
	}
	leaves(root.Type(), "")
}

// TestPatchParsesAsTheFile: a patched value is read as the same text in
// the file would be, with the file's messages.
func TestPatchParsesAsTheFile(t *testing.T) {
	cases := []struct {
		body, field, msg string
	}{
		{`{"redir_offset": 1.5}`, "fakes.redir_offset", "not a whole number"},
		{`{"limits": {"max_per_ip": 1e30}}`, "limits.max_per_ip", "not a whole number"},
		{`{"agent": {"login_delay": "soon"}}`, "agent.login_delay", "not a duration"},
		{`{"mark_mask": "0xZZ"}`, "fakes.mark_mask", "not a 32-bit number"},
	}
	for _, c := range cases {
		p, errs := decodePatch([]byte(c.body))
		if len(errs) > 0 {
			t.Fatalf("%s: %v", c.body, errs)
		}
		_, touched, errs := applyPatch(settings.Defaults(), p)
		if len(errs) != 1 || errs[0].Field != c.field || !strings.Contains(errs[0].Message, c.msg) {
			t.Errorf("%s: errors %v, want %s: ...%s...", c.body, errs, c.field, c.msg)
		}
		if !slices.Equal(touched, []string{c.field}) {
			t.Errorf("%s: touched %v", c.body, touched)
		}
	}
	p, _ := decodePatch([]byte(`{"firewall": {"wan_devices": ["eth1", "eth0"], "ipv6": false}, "agent": {"login_delay": "1500ms"}}`))
	s, _, errs := applyPatch(settings.Defaults(), p)
	if len(errs) > 0 || !slices.Equal(s.Firewall.WANDevices, []string{"eth0", "eth1"}) || s.Firewall.IPv6 || s.Agent.LoginDelay != 1500*time.Millisecond {
		t.Errorf("applied: %v %+v %+v", errs, s.Firewall, s.Agent)
	}
}

// TestPatchNewServices: every service of the table can be switched off
// and on through the settings document.
func TestPatchNewServices(t *testing.T) {
	var off, on []string
	for _, svc := range settings.Services() {
		off = append(off, fmt.Sprintf("%q: {\"enabled\": false}", svc.Key))
		on = append(on, fmt.Sprintf("%q: {\"enabled\": true}", svc.Key))
	}
	p, errs := decodePatch([]byte(`{"services": {` + strings.Join(off, ", ") + `}}`))
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	s, touched, errs := applyPatch(settings.Defaults(), p)
	if len(errs) > 0 || len(s.Disabled) != len(settings.Services()) || !slices.Equal(touched, []string{"fakes.disable"}) {
		t.Fatalf("all off: %v %v %v", errs, s.Disabled, touched)
	}
	for _, svc := range settings.Services() {
		if s.ServiceEnabled(svc.Key) || docOf(s).Services[svc.Key].Enabled {
			t.Errorf("%s still on", svc.Key)
		}
	}
	p, _ = decodePatch([]byte(`{"services": {` + strings.Join(on, ", ") + `}}`))
	if s, _, errs = applyPatch(s, p); len(errs) > 0 || len(s.Disabled) != 0 {
		t.Errorf("all on again: %v %v", errs, s.Disabled)
	}
}

package settings

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/minipot/minipot/internal/uci"
)

func parse(t *testing.T, text string) *uci.Package {
	t.Helper()
	p, err := uci.Parse(Package, []byte(text))
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	return p
}

func TestDefaultsAreValid(t *testing.T) {
	if err := Defaults().Validate(); err != nil {
		t.Fatal(err)
	}
	s, err := FromPackage(parse(t, ""))
	if err != nil {
		t.Fatal(err)
	}
	if s.RedirOffset != 1369 || s.MarkMask != 0xC0000 || !s.Enabled || s.LogCredentials {
		t.Fatalf("empty file: %+v", s)
	}
}

func TestFromPackage(t *testing.T) {
	s, err := FromPackage(parse(t, `
config fakes 'fakes'
	option enabled 'yes'
	option log_credentials '1'
	list disable '8080tcp'
	list disable '2323tcp'
	list disable '2323tcp'
	option redir_offset '2000'
	option mark_mask '0x30000'

config agent 'agent'
	option hostname 'Turris'
	option login_delay '1500ms'

config limits 'limits'
	option idle_timeout '2m'

config store 'store'
	option max_age '7d'

config firewall 'firewall'
	option backend 'legacy'
	list wan_devices 'pppoe-wan'
	list wan_devices 'eth1'
	list wan_devices 'wg+'
	option ipv6 '0'
`))
	if err != nil {
		t.Fatal(err)
	}
	if !s.Enabled || !s.LogCredentials || s.RedirOffset != 2000 || s.MarkMask != 0x30000 {
		t.Errorf("fakes: %+v", s)
	}
	if got := strings.Join(s.Disabled, ","); got != "2323tcp,8080tcp" {
		t.Errorf("disable = %q, want sorted and unique", got)
	}
	if s.ServiceEnabled("2323tcp") || !s.ServiceEnabled("23tcp") {
		t.Error("ServiceEnabled does not follow the disable list")
	}
	if s.Agent.Hostname != "Turris" || s.Agent.LoginDelay != 1500*time.Millisecond {
		t.Errorf("agent: %+v", s.Agent)
	}
	if s.Limits.Idle != 2*time.Minute || s.Store.MaxAge != 7*24*time.Hour {
		t.Errorf("limits/store: %+v %+v", s.Limits, s.Store)
	}
	if fw := s.Firewall; fw.Backend != "legacy" || strings.Join(fw.WANDevices, ",") != "eth1,pppoe-wan,wg+" || fw.IPv6 || fw.WANZone != "wan" {
		t.Errorf("firewall: %+v", fw)
	}
}

// fieldsOf lists the Field of each error, to compare with what a table expects.
func fieldsOf(err error) []string {
	var errs Errors
	if !errors.As(err, &errs) {
		return nil
	}
	var out []string
	for _, e := range errs {
		out = append(out, e.Field)
	}
	return out
}

func TestInvalid(t *testing.T) {
	cases := []struct {
		name, text string
		fields     []string
	}{
		{"unknown service", "config fakes 'fakes'\n\tlist disable '443tcp'\n", []string{"fakes.disable"}},
		{"offset past 65535", "config fakes 'fakes'\n\toption redir_offset '60000'\n", []string{"fakes.redir_offset"}},
		{"offset below 1025", "config fakes 'fakes'\n\toption redir_offset '5'\n", []string{"fakes.redir_offset"}},
		{"offset not a number", "config fakes 'fakes'\n\toption redir_offset 'x'\n", []string{"fakes.redir_offset"}},
		{"mask one bit", "config fakes 'fakes'\n\toption mark_mask '0x40000'\n", []string{"fakes.mark_mask"}},
		{"mask three bits", "config fakes 'fakes'\n\toption mark_mask '0x70000'\n", []string{"fakes.mark_mask"}},
		{"mask garbage", "config fakes 'fakes'\n\toption mark_mask 'lots'\n", []string{"fakes.mark_mask"}},
		{"bad boolean", "config fakes 'fakes'\n\toption enabled 'maybe'\n", []string{"fakes.enabled"}},
		{"bad duration", "config limits 'limits'\n\toption idle_timeout '5 parsecs'\n", []string{"limits.idle_timeout"}},
		{"duration too long", "config agent 'agent'\n\toption login_delay '1h'\n", []string{"agent.login_delay"}},
		{"zero attempts", "config agent 'agent'\n\toption attempts '0'\n", []string{"agent.attempts"}},
		{"bad hostname", "config agent 'agent'\n\toption hostname 'a b'\n", []string{"agent.hostname"}},
		{"bad log level", "config agent 'agent'\n\toption log_level 'loud'\n", []string{"agent.log_level"}},
		{"bad backend", "config firewall 'firewall'\n\toption backend 'ipfw'\n", []string{"firewall.backend"}},
		{"bad wan device", "config firewall 'firewall'\n\tlist wan_devices 'eth1'\n\tlist wan_devices 'eth/1'\n", []string{"firewall.wan_devices"}},
		{"wan device too long", "config firewall 'firewall'\n\tlist wan_devices 'averyveryverylongname'\n", []string{"firewall.wan_devices"}},
		{"wildcard inside", "config firewall 'firewall'\n\tlist wan_devices 'eth+1'\n", []string{"firewall.wan_devices"}},
		{"bad zone", "config firewall 'firewall'\n\toption wan_zone 'w-an'\n", []string{"firewall.wan_zone"}},
		{"zone too long", "config firewall 'firewall'\n\toption wan_zone 'wan_of_my_house'\n", []string{"firewall.wan_zone"}},
		{"two at once", "config fakes 'fakes'\n\toption enabled '2'\nconfig limits 'limits'\n\toption max_per_ip '0'\n", []string{"fakes.enabled", "limits.max_per_ip"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := FromPackage(parse(t, c.text))
			if got := strings.Join(fieldsOf(err), ","); got != strings.Join(c.fields, ",") {
				t.Fatalf("fields %q, want %q (error: %v)", got, strings.Join(c.fields, ","), err)
			}
		})
	}
}

func TestApplyWritesOnlyChanges(t *testing.T) {
	const text = `# libuci drops comments on commit; so do we
config fakes 'fakes'
	option enabled '1'
	option custom 'mine'

config other 'x'
	option y 'z'
`
	p := parse(t, text)
	s, err := FromPackage(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Apply(p); err != nil {
		t.Fatal(err)
	}
	unchanged := string(parse(t, text).Marshal())
	if got := string(p.Marshal()); got != unchanged {
		t.Fatalf("applying unchanged settings changed the file:\n%s\nwant\n%s", got, unchanged)
	}

	s.LogCredentials = true
	s.Disabled = []string{"80tcp", "23tcp"}
	s.Limits.Idle = 90 * time.Second
	if err := s.Apply(p); err != nil {
		t.Fatal(err)
	}
	want := `
config fakes 'fakes'
	option enabled '1'
	option custom 'mine'
	option log_credentials '1'
	list disable '23tcp'
	list disable '80tcp'

config other 'x'
	option y 'z'

config limits 'limits'
	option idle_timeout '90s'

`
	if got := string(p.Marshal()); got != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
	back, err := FromPackage(p)
	if err != nil || back.Limits.Idle != 90*time.Second || !back.LogCredentials {
		t.Fatalf("read back: %+v %v", back, err)
	}

	s.Disabled = nil
	if err := s.Apply(p); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(p.Marshal()), "disable") {
		t.Fatal("an empty disable list must remove the option")
	}
}

func TestApplyRejectsInvalid(t *testing.T) {
	p := parse(t, "config fakes 'fakes'\n\toption enabled '1'\n")
	before := string(p.Marshal())
	s := Defaults()
	s.RedirOffset = 70000
	if err := s.Apply(p); err == nil {
		t.Fatal("invalid settings applied")
	}
	if string(p.Marshal()) != before {
		t.Fatal("an invalid Apply changed the package")
	}
}

func TestSaveAndLoad(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, Package)
	if err := os.WriteFile(path, []byte("config fakes 'fakes'\n\toption enabled '1'\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	s, err := Load(uci.Dir{Path: dir})
	if err != nil {
		t.Fatal(err)
	}
	s.Enabled = false
	if err := Save(uci.Dir{Path: dir}, s); err != nil {
		t.Fatal(err)
	}
	got, err := Load(uci.Dir{Path: dir})
	if err != nil || got.Enabled {
		t.Fatalf("after save: enabled=%v err=%v", got.Enabled, err)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o640 {
		t.Errorf("mode %v, want 0640 kept", fi.Mode().Perm())
	}

	bad := Defaults()
	bad.MarkMask = 1
	before, _ := os.ReadFile(path)
	if err := Save(uci.Dir{Path: dir}, bad); err == nil {
		t.Fatal("saved invalid settings")
	}
	after, _ := os.ReadFile(path)
	if string(before) != string(after) {
		t.Fatal("a rejected save changed the file")
	}
}

func TestDurations(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"30": 30 * time.Second, "1500ms": 1500 * time.Millisecond, "30s": 30 * time.Second,
		"5m": 5 * time.Minute, "2h": 2 * time.Hour, "7d": 7 * 24 * time.Hour, "0": 0,
	} {
		got, err := ParseDuration(in)
		if err != nil || got != want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", in, got, err, want)
		}
		if back, _ := ParseDuration(FormatDuration(got)); back != got {
			t.Errorf("FormatDuration(%v) = %q does not read back", got, FormatDuration(got))
		}
	}
	for _, bad := range []string{"", "-1", "1.5s", "s", "10y", "99999999999999999999d"} {
		if _, err := ParseDuration(bad); err == nil {
			t.Errorf("ParseDuration(%q) accepted", bad)
		}
	}
}

// TestDocsListEveryOption keeps docs/configuration.md true to the code.
func TestDocsListEveryOption(t *testing.T) {
	doc, err := os.ReadFile("../../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	d := Defaults()
	for _, f := range fields {
		row := "| `" + f.path() + "` |"
		if !strings.Contains(string(doc), row) {
			t.Errorf("docs/configuration.md has no row %s", row)
			continue
		}
		line := string(doc)[strings.Index(string(doc), row):]
		line = line[:strings.IndexByte(line, '\n')]
		if def := f.format(&d); !strings.Contains(line, "`"+def+"`") && def != "" {
			t.Errorf("docs row of %s does not give the default `%s`: %s", f.path(), def, line)
		}
	}
}

// TestDocsListEveryService keeps README's table, docs/agent.md's and the
// disable row of docs/configuration.md true to the service table.
func TestDocsListEveryService(t *testing.T) {
	read := func(path string) string {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	readme, agent, conf := read("../../README.md"), read("../../docs/agent.md"), read("../../docs/configuration.md")
	disable := conf[strings.Index(conf, "| `fakes.disable` |"):]
	disable = disable[:strings.IndexByte(disable, '\n')]
	d := Defaults()
	for _, svc := range Services() {
		row := fmt.Sprintf("| `%s` | %d | %d |", svc.Key, svc.Port, d.FakePort(svc))
		if !strings.Contains(readme, row) {
			t.Errorf("README.md has no row %s", row)
		}
		if !strings.Contains(agent, "`"+svc.Key+"`") {
			t.Errorf("docs/agent.md does not describe %s", svc.Key)
		}
		if !strings.Contains(disable, "`"+svc.Key+"`") {
			t.Errorf("docs/configuration.md's fakes.disable row does not name %s", svc.Key)
		}
	}
	if n := strings.Count(readme[strings.Index(readme, "| service key |"):], "tcp` |"); n != len(Services()) {
		t.Errorf("README's table has %d services, the table %d", n, len(Services()))
	}
}

// TestWarnings: an option minipot's own sections hold and minipot does not
// read is named by section.option, with the likely intended option; other
// tools' sections and the Turris-era options pass silently, and a warning
// never keeps the rest of the file from applying.
func TestWarnings(t *testing.T) {
	for _, c := range []struct {
		name, file string
		want       Errors
	}{
		{"the package's own file", "", nil},
		{"a typo", "config store 'store'\n\toption max_sise '8'\n\toption max_age '7d'\n",
			Errors{{"store.max_sise", "unknown option, ignored (did you mean store.max_size?)"}}},
		{"a list typo", "config fakes 'fakes'\n\tlist disabled '23tcp'\n",
			Errors{{"fakes.disabled", "unknown option, ignored (did you mean fakes.disable?)"}}},
		{"nothing near", "config agent 'agent'\n\toption colour 'blue'\n",
			Errors{{"agent.colour", "unknown option, ignored"}}},
		{"other tools' sections", "config uplink 'uplink'\n\toption name 'api.turris.cz'\nconfig plugin\n\toption libname 'libplugin_fake.so'\n", nil},
		{"Turris-era options", "config fakes 'fakes'\n\tlist enable '23tcp'\n\tlist disable '2323tcp'\n", nil},
		{"read by its name", "config limits 'store'\n\toption max_size '8'\n\toption max_per_ip '3'\n",
			Errors{{"store.max_per_ip", "unknown option, ignored"}}},
		{"a section minipot does not read", "config limits\n\toption max_per_ip '4'\nconfig limits 'lim'\n",
			Errors{
				{"@limits[0]", `a limits section that minipot does not read: it reads the section named "limits" (config limits 'limits') only`},
				{"lim", `a limits section that minipot does not read: it reads the section named "limits" (config limits 'limits') only`},
			}},
	} {
		t.Run(c.name, func(t *testing.T) {
			data := []byte(c.file)
			if c.file == "" {
				var err error
				if data, err = os.ReadFile("../../openwrt/minipot/files/ucollect.config"); err != nil {
					t.Fatal(err)
				}
			}
			p, err := uci.Parse(Package, data)
			if err != nil {
				t.Fatal(err)
			}
			if got := Warnings(p); !reflect.DeepEqual(got, c.want) {
				t.Errorf("warnings %q, want %q", got, c.want)
			}
			if _, err := FromPackage(p); err != nil {
				t.Errorf("a file with warnings does not load: %v", err)
			}
		})
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, Package), []byte("config store 'store'\n\toption max_sise '8'\n\toption max_age '7d'\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	s, _, warns, err := LoadFile(uci.Dir{Path: dir})
	if err != nil || len(warns) != 1 || warns[0].Field != "store.max_sise" || s.Store.MaxAge != 7*24*time.Hour {
		t.Errorf("LoadFile: %v, warnings %v, max_age %v", err, warns, s.Store.MaxAge)
	}
}

package firewall

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/minipot/minipot/internal/settings"
	"github.com/minipot/minipot/internal/uci"
)

func nftFacts(t *testing.T, fwConf string) Facts {
	t.Helper()
	return Facts{WANDevices: []string{"pppoe-wan", "wg+"}, Policy: OpenWrtPolicy(pkg(t, "firewall", fwConf), "wan"), Listeners: Listeners{}}
}

// fakeSet is the fake ports of every service, as the refuse rule lists them.
func fakeSet() string {
	var ports []string
	for _, svc := range settings.Services() {
		ports = append(ports, strconv.Itoa(settings.Defaults().FakePort(svc)))
	}
	return strings.Join(ports, ", ")
}

func TestMakeNFTPlan(t *testing.T) {
	base := "config zone\n\toption name 'wan'\n\toption input 'REJECT'\n"
	off := settings.Defaults()
	off.Enabled = false
	no6 := settings.Defaults()
	no6.Firewall.IPv6 = false
	one := settings.Defaults()
	one.Disabled = []string{"2323tcp", "80tcp", "3128tcp", "8080tcp", "8123tcp"}
	for _, c := range []struct {
		name    string
		s       settings.Settings
		conf    string
		want    []string // lines the table holds
		notWant []string
	}{
		{name: "off: no table", s: off, conf: base},
		{name: "stock", s: settings.Defaults(), conf: base, want: []string{
			"type nat hook prerouting priority dstnat + 10; policy accept;",
			`iifname != { "pppoe-wan", "wg*" } return`,
			"fib daddr type != local return",
			`meta nfproto ipv4 tcp dport 23 ct mark set ct mark | 0x00080000 counter redirect to :1392 comment "23tcp ipv4"`,
			`meta nfproto ipv6 tcp dport 8123 ct mark set ct mark | 0x00080000 counter redirect to :9492 comment "8123tcp ipv6"`,
			"type filter hook input priority filter - 1; policy accept;",
			"ct status dnat ct mark & 0x00080000 == 0x00080000 return",
			`meta nfproto ipv6 tcp dport { ` + fakeSet() + ` } counter reject with tcp reset comment "direct ipv6"`,
		}, notWant: []string{"socket"}},
		{name: "ipv6 off", s: no6, conf: base, want: []string{"meta nfproto != ipv4 return"}, notWant: []string{"nfproto ipv6"}},
		{name: "accepted port: the socket lookup decides", s: one,
			conf: base + "\nconfig rule\n\toption src 'wan'\n\toption proto 'tcp'\n\toption dest_port '23'\n\toption target 'ACCEPT'\n",
			want: []string{`meta nfproto ipv4 tcp dport 23 socket transparent { 0, 1 } return comment "23tcp ipv4 real service"`,
				`meta nfproto ipv6 tcp dport 23 socket transparent { 0, 1 } return comment "23tcp ipv6 real service"`}},
		{name: "accepted from some sources only", s: one,
			conf:    base + "\nconfig rule\n\toption src 'wan'\n\toption proto 'tcp'\n\toption dest_port '23'\n\toption src_ip '198.51.100.0/24'\n\toption target 'ACCEPT'\n",
			want:    []string{`meta nfproto ipv4 tcp dport 23 ip saddr 198.51.100.0/24 socket transparent { 0, 1 } return comment "23tcp ipv4 real service"`},
			notWant: []string{"nfproto ipv6 tcp dport 23 socket"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			p, err := makeNFTPlan(c.s, nftFacts(t, c.conf))
			if err != nil {
				t.Fatal(err)
			}
			if len(c.want) == 0 {
				if p.table != "" || p.fw4Rule != "" {
					t.Fatalf("want no table, got\n%s", p.table)
				}
				return
			}
			for _, w := range c.want {
				if !strings.Contains(p.table, "\t\t"+w+"\n") {
					t.Errorf("missing %q in\n%s", w, p.table)
				}
			}
			for _, w := range c.notWant {
				if strings.Contains(p.table, w) {
					t.Errorf("unwanted %q in\n%s", w, p.table)
				}
			}
			if !strings.Contains(p.table, `comment "minipot `+p.digest+`"`) || p.fw4Chain != "input_wan" {
				t.Errorf("digest %q, chain %q:\n%s", p.digest, p.fw4Chain, p.table)
			}
			again, _ := makeNFTPlan(c.s, nftFacts(t, c.conf))
			if again.table != p.table {
				t.Error("the same input rendered two tables")
			}
		})
	}
	// The rules do not follow the listeners (the kernel does): a service
	// starting to listen changes the decision reported, not the table.
	f := nftFacts(t, base+"\nconfig rule\n\toption src 'wan'\n\toption proto 'tcp'\n\toption dest_port '23'\n\toption target 'ACCEPT'\n")
	before, _ := makeNFTPlan(settings.Defaults(), f)
	f.Listeners.Add(IPv4, ip("0.0.0.0"), 23)
	after, _ := makeNFTPlan(settings.Defaults(), f)
	if before.digest != after.digest || before.decisions[0].Cause != CauseNothingListens || after.decisions[0].Cause != CauseRealService {
		t.Errorf("digests %s %s, causes %s %s", before.digest, after.digest, before.decisions[0].Cause, after.decisions[0].Cause)
	}
	if _, err := makeNFTPlan(settings.Defaults(), Facts{}); err != ErrNoWAN {
		t.Errorf("no WAN: %v", err)
	}
}

func TestNFTOps(t *testing.T) {
	p, err := makeNFTPlan(settings.Defaults(), nftFacts(t, "config zone\n\toption name 'wan'\n"))
	if err != nil {
		t.Fatal(err)
	}
	kinds := func(ops []Op) string {
		var k []string
		for _, o := range ops {
			k = append(k, string(o.Kind))
		}
		return strings.Join(k, " ")
	}
	for _, c := range []struct {
		name   string
		st     nftState
		plan   nftPlan
		want   string
		script []string
	}{
		{"clean, fw4 running", nftState{fw4Chain: true}, p, "replace-table insert",
			[]string{"table inet minipot {}\ndelete table inet minipot\ntable inet minipot {", "insert rule inet fw4 input_wan " + p.fw4Rule}},
		{"clean, no fw4", nftState{}, p, "replace-table", nil},
		{"converged", nftState{table: true, digest: p.digest, fw4Chain: true, fw4Rules: []string{p.fw4Rule}, fw4Handles: []int{7}}, p, "", nil},
		{"other settings", nftState{table: true, digest: "0ld", fw4Chain: true, fw4Rules: []string{p.fw4Rule}, fw4Handles: []int{7}}, p, "replace-table", nil},
		{"after fw4 restart", nftState{table: true, digest: p.digest, fw4Chain: true}, p, "insert", nil},
		{"a duplicate in fw4", nftState{table: true, digest: p.digest, fw4Chain: true, fw4Rules: []string{p.fw4Rule, p.fw4Rule}, fw4Handles: []int{7, 9}}, p, "delete delete insert",
			[]string{"delete rule inet fw4 input_wan handle 7\n", "delete rule inet fw4 input_wan handle 9\n"}},
		{"remove", nftState{table: true, digest: p.digest, fw4Chain: true, fw4Rules: []string{p.fw4Rule}, fw4Handles: []int{7}}, nftPlan{fw4Chain: "input_wan"}, "delete-table delete",
			[]string{"delete table inet minipot\n"}},
		{"remove, nothing there", nftState{fw4Chain: true}, nftPlan{fw4Chain: "input_wan"}, "", nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			script, ops := nftOps(c.st, c.plan)
			if got := kinds(ops); got != c.want {
				t.Errorf("ops %q, want %q", got, c.want)
			}
			if (script == "") != (c.want == "") {
				t.Errorf("script %q for ops %q", script, c.want)
			}
			for _, s := range c.script {
				if !strings.Contains(script, s) {
					t.Errorf("script lacks %q:\n%s", s, script)
				}
			}
		})
	}
}

func TestParseNFT(t *testing.T) {
	table := `table inet minipot {
	comment "minipot 0123abcd"
	chain dstnat {
		meta nfproto ipv4 tcp dport 23 ct mark set ct mark | 0x00080000 counter packets 3 bytes 180 redirect to :1392 comment "23tcp ipv4"
		meta nfproto ipv6 tcp dport 23 ct mark set ct mark | 0x00080000 counter packets 1 bytes 80 redirect to :1392 comment "23tcp ipv6"
	}
	chain input {
		meta nfproto ipv4 tcp dport { 1392, 3692 } counter packets 5 bytes 300 reject with tcp reset comment "direct ipv4"
		meta nfproto ipv4 counter packets 9 bytes 1 comment "direct ipv9"
	}
}
`
	digest, red, ref := parseNFTTable(table)
	if digest != "0123abcd" || red[IPv4]["23tcp"] != 3 || red[IPv6]["23tcp"] != 1 || ref[IPv4] != 5 || len(ref) != 1 {
		t.Errorf("digest %q redirected %v refused %v", digest, red, ref)
	}
	chain := `table inet fw4 {
	chain input_wan { # handle 12
		ct status dnat ct mark & 0x00080000 == 0x00080000 accept comment "minipot: redirected to a fake service" # handle 240
		meta nfproto ipv4 udp dport 68 counter packets 0 bytes 0 accept comment "!fw4: Allow-DHCP-Renew" # handle 13
		jump reject_from_wan # handle 20
	}
}
`
	rules, handles := parseFW4Chain(chain)
	if len(rules) != 1 || handles[0] != 240 || rules[0] != `ct status dnat ct mark & 0x00080000 == 0x00080000 accept comment "minipot: redirected to a fake service"` {
		t.Errorf("rules %q handles %v", rules, handles)
	}
}

// FuzzParseNFT feeds nft listings that an attacker cannot write but a
// broken or future nft could print: nothing may panic, and every handle
// found is one nft can take.
func FuzzParseNFT(f *testing.F) {
	f.Add("table inet minipot {\n\tcomment \"minipot 00ff\"\n\tchain dstnat {\n\t\tcounter packets 1 bytes 2 redirect to :1392 comment \"23tcp ipv4\"\n\t}\n}\n")
	f.Add("\t\tct status dnat accept comment \"minipot: redirected to a fake service\" # handle 99999999999999999999\n")
	f.Add("counter packets 18446744073709551616 bytes 0 x comment \"direct ipv6\"")
	f.Add("# handle -1 comment \"minipot: redirected to a fake service\"")
	f.Fuzz(func(t *testing.T, s string) {
		parseNFTTable(s)
		_, handles := parseFW4Chain(s)
		for _, h := range handles {
			if h <= 0 {
				t.Fatalf("handle %d", h)
			}
		}
	})
}

func TestNormalizeBackend(t *testing.T) {
	for in, want := range map[string]string{"": "auto", "auto": "auto", "nft": "iptables-nft", "legacy": "iptables-legacy",
		"iptables-nft": "iptables-nft", "iptables-legacy": "iptables-legacy", "nftables": "nftables"} {
		if got, err := NormalizeBackend(in); err != nil || got != want {
			t.Errorf("%q: %q %v, want %q", in, got, err, want)
		}
	}
	if _, err := NormalizeBackend("pf"); err == nil || !strings.Contains(err.Error(), "auto, nftables, iptables-nft or iptables-legacy") {
		t.Errorf("pf: %v", err)
	}
}

// TestRouterChoosesBackend: auto picks nftables where firewall4 is
// installed, and an iptables backend is refused there (but may remove).
func TestRouterChoosesBackend(t *testing.T) {
	dir := t.TempDir()
	main := filepath.Join(dir, "main.uc")
	os.WriteFile(main, nil, 0o644)
	noCmd := func(string) (string, error) { return "", os.ErrNotExist }
	r := New(Options{FW4Main: main, lookPath: noCmd, LockFile: filepath.Join(dir, "lock")})
	ctx := context.Background()
	c, err := r.choose(ctx, "auto", false)
	if err != nil || c.backend != BackendNFTables || !strings.Contains(c.reason, "fw4") {
		t.Errorf("auto on fw4: %+v %v", c, err)
	}
	for _, b := range []string{"nft", "iptables-legacy"} {
		if _, err := r.choose(ctx, b, false); err == nil || !strings.Contains(err.Error(), "use nftables") {
			t.Errorf("%s on fw4: %v", b, err)
		}
		if c, err := r.choose(ctx, b, true); err != nil || !strings.HasPrefix(c.backend, "iptables-") {
			t.Errorf("%s to remove on fw4: %+v %v", b, c, err)
		}
	}
	if r.routerFirewall() != RouterFW4 {
		t.Error("not fw4")
	}
	r = New(Options{FW4Main: filepath.Join(dir, "none"), lookPath: noCmd})
	if r.routerFirewall() != RouterOther {
		t.Error("without firewall4 and fw3: not other")
	}
	if _, err := r.choose(ctx, "auto", false); err == nil {
		t.Error("auto with no iptables and no nft chose something")
	}
}

func TestEmptyNFTTable(t *testing.T) {
	empty := "table ip nat {\n\tchain PREROUTING {\n\t\ttype nat hook prerouting priority dstnat; policy accept;\n\t}\n}\n"
	if !emptyNFTTable(empty) {
		t.Error("empty table seen as used")
	}
	if emptyNFTTable(strings.Replace(empty, "\t}\n}", "\t\tcounter\n\t}\n}", 1)) {
		t.Error("a table with a rule seen as empty")
	}
}

// FuzzOpenWrtPolicy feeds /etc/config/firewall texts (the owner's, or
// written by any package) through the policy reader and both renderers:
// nothing may panic, and every rule rendered is one line, so that no
// option value can add a rule of its own to the nft file.
func FuzzOpenWrtPolicy(f *testing.F) {
	f.Add("config zone\n\toption name 'wan'\n\toption input 'ACCEPT'\n")
	f.Add("config zone\n\toption name 'wan'\n\tlist device 'wan0'\n\nconfig rule\n\toption src 'wan'\n\toption dest_port '22 80-90 !23'\n\toption src_ip '198.51.100.0/255.255.255.0 2001:db8::/32'\n\toption dest_ip 'host.example'\n\toption target 'ACCEPT'\n")
	f.Add("config zone\n\toption name 'wan'\n\nconfig redirect\n\toption src 'wan'\n\toption src_dport '8080:8090'\n\toption dest_ip '192.168.1.2'\n\toption src_dip '203.0.113.1\"\\n accept'\n")
	f.Fuzz(func(t *testing.T, text string) {
		fw, err := uci.Parse("firewall", []byte(text))
		if err != nil {
			return
		}
		pol := OpenWrtPolicy(fw, "wan")
		facts := Facts{WANDevices: []string{"wan0"}, Policy: pol, Listeners: Listeners{}}
		np, err := makeNFTPlan(settings.Defaults(), facts)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(np.table, "\n") {
			if strings.Count(line, "return")+strings.Count(line, "redirect to")+strings.Count(line, "reject") > 1 {
				t.Fatalf("two verdicts on one line: %q", line)
			}
		}
		if _, err := MakePlan(settings.Defaults(), facts); err != nil {
			t.Fatal(err)
		}
	})
}

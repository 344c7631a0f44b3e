package firewall

import (
	"errors"
	"net/netip"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/minipot/minipot/internal/settings"
)

func TestMarksOf(t *testing.T) {
	cases := []struct {
		mask       uint32
		wan, redir uint32
		bad        bool
	}{
		{0xC0000, 0x40000, 0x80000, false},
		{0x3, 0x1, 0x2, false},
		{0x80000001, 0x1, 0x80000000, false},
		{0x40000, 0, 0, true},
		{0x70000, 0, 0, true},
	}
	for _, c := range cases {
		m, err := marksOf(c.mask)
		if (err != nil) != c.bad || m.wan != c.wan || m.redir != c.redir {
			t.Errorf("marksOf(%#x) = %+v, %v", c.mask, m, err)
		}
	}
}

func ip(s string) netip.Addr    { return netip.MustParseAddr(s) }
func pfx(s string) netip.Prefix { return netip.MustParsePrefix(s) }
func wanFacts(l Listeners, p Policy) Facts {
	return Facts{WANDevices: []string{"eth1"}, Listeners: l, Policy: p}
}

// TestMakePlanRules pins the exact rules of the default settings: they are
// the documented layout, in the form iptables -S prints.
func TestMakePlanRules(t *testing.T) {
	p, err := MakePlan(settings.Defaults(), Facts{WANDevices: []string{"eth1", "pppoe-wan"}, Listeners: Listeners{}})
	if err != nil {
		t.Fatal(err)
	}
	want := Ruleset{
		NAT: []string{
			"-i eth1 -j CONNMARK --set-xmark 0x40000/0x40000",
			"-i pppoe-wan -j CONNMARK --set-xmark 0x40000/0x40000",
			"-m connmark ! --mark 0x40000/0x40000 -j RETURN",
		},
		Filter: []string{"-m connmark --mark 0x80000/0x80000 -m conntrack --ctstate DNAT -j ACCEPT"},
	}
	for _, svc := range settings.Services() {
		fake := svc.Port + 1369
		want.NAT = append(want.NAT,
			"-p tcp -m tcp --dport "+strconv.Itoa(svc.Port)+" -j CONNMARK --set-xmark 0x80000/0x80000",
			"-p tcp -m tcp --dport "+strconv.Itoa(svc.Port)+" -j REDIRECT --to-ports "+strconv.Itoa(fake))
		want.Filter = append(want.Filter, "-p tcp -m tcp --dport "+strconv.Itoa(fake)+" -j REJECT --reject-with tcp-reset")
	}
	for _, fam := range families {
		if !reflect.DeepEqual(p.Rules[fam], want) {
			t.Errorf("%s rules:\n%s\nwant\n%s", fam, strings.Join(append(p.Rules[fam].NAT, p.Rules[fam].Filter...), "\n"),
				strings.Join(append(want.NAT, want.Filter...), "\n"))
		}
	}
	if got := p.marks.natHook(); got != "-p tcp -m addrtype --dst-type LOCAL -m comment --comment minipot -j MINIPOT_PREROUTING" {
		t.Errorf("nat hook %q", got)
	}
	if got := p.marks.filterHook(); got != "-m connmark --mark 0x40000/0x40000 -m comment --comment minipot -j MINIPOT_INPUT" {
		t.Errorf("filter hook %q", got)
	}
	if n := len(settings.Services()); len(p.Decisions) != 2*n {
		t.Errorf("%d decisions, want %d services x 2 families", len(p.Decisions), n)
	}
}

func TestMakePlanSettings(t *testing.T) {
	off := settings.Defaults()
	off.Enabled = false
	all := settings.Defaults()
	for _, s := range settings.Services() {
		all.Disabled = append(all.Disabled, s.Key)
	}
	one := settings.Defaults()
	one.Disabled = []string{"23tcp"}
	v4 := settings.Defaults()
	v4.Firewall.IPv6 = false
	mask := settings.Defaults()
	mask.MarkMask = 0x3

	cases := []struct {
		name     string
		s        settings.Settings
		facts    Facts
		err      error
		families []Family // non-empty rulesets
		check    func(t *testing.T, p Plan)
	}{
		{name: "feature off", s: off, facts: Facts{}, check: func(t *testing.T, p Plan) {
			for _, d := range p.Decisions {
				if d.Redirect != RedirectNone || !strings.Contains(d.Reason, "switched off") {
					t.Errorf("%+v", d)
				}
			}
		}},
		{name: "every service disabled", s: all, facts: Facts{}},
		{name: "no wan devices", s: settings.Defaults(), facts: Facts{}, err: ErrNoWAN},
		{name: "one service disabled", s: one, facts: wanFacts(nil, Policy{}), families: []Family{IPv4, IPv6}, check: func(t *testing.T, p Plan) {
			for _, r := range append(p.Rules[IPv4].NAT, p.Rules[IPv4].Filter...) {
				if strings.Contains(r, "--dport 23 ") || strings.Contains(r, "--dport 1392 ") {
					t.Errorf("rule for disabled 23tcp: %s", r)
				}
			}
			// the DNAT accept, then one reject per service but 23tcp
			if len(p.Rules[IPv4].Filter) != len(settings.Services()) {
				t.Errorf("filter rules %v", p.Rules[IPv4].Filter)
			}
		}},
		{name: "ipv4 only", s: v4, facts: wanFacts(nil, Policy{}), families: []Family{IPv4}},
		{name: "other mask", s: mask, facts: wanFacts(nil, Policy{}), families: []Family{IPv4, IPv6}, check: func(t *testing.T, p Plan) {
			for _, r := range p.Rules[IPv6].NAT {
				if strings.Contains(r, "0x40000") || strings.Contains(r, "0x80000") {
					t.Errorf("rule outside the mask: %s", r)
				}
			}
			if p.Rules[IPv6].NAT[0] != "-i eth1 -j CONNMARK --set-xmark 0x1/0x1" {
				t.Errorf("first rule %s", p.Rules[IPv6].NAT[0])
			}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, err := MakePlan(c.s, c.facts)
			if !errors.Is(err, c.err) {
				t.Fatalf("err %v, want %v", err, c.err)
			}
			for _, fam := range families {
				want := false
				for _, f := range c.families {
					want = want || f == fam
				}
				if p.Rules[fam].Empty() == want {
					t.Errorf("%s: rules %v, want non-empty %v", fam, p.Rules[fam], want)
				}
			}
			if c.check != nil {
				c.check(t, p)
			}
		})
	}
}

func TestDecide(t *testing.T) {
	any4, any6 := netip.IPv4Unspecified(), netip.IPv6Unspecified()
	listen := func(f Family, port int, addrs ...netip.Addr) Listeners {
		l := Listeners{}
		for _, a := range addrs {
			l.Add(f, a, port)
		}
		return l
	}
	accept := func(a ...Accept) Policy { return Policy{Accepts: a} }
	cases := []struct {
		name     string
		fam      Family
		port     int
		l        Listeners
		p        Policy
		redirect string
		except   []Exception
	}{
		{"nothing listens", IPv4, 23, Listeners{}, AcceptAll("x"), RedirectAll, nil},
		{"loopback only", IPv4, 23, listen(IPv4, 23, ip("127.0.0.1")), AcceptAll("x"), RedirectAll, nil},
		{"listens, firewall rejects", IPv4, 23, listen(IPv4, 23, any4), accept(), RedirectAll, nil},
		{"listens, accepted", IPv4, 23, listen(IPv4, 23, any4), accept(Accept{Name: "ssh"}), RedirectNone, nil},
		{"unknown firewall, listens", IPv6, 80, listen(IPv6, 80, any6), AcceptAll("x"), RedirectNone, nil},
		{"other port accepted", IPv4, 80, listen(IPv4, 80, any4), accept(Accept{Ports: []PortRange{{23, 23}}}), RedirectAll, nil},
		{"port range", IPv4, 23, listen(IPv4, 23, any4), accept(Accept{Ports: []PortRange{{20, 25}}}), RedirectNone, nil},
		{"other family accepted", IPv4, 23, listen(IPv4, 23, any4), accept(Accept{Family: []Family{IPv6}}), RedirectAll, nil},
		{"source restricted", IPv4, 23, listen(IPv4, 23, any4),
			accept(Accept{Src: []netip.Prefix{pfx("198.51.100.7/24"), pfx("2001:db8::/32")}}),
			RedirectSome, []Exception{{Src: "198.51.100.0/24"}}},
		{"only v6 sources, v4 asked", IPv4, 23, listen(IPv4, 23, any4),
			accept(Accept{Src: []netip.Prefix{pfx("2001:db8::/32")}}), RedirectAll, nil},
		{"listens on one address", IPv4, 23, listen(IPv4, 23, ip("192.0.2.1"), ip("127.0.0.1")), accept(Accept{}),
			RedirectSome, []Exception{{Dst: "192.0.2.1/32"}}},
		{"listens on one address, accepted to another", IPv4, 23, listen(IPv4, 23, ip("192.0.2.1")),
			accept(Accept{Dst: []netip.Prefix{pfx("192.0.2.99/32")}}), RedirectAll, nil},
		{"accepted to one address", IPv6, 23, listen(IPv6, 23, any6),
			accept(Accept{Dst: []netip.Prefix{pfx("2001:db8::1/128")}}), RedirectSome, []Exception{{Dst: "2001:db8::1/128"}}},
		{"source and address", IPv6, 23, listen(IPv6, 23, ip("2001:db8::1"), ip("2001:db8::2")),
			accept(Accept{Src: []netip.Prefix{pfx("2001:db8:9::/48")}, Dst: []netip.Prefix{pfx("2001:db8::2/128")}}),
			RedirectSome, []Exception{{Src: "2001:db8:9::/48", Dst: "2001:db8::2/128"}}},
		{"one of two rules unrestricted", IPv4, 23, listen(IPv4, 23, any4),
			accept(Accept{Src: []netip.Prefix{pfx("198.51.100.0/24")}}, Accept{}), RedirectNone, nil},
	}
	many := Accept{}
	for i := 0; i < maxExceptions+1; i++ {
		many.Src = append(many.Src, netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 0, byte(i), 1}), 32))
	}
	cases = append(cases, struct {
		name     string
		fam      Family
		port     int
		l        Listeners
		p        Policy
		redirect string
		except   []Exception
	}{"too many exceptions leave it to the service", IPv4, 23, listen(IPv4, 23, any4), accept(many), RedirectNone, nil})

	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := decide(c.fam, c.port, wanFacts(c.l, c.p))
			if d.Redirect != c.redirect || !reflect.DeepEqual(d.Except, c.except) {
				t.Fatalf("got %s %v (%s), want %s %v", d.Redirect, d.Except, d.Reason, c.redirect, c.except)
			}
			if d.Reason == "" {
				t.Error("no reason given")
			}
		})
	}
}

// TestExceptionRules checks that exceptions become RETURN rules before the
// port's redirect, in the canonical form.
func TestExceptionRules(t *testing.T) {
	l := Listeners{}
	l.Add(IPv4, ip("192.0.2.1"), 80)
	p, err := MakePlan(settings.Defaults(), wanFacts(l, AcceptAll("x")))
	if err != nil {
		t.Fatal(err)
	}
	nat := strings.Join(p.Rules[IPv4].NAT, "\n")
	want := "-d 192.0.2.1/32 -p tcp -m tcp --dport 80 -j RETURN\n" +
		"-p tcp -m tcp --dport 80 -j CONNMARK --set-xmark 0x80000/0x80000\n" +
		"-p tcp -m tcp --dport 80 -j REDIRECT --to-ports 1449"
	if !strings.Contains(nat, want) {
		t.Fatalf("nat rules:\n%s\nwant to contain\n%s", nat, want)
	}
	if strings.Contains(strings.Join(p.Rules[IPv6].NAT, "\n"), "RETURN\n-p tcp -m tcp --dport 80 -j CONNMARK") {
		t.Error("IPv6 got the IPv4 listener's exception")
	}
}

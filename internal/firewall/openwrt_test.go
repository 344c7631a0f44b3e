package firewall

import (
	"net/netip"
	"reflect"
	"strings"
	"testing"

	"github.com/minipot/minipot/internal/uci"
)

func pkg(t *testing.T, name, text string) *uci.Package {
	t.Helper()
	p, err := uci.Parse(name, []byte(text))
	if err != nil {
		t.Fatalf("parse %s: %v", name, err)
	}
	return p
}

const networkConf = `
config interface 'loopback'
	option device 'lo'
	option proto 'static'

config device
	option name 'br-lan'
	option type 'bridge'
	list ports 'lan1'

config interface 'lan'
	option device 'br-lan'
	option proto 'static'

config interface 'wan'
	option device 'eth1'
	option proto 'dhcp'

config interface 'wan6'
	option device '@wan'
	option proto 'dhcpv6'

config interface 'oldwan'
	option ifname 'eth0.2'
	option proto 'static'

config interface 'oldbridge'
	option type 'bridge'
	option ifname 'eth0.1 eth0.3'

config interface 'dsl'
	option device 'eth2'
	option proto 'pppoe'

config interface 'vpn'
	option proto 'wireguard'

config interface 'tunnel6'
	option proto '6in4'

config interface 'loop1'
	option device '@loop2'

config interface 'loop2'
	option device '@loop1'
`

func TestNetworkDevice(t *testing.T) {
	n := pkg(t, "network", networkConf)
	cases := []struct{ iface, dev, err string }{
		{"lan", "br-lan", ""},
		{"wan", "eth1", ""},
		{"wan6", "eth1", ""},
		{"oldwan", "eth0.2", ""},
		{"oldbridge", "br-oldbridge", ""},
		{"dsl", "pppoe-dsl", ""},
		{"vpn", "vpn", ""},
		{"tunnel6", "6in4-tunnel6", ""},
		{"nope", "", "not in /etc/config/network"},
		{"loop1", "", "loop"},
	}
	for _, c := range cases {
		dev, err := NetworkDevice(n, c.iface)
		if dev != c.dev || (c.err == "") != (err == nil) || err != nil && !strings.Contains(err.Error(), c.err) {
			t.Errorf("%s: %q, %v; want %q, %q", c.iface, dev, err, c.dev, c.err)
		}
	}
}

func TestZoneDevices(t *testing.T) {
	n := pkg(t, "network", networkConf)
	fw := pkg(t, "firewall", `
config zone
	option name 'lan'
	list network 'lan'

config zone
	option name 'wan'
	list network 'wan'
	list network 'wan6'
	list network 'gone'
	list device 'tun+'
	list device '!eth9'

config zone
	option name 'dsl'
	option network 'dsl tunnel6'

config zone
	option name 'off'
	option enabled '0'
	list device 'x'
`)
	wan := FindZone(fw, "wan")
	devs, problems := ZoneDevices(wan, n, nil)
	if !reflect.DeepEqual(devs, []string{"eth1", "tun+"}) || len(problems) != 1 || !strings.Contains(problems[0], `"gone"`) {
		t.Errorf("wan: %q %q", devs, problems)
	}
	// ubus knows better for interfaces that are up.
	devs, _ = ZoneDevices(wan, n, func(net string) string { return map[string]string{"wan": "eth1.7"}[net] })
	if !reflect.DeepEqual(devs, []string{"eth1", "eth1.7", "tun+"}) {
		t.Errorf("wan with ubus: %q", devs)
	}
	if devs, _ = ZoneDevices(FindZone(fw, "dsl"), n, nil); !reflect.DeepEqual(devs, []string{"6in4-tunnel6", "pppoe-dsl"}) {
		t.Errorf("dsl: %q", devs)
	}
	if FindZone(fw, "off") != nil || FindZone(fw, "none") != nil {
		t.Error("found a disabled or missing zone")
	}
}

func TestParseUbusDump(t *testing.T) {
	m, err := ParseUbusDump([]byte(`{"interface":[
		{"interface":"wan","up":true,"l3_device":"pppoe-wan","device":"eth1"},
		{"interface":"wan6","up":false,"device":"eth1"}]}`))
	if err != nil || !reflect.DeepEqual(m, map[string]string{"wan": "pppoe-wan"}) {
		t.Fatalf("%v %v", m, err)
	}
	if _, err := ParseUbusDump([]byte("Command failed")); err == nil {
		t.Error("garbage accepted")
	}
}

// openwrtDefaults is the default /etc/config/firewall of OpenWrt: none of
// its rules accepts TCP into the router from the WAN.
const openwrtDefaults = `
config defaults
	option syn_flood '1'
	option input 'ACCEPT'
	option output 'ACCEPT'
	option forward 'REJECT'

config zone
	option name 'lan'
	list network 'lan'
	option input 'ACCEPT'
	option output 'ACCEPT'
	option forward 'ACCEPT'

config zone
	option name 'wan'
	list network 'wan'
	list network 'wan6'
	option input 'REJECT'
	option output 'ACCEPT'
	option forward 'REJECT'
	option masq '1'
	option mtu_fix '1'

config forwarding
	option src 'lan'
	option dest 'wan'

config rule
	option name 'Allow-DHCP-Renew'
	option src 'wan'
	option proto 'udp'
	option dest_port '68'
	option target 'ACCEPT'
	option family 'ipv4'

config rule
	option name 'Allow-Ping'
	option src 'wan'
	option proto 'icmp'
	option icmp_type 'echo-request'
	option family 'ipv4'
	option target 'ACCEPT'

config rule
	option name 'Allow-ICMPv6-Forward'
	option src 'wan'
	option dest '*'
	option proto 'icmp'
	option family 'ipv6'
	option target 'ACCEPT'

config rule
	option name 'Allow-ISAKMP'
	option src 'wan'
	option dest 'lan'
	option dest_port '500'
	option proto 'udp'
	option target 'ACCEPT'
`

func TestOpenWrtPolicy(t *testing.T) {
	if p := OpenWrtPolicy(pkg(t, "firewall", openwrtDefaults), "wan"); len(p.Accepts) != 0 {
		t.Fatalf("the default firewall accepts TCP from the WAN: %+v", p.Accepts)
	}
	p := OpenWrtPolicy(pkg(t, "firewall", openwrtDefaults+`
config rule
	option name 'Allow-SSH'
	option src 'wan'
	option proto 'tcp'
	option dest_port '22'
	option target 'ACCEPT'

config rule
	option src '*'
	option proto 'tcp udp'
	option dest_port '80 8000-8100'
	option src_ip '198.51.100.0/255.255.255.0'
	option family 'ipv4'
	option target 'accept'

config rule
	option name 'Allow-Office'
	option src 'wan'
	list src_ip '2001:db8:1::/48'
	list dest_ip '2001:db8::1'
	option target 'ACCEPT'

config rule
	option name 'Negated'
	option src 'wan'
	option dest_port '!23'
	list src_ip '!198.51.100.1'
	option target 'ACCEPT'

config rule
	option name 'Off'
	option enabled '0'
	option src 'wan'
	option target 'ACCEPT'

config rule
	option name 'UDP only'
	option src 'wan'
	option proto 'udp'
	option target 'ACCEPT'

config rule
	option name 'From LAN'
	option src 'lan'
	option target 'ACCEPT'

config rule
	option name 'Drop'
	option src 'wan'
	option target 'DROP'
`), "wan")
	want := []Accept{
		{Name: `rule "Allow-SSH"`, Ports: []PortRange{{22, 22}}},
		{Name: `rule "@rule[5]"`, Family: []Family{IPv4}, Ports: []PortRange{{80, 80}, {8000, 8100}},
			Src: []netip.Prefix{pfx("198.51.100.0/24")}},
		{Name: `rule "Allow-Office"`, Src: []netip.Prefix{pfx("2001:db8:1::/48")}, Dst: []netip.Prefix{pfx("2001:db8::1/128")}},
		{Name: `rule "Negated"`},
	}
	if !reflect.DeepEqual(p.Accepts, want) {
		t.Fatalf("accepts:\n%+v\nwant\n%+v", p.Accepts, want)
	}

	open := OpenWrtPolicy(pkg(t, "firewall", `
config defaults
	option input 'ACCEPT'
	option disable_ipv6 '1'

config zone
	option name 'wan'
	option family 'ipv4'
`), "wan")
	want = []Accept{{Name: "zone wan input ACCEPT", Family: []Family{IPv4}}, {Name: "defaults disable_ipv6", Family: []Family{IPv6}}}
	if !reflect.DeepEqual(open.Accepts, want) {
		t.Fatalf("zone without input takes the default:\n%+v\nwant\n%+v", open.Accepts, want)
	}
}

func TestParsePrefix(t *testing.T) {
	cases := map[string]string{
		"192.0.2.1":                 "192.0.2.1/32",
		"192.0.2.0/24":              "192.0.2.0/24",
		"192.0.2.0/255.255.255.128": "192.0.2.0/25",
		"2001:db8::/32":             "2001:db8::/32",
		"::ffff:192.0.2.1":          "192.0.2.1/32",
		"192.0.2.0/255.0.255.0":     "",
		"router.example":            "",
		"192.0.2.0/40":              "",
	}
	for in, want := range cases {
		p, ok := parsePrefix(in)
		if got := p.String(); ok != (want != "") || ok && got != want {
			t.Errorf("parsePrefix(%q) = %s, %v; want %q", in, got, ok, want)
		}
	}
	if parsePorts([]string{"22", "telnet"}) != nil || parsePorts([]string{"30-20"}) != nil {
		t.Error("unreadable ports must mean every port")
	}
}

func TestOpenWrtForwards(t *testing.T) {
	fw := pkg(t, "firewall", `
config zone
	option name 'wan'
	option input 'REJECT'

config redirect
	option name 'Forward-8080'
	option src 'wan'
	option src_dport '8080'
	option dest 'lan'
	option dest_ip '192.168.1.2'

config redirect
	option src 'wan'
	option src_dport '2323'
	option dest_ip '2001:db8::2'
	option proto 'udp'

config redirect
	option src 'wan'
	option src_ip '198.51.100.7'
	option dest_ip '192.168.1.3'
	option target 'DNAT'

config redirect
	option src 'lan'
	option src_dport '80'
	option target 'SNAT'

config redirect
	option name 'off'
	option enabled '0'
	option src 'wan'
	option src_dport '23'
`)
	p := OpenWrtPolicy(fw, "wan")
	if len(p.Forwards) != 2 {
		t.Fatalf("forwards %+v", p.Forwards)
	}
	a, b := p.Forwards[0], p.Forwards[1]
	if a.Name != `port forward "Forward-8080"` || len(a.Family) != 1 || a.Family[0] != IPv4 || len(a.Ports) != 1 || a.Ports[0] != (PortRange{8080, 8080}) {
		t.Errorf("first %+v", a)
	}
	if b.Name != "port forward \"@redirect[2]\"" || len(b.Ports) != 0 || len(b.Src) != 1 {
		t.Errorf("second %+v", b)
	}
	d := Decision{Service: "8080tcp", Family: IPv4, Port: 8080, Redirect: RedirectAll, Cause: CauseNothingListens}
	forwarded(&d, p)
	if d.Redirect != RedirectNone || d.Cause != CauseForwarded {
		t.Errorf("8080 %+v", d)
	}
	d = Decision{Service: "23tcp", Family: IPv4, Port: 23, Redirect: RedirectAll, Cause: CauseNothingListens}
	forwarded(&d, p)
	if d.Redirect != RedirectAll || !strings.Contains(d.Reason, "forwards some") {
		t.Errorf("23, forwarded from one source: %+v", d)
	}
}

package firewall

import (
	"slices"
	"testing"

	"github.com/minipot/minipot/internal/uci"
)

func TestForwardsFromUCI(t *testing.T) {
	const conf = `
config zone
	option name 'wan'

config redirect
	option name 'web to nas'
	option src 'wan'
	option src_dport '8080'
	option dest 'lan'
	option dest_ip '192.168.1.10'
	option dest_port '80'

config redirect
	option src 'wan'
	option src_dport '2000-2400'
	option src_ip '198.51.100.0/24'
	option proto 'tcp'
	option dest_ip '192.168.1.11'

config redirect
	option name 'udp only'
	option src 'wan'
	option src_dport '23'
	option proto 'udp'

config redirect
	option name 'off'
	option enabled '0'
	option src 'wan'
	option src_dport '23'

config redirect
	option name 'snat'
	option target 'SNAT'
	option src 'lan'
	option dest 'wan'

config redirect
	option name 'from lan'
	option src 'lan'
	option src_dport '80'

config redirect
	option name 'v6 server'
	option src 'wan'
	option src_dport '80'
	option dest_ip '2001:db8::10'

config redirect
	option name 'everything'
	option src 'wan'
	option family 'any'
`
	pkg, err := uci.Parse("firewall", []byte(conf))
	if err != nil {
		t.Fatal(err)
	}
	got := OpenWrtForwards(pkg, "wan")
	var names []string
	for _, f := range got {
		names = append(names, f.Name)
	}
	if want := []string{"web to nas", "@redirect[1]", "v6 server", "everything"}; !slices.Equal(names, want) {
		t.Fatalf("forwards %v, want %v", names, want)
	}
	cases := []struct {
		i     int
		fam   Family
		port  int
		cover bool
		whole bool
	}{
		{0, IPv4, 8080, true, true},
		{0, IPv4, 80, false, true},
		{0, IPv6, 8080, false, true},
		{1, IPv4, 2323, true, false},
		{1, IPv4, 23, false, false},
		{2, IPv6, 80, true, true},
		{2, IPv4, 80, false, true},
		{3, IPv4, 23, true, true},
		{3, IPv6, 8123, true, true},
	}
	for _, c := range cases {
		f := got[c.i]
		if f.Covers(c.fam, c.port) != c.cover || f.Whole() != c.whole {
			t.Errorf("%s, %s port %d: covers %v whole %v, want %v %v", f.Name, c.fam, c.port, f.Covers(c.fam, c.port), f.Whole(), c.cover, c.whole)
		}
	}
	if got[0].To != "192.168.1.10 port 80" || got[3].To != "the router" {
		t.Errorf("to: %q, %q", got[0].To, got[3].To)
	}
}

package firewall

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/minipot/minipot/internal/uci"
)

// This file reads the router's port forwards, for the owner's view of each
// service (package servicestate): the rules need no such fact, because a
// forward's DNAT happens before minipot looks and minipot leaves every
// DNATed connection alone, but a page that says "reachable" for a port the
// owner forwards to another computer would be wrong.

// Forward is one port forward from the WAN zone: an enabled redirect
// section of /etc/config/firewall with target DNAT (fw3's and fw4's
// default) and TCP among its protocols. Empty lists mean "any".
type Forward struct {
	Name   string
	Family []Family       // from the family option or dest_ip; IPv4 otherwise, as fw3 does
	Ports  []PortRange    // src_dport: the router's port it takes
	Src    []netip.Prefix // src_ip: only connections from these
	Dst    []netip.Prefix // src_dip: only connections to these router addresses
	To     string         // dest_ip[:dest_port], for the owner
}

// Covers says whether the forward takes connections to port for family f.
func (fw Forward) Covers(f Family, port int) bool {
	if len(fw.Family) > 0 && !containsFamily(fw.Family, f) {
		return false
	}
	if len(fw.Ports) == 0 {
		return true
	}
	for _, r := range fw.Ports {
		if port >= r.From && port <= r.To {
			return true
		}
	}
	return false
}

// Whole says whether the forward takes every such connection, whatever
// its source or the router address it aims at.
func (fw Forward) Whole() bool { return len(fw.Src) == 0 && len(fw.Dst) == 0 }

func containsFamily(fs []Family, f Family) bool {
	for _, x := range fs {
		if x == f {
			return true
		}
	}
	return false
}

// OpenWrtForwards reads the port forwards from zone wan.
func OpenWrtForwards(fw *uci.Package, wan string) []Forward {
	var out []Forward
	n := 0
	for _, r := range fw.Sections {
		if r.Type != "redirect" {
			continue
		}
		n++
		src, _ := r.Get("src")
		target, ok := r.Get("target")
		if !enabled(r) || src != wan || ok && !strings.EqualFold(strings.TrimSpace(target), "DNAT") || !takesTCP(values(r, "proto")) {
			continue
		}
		name, _ := r.Get("name")
		if name == "" {
			name = fmt.Sprintf("@redirect[%d]", n-1)
		}
		f := Forward{Name: name, Family: parseFamily(r), Ports: parsePorts(values(r, "src_dport")),
			Src: parsePrefixes(values(r, "src_ip")), Dst: parsePrefixes(values(r, "src_dip"))}
		dest := values(r, "dest_ip")
		if f.Family == nil {
			f.Family = []Family{IPv4}
			if len(dest) > 0 {
				if a, err := netip.ParseAddr(strings.SplitN(dest[0], "/", 2)[0]); err == nil && a.Is6() && !a.Is4In6() {
					f.Family = []Family{IPv6}
				}
			}
		}
		if v, _ := r.Get("family"); strings.EqualFold(strings.TrimSpace(v), "any") {
			f.Family = nil
		}
		f.To = strings.Join(dest, " ")
		if p := values(r, "dest_port"); len(p) > 0 {
			if f.To == "" {
				f.To = "the router"
			}
			f.To += " port " + strings.Join(p, " ")
		}
		if f.To == "" {
			f.To = "the router"
		}
		out = append(out, f)
	}
	return out
}

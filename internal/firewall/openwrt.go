package firewall

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/minipot/minipot/internal/uci"
)

// This file reads what OpenWrt's firewall (fw3) makes of /etc/config/firewall
// and /etc/config/network: the devices of the WAN zone, and which ports it
// accepts from there. Where the meaning of an option is not certain (a
// negation, a host name, time or rate limits), it reads it as the wider
// accept: minipot then leaves a listening service alone rather than risk
// displacing it.

// FindZone returns the enabled zone section called name, or nil.
func FindZone(fw *uci.Package, name string) *uci.Section {
	for _, s := range fw.SectionsOfType("zone") {
		if n, _ := s.Get("name"); n == name && enabled(s) {
			return s
		}
	}
	return nil
}

// values reads an option that fw3 takes as a list whether it is written as
// a list or as one option with values separated by spaces.
func values(s *uci.Section, opt string) []string {
	var out []string
	for _, v := range s.List(opt) {
		out = append(out, strings.Fields(v)...)
	}
	return out
}

func enabled(s *uci.Section) bool {
	v, ok := s.Get("enabled")
	if !ok {
		return true
	}
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "0", "no", "off", "false", "disabled":
		return false
	}
	return true
}

func isTrue(s *uci.Section, opt string) bool {
	v, _ := s.Get(opt)
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "1", "yes", "on", "true", "enabled":
		return true
	}
	return false
}

// ZoneDevices resolves the devices of a zone: its own device list and the
// layer-3 devices of its networks. l3 gives the device of a network as the
// running system knows it (ubus), "" when it does not. A network that
// cannot be resolved is skipped, as fw3 skips it, and named in problems.
func ZoneDevices(zone *uci.Section, network *uci.Package, l3 func(string) string) (devs, problems []string) {
	for _, d := range values(zone, "device") {
		if !strings.HasPrefix(d, "!") { // a negated device adds nothing to the zone
			devs = append(devs, d)
		}
	}
	for _, n := range values(zone, "network") {
		dev := ""
		if l3 != nil {
			dev = l3(n)
		}
		if dev == "" {
			var err error
			if dev, err = NetworkDevice(network, n); err != nil {
				problems = append(problems, err.Error())
				continue
			}
		}
		devs = append(devs, dev)
	}
	slices.Sort(devs)
	return slices.Compact(devs), problems
}

// tunnelPrefix is the device name prefix netifd gives the interfaces of
// protocols that make a device of their own ("pppoe-wan"); ok is false for
// the others.
func tunnelPrefix(proto string) (prefix string, ok bool) {
	switch proto {
	case "pppoe", "pppoa", "ppp", "3g", "pptp", "l2tp", "6in4", "6to4", "6rd", "map":
		return proto + "-", true
	case "dslite":
		return "ds-", true
	case "gre":
		return "gre4-", true
	case "gretap":
		return "gre4t-", true
	case "grev6":
		return "gre6-", true
	case "grev6tap":
		return "gre6t-", true
	case "vti":
		return "vti-", true
	case "vtiv6":
		return "vti6-", true
	case "wireguard":
		return "", true
	}
	return "", false
}

// NetworkDevice derives the layer-3 device of an interface section of
// /etc/config/network: the protocol's own device, the device (or, before
// OpenWrt 21.02, ifname) option, br-NAME for an old-style bridge, and the
// device of another interface for an alias "@other".
func NetworkDevice(network *uci.Package, iface string) (string, error) {
	for depth := 0; depth < 8; depth++ {
		sec := network.Section(iface)
		if sec == nil || sec.Type != "interface" {
			return "", fmt.Errorf("network interface %q of the WAN zone is not in /etc/config/network", iface)
		}
		proto, _ := sec.Get("proto")
		if prefix, ok := tunnelPrefix(proto); ok {
			return prefix + iface, nil
		}
		dev := firstValue(sec, "device")
		if dev == "" {
			dev = firstValue(sec, "ifname")
		}
		if t, _ := sec.Get("type"); t == "bridge" {
			return "br-" + iface, nil
		}
		if alias, ok := strings.CutPrefix(dev, "@"); ok {
			iface = alias
			continue
		}
		if dev == "" {
			return "", fmt.Errorf("network interface %q has no device", iface)
		}
		return dev, nil
	}
	return "", fmt.Errorf("network interface %q: alias loop", iface)
}

func firstValue(s *uci.Section, opt string) string {
	if v := values(s, opt); len(v) > 0 {
		return v[0]
	}
	return ""
}

// ParseUbusDump reads `ubus call network.interface dump` into interface →
// layer-3 device, for the interfaces that have one (are up).
func ParseUbusDump(data []byte) (map[string]string, error) {
	var dump struct {
		Interface []struct {
			Interface string `json:"interface"`
			L3Device  string `json:"l3_device"`
		} `json:"interface"`
	}
	if err := json.Unmarshal(data, &dump); err != nil {
		return nil, fmt.Errorf("parse ubus network.interface dump: %w", err)
	}
	out := map[string]string{}
	for _, i := range dump.Interface {
		if i.L3Device != "" {
			out[i.Interface] = i.L3Device
		}
	}
	return out, nil
}

// OpenWrtPolicy reads what fw3 accepts from zone wan into the router
// itself: the zone's input policy, and every enabled rule from that zone
// (or from any zone, src '*') with no destination zone and target ACCEPT.
// Port forwards need no reading: their DNAT happens before minipot looks.
func OpenWrtPolicy(fw *uci.Package, wan string) Policy {
	p := Policy{Source: fmt.Sprintf("/etc/config/firewall, zone %s", wan)}
	zone := FindZone(fw, wan)
	if zone == nil {
		return p
	}
	input, ok := zone.Get("input")
	if !ok {
		for _, d := range fw.SectionsOfType("defaults") {
			input, _ = d.Get("input")
			break
		}
	}
	zoneFam := parseFamily(zone)
	if strings.EqualFold(strings.TrimSpace(input), "ACCEPT") {
		p.Accepts = append(p.Accepts, Accept{Name: "zone " + wan + " input ACCEPT", Family: zoneFam})
	}
	for _, d := range fw.SectionsOfType("defaults") {
		if isTrue(d, "disable_ipv6") {
			// fw3 then leaves ip6tables alone: IPv6 input is not filtered.
			p.Accepts = append(p.Accepts, Accept{Name: "defaults disable_ipv6", Family: []Family{IPv6}})
		}
	}
	for i, r := range fw.Sections {
		if r.Type != "rule" || !enabled(r) {
			continue
		}
		src, _ := r.Get("src")
		_, hasDest := r.Get("dest")
		target, _ := r.Get("target")
		if (src != wan && src != "*") || hasDest || !strings.EqualFold(strings.TrimSpace(target), "ACCEPT") {
			continue
		}
		if !takesTCP(values(r, "proto")) {
			continue
		}
		name, _ := r.Get("name")
		if name == "" {
			name = fmt.Sprintf("@rule[%d]", ruleIndex(fw, i))
		}
		a := Accept{Name: "rule " + strconv.Quote(name), Family: parseFamily(r)}
		if zoneFam != nil && a.Family == nil {
			a.Family = zoneFam
		}
		a.Ports = parsePorts(values(r, "dest_port"))
		a.Src = parsePrefixes(values(r, "src_ip"))
		a.Dst = parsePrefixes(values(r, "dest_ip"))
		p.Accepts = append(p.Accepts, a)
	}
	p.Forwards = openWrtForwards(fw, wan, zoneFam)
	return p
}

// openWrtForwards reads the port forwards from zone wan: enabled redirect
// sections with src wan and target DNAT (the default). A forward without
// src_dport takes every port, as fw3 and fw4 render it.
func openWrtForwards(fw *uci.Package, wan string, zoneFam []Family) []Accept {
	var out []Accept
	for i, r := range fw.Sections {
		if r.Type != "redirect" || !enabled(r) {
			continue
		}
		src, _ := r.Get("src")
		target, ok := r.Get("target")
		if src != wan || (ok && !strings.EqualFold(strings.TrimSpace(target), "DNAT")) || !takesTCP(values(r, "proto")) {
			continue
		}
		name, _ := r.Get("name")
		if name == "" {
			name = fmt.Sprintf("@redirect[%d]", redirectIndex(fw, i))
		}
		a := Accept{Name: "port forward " + strconv.Quote(name), Family: parseFamily(r)}
		if a.Family == nil {
			// fw4 takes the family of a forward from its addresses.
			for _, opt := range []string{"dest_ip", "src_dip", "src_ip"} {
				if ps := parsePrefixes(values(r, opt)); len(ps) > 0 {
					a.Family = []Family{IPv4}
					if ps[0].Addr().Is6() {
						a.Family = []Family{IPv6}
					}
					break
				}
			}
		}
		if a.Family == nil {
			a.Family = zoneFam
		}
		a.Ports = parsePorts(values(r, "src_dport"))
		a.Src = parsePrefixes(values(r, "src_ip"))
		a.Dst = parsePrefixes(values(r, "src_dip"))
		out = append(out, a)
	}
	return out
}

func redirectIndex(fw *uci.Package, at int) int {
	n := 0
	for _, s := range fw.Sections[:at] {
		if s.Type == "redirect" {
			n++
		}
	}
	return n
}

func ruleIndex(fw *uci.Package, at int) int {
	n := 0
	for _, s := range fw.Sections[:at] {
		if s.Type == "rule" {
			n++
		}
	}
	return n
}

// parseFamily reads fw3's family option: nil for any.
func parseFamily(s *uci.Section) []Family {
	v, _ := s.Get("family")
	switch v = strings.ToLower(strings.TrimSpace(v)); {
	case strings.Contains(v, "6"):
		return []Family{IPv6}
	case strings.Contains(v, "4") || v == "inet":
		return []Family{IPv4}
	}
	return nil
}

// takesTCP says whether a rule's protocols include TCP; fw3's default is
// TCP and UDP.
func takesTCP(protos []string) bool {
	if len(protos) == 0 {
		return true
	}
	for _, p := range protos {
		switch strings.ToLower(p) {
		case "tcp", "tcpudp", "all", "any", "6":
			return true
		}
		if strings.HasPrefix(p, "!") && !strings.EqualFold(p, "!tcp") {
			return true
		}
	}
	return false
}

// parsePorts reads dest_port values ("22", "20-25", "20:25"); anything
// else (a negation, a service name) counts as every port.
func parsePorts(vals []string) []PortRange {
	var out []PortRange
	for _, v := range vals {
		from, to, isRange := strings.Cut(v, "-")
		if !isRange {
			from, to, isRange = strings.Cut(v, ":")
		}
		if !isRange {
			to = from
		}
		a, err1 := strconv.Atoi(from)
		b, err2 := strconv.Atoi(to)
		if err1 != nil || err2 != nil || a < 0 || b > 65535 || a > b {
			return nil
		}
		out = append(out, PortRange{a, b})
	}
	return out
}

// parsePrefixes reads src_ip/dest_ip values: addresses, CIDR prefixes or
// address/netmask. Anything else (a negation, a host name, a range) counts
// as any address.
func parsePrefixes(vals []string) []netip.Prefix {
	var out []netip.Prefix
	for _, v := range vals {
		p, ok := parsePrefix(v)
		if !ok {
			return nil
		}
		out = append(out, p)
	}
	return out
}

func parsePrefix(v string) (netip.Prefix, bool) {
	addrPart, maskPart, hasMask := strings.Cut(v, "/")
	addr, err := netip.ParseAddr(addrPart)
	if err != nil {
		return netip.Prefix{}, false
	}
	addr = addr.Unmap()
	bitsLen := addr.BitLen()
	if hasMask {
		if n, err := strconv.Atoi(maskPart); err == nil {
			bitsLen = n
		} else if m, err := netip.ParseAddr(maskPart); err == nil && m.Is4() == addr.Is4() {
			bitsLen = maskBits(m.AsSlice())
			if bitsLen < 0 {
				return netip.Prefix{}, false
			}
		} else {
			return netip.Prefix{}, false
		}
	}
	p, err := addr.Prefix(bitsLen)
	return p, err == nil
}

// maskBits is the prefix length of a contiguous netmask, -1 if it is not one.
func maskBits(mask []byte) int {
	n, zero := 0, false
	for _, b := range mask {
		for i := 7; i >= 0; i-- {
			if b&(1<<i) != 0 {
				if zero {
					return -1
				}
				n++
			} else {
				zero = true
			}
		}
	}
	return n
}

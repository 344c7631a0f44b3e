package firewall

import (
	"errors"
	"fmt"
	"math/bits"
	"net/netip"
	"slices"
	"strings"

	"github.com/minipot/minipot/internal/settings"
)

// Facts is what the rules depend on besides the settings: the router as it
// is when Apply runs.
type Facts struct {
	WANDevices []string // devices facing the internet, sorted
	WANSource  string   // where they came from, for Status
	Listeners  Listeners
	Policy     Policy
}

// Listeners are the listening TCP sockets: per family and port, the local
// addresses; an unspecified address (0.0.0.0, ::) means every address.
type Listeners map[Family]map[int][]netip.Addr

// Add records a socket listening on addr:port for family f.
func (l Listeners) Add(f Family, addr netip.Addr, port int) {
	if l[f] == nil {
		l[f] = map[int][]netip.Addr{}
	}
	if !slices.Contains(l[f][port], addr) {
		l[f][port] = append(l[f][port], addr)
	}
}

// Policy is what the router's own firewall accepts from the WAN.
type Policy struct {
	Source  string   // where it was read, for Status
	Accepts []Accept // any of them accepting a connection lets it in
	// Forwards are the port forwards from the WAN (DNAT): a connection
	// one matches goes to another host, whatever minipot's rules say.
	// Dst holds the forward's src_dip.
	Forwards []Accept
}

// Accept is one way a connection from the WAN gets through the router's
// firewall (an OpenWrt rule with target ACCEPT, or a zone input policy
// ACCEPT). Empty lists mean "any".
type Accept struct {
	Name   string
	Family []Family // empty: both
	Ports  []PortRange
	Src    []netip.Prefix
	Dst    []netip.Prefix
}

// PortRange is an inclusive range of ports.
type PortRange struct{ From, To int }

// AcceptAll is the policy where nothing is known about the router's
// firewall: any listening service counts as reachable, so minipot never
// displaces one.
func AcceptAll(source string) Policy {
	return Policy{Source: source, Accepts: []Accept{{Name: source}}}
}

func (a Accept) covers(f Family, port int) bool {
	if len(a.Family) > 0 && !slices.Contains(a.Family, f) {
		return false
	}
	if len(a.Ports) == 0 {
		return true
	}
	for _, r := range a.Ports {
		if port >= r.From && port <= r.To {
			return true
		}
	}
	return false
}

// marks are the two bits of fakes.mark_mask.
type marks struct {
	wan   uint32 // the lower bit: new TCP connection from a WAN device to the router, not forwarded
	redir uint32 // the higher bit: redirected to a minipot
}

func marksOf(mask uint32) (marks, error) {
	if bits.OnesCount32(mask) != 2 {
		return marks{}, fmt.Errorf("mark mask 0x%x must have exactly two bits set", mask)
	}
	low := mask & -mask
	return marks{wan: low, redir: mask &^ low}, nil
}

func hexMark(v uint32) string { return fmt.Sprintf("0x%x", v) }

// xmark is a value/mask pair setting bit b alone.
func xmark(b uint32) string { return hexMark(b) + "/" + hexMark(b) }

// hooks are the jumps into minipot's chains, in the form iptables -S
// prints them.
func (m marks) natHook() string {
	return "-p tcp -m addrtype --dst-type LOCAL -m comment --comment " + hookComment + " -j " + ChainNAT
}

func (m marks) filterHook() string {
	return "-m connmark --mark " + xmark(m.wan) + " -m comment --comment " + hookComment + " -j " + ChainFilter
}

// Ruleset is the content of minipot's two chains for one family, each rule
// in the canonical form iptables -S prints (without "-A CHAIN"). An empty
// Ruleset means: no chains and no jumps at all.
type Ruleset struct {
	NAT    []string
	Filter []string
}

// Empty reports whether the family needs no rules at all.
func (r Ruleset) Empty() bool { return len(r.NAT) == 0 && len(r.Filter) == 0 }

// Plan is the wanted state: per family the rules, and per service and
// family the decision behind them.
type Plan struct {
	Rules     map[Family]Ruleset
	Decisions []Decision
	marks     marks
}

// maxExceptions bounds the RETURN rules of one port; past it the port is
// left to the real service, which is the safe side of the contract.
const maxExceptions = 64

// ErrNoWAN reports that no WAN device is known.
var ErrNoWAN = errors.New("no WAN device known")

// MakePlan computes the rules for the settings and the facts. It is pure:
// the same input gives the same rules, in the same order.
func MakePlan(s settings.Settings, f Facts) (Plan, error) {
	m, err := marksOf(s.MarkMask)
	if err != nil {
		return Plan{}, err
	}
	p := Plan{Rules: map[Family]Ruleset{}, marks: m}
	fams := []Family{IPv4}
	if s.Firewall.IPv6 {
		fams = append(fams, IPv6)
	}
	var enabled []settings.Service
	for _, svc := range settings.Services() {
		if s.ServiceEnabled(svc.Key) {
			enabled = append(enabled, svc)
			continue
		}
		reason, cause := "service disabled (fakes.disable)", CauseDisabled
		if !s.Enabled {
			reason, cause = "minipots switched off (fakes.enabled)", CauseSwitchedOff
		}
		for _, fam := range fams {
			p.Decisions = append(p.Decisions, Decision{Service: svc.Key, Family: fam, Port: svc.Port,
				FakePort: s.FakePort(svc), Redirect: RedirectNone, Reason: reason, Cause: cause})
		}
	}
	if len(enabled) == 0 {
		return p, nil
	}
	if len(f.WANDevices) == 0 {
		for _, fam := range fams {
			for _, svc := range enabled {
				p.Decisions = append(p.Decisions, Decision{Service: svc.Key, Family: fam, Port: svc.Port, FakePort: s.FakePort(svc),
					Redirect: RedirectNone, Reason: "no WAN device known", Cause: CauseNoWAN})
			}
		}
		sortDecisions(p.Decisions)
		return p, ErrNoWAN
	}
	for _, fam := range fams {
		var rs Ruleset
		for _, dev := range f.WANDevices {
			rs.NAT = append(rs.NAT, "-i "+dev+" -j CONNMARK --set-xmark "+xmark(m.wan))
		}
		rs.NAT = append(rs.NAT, "-m connmark ! --mark "+xmark(m.wan)+" -j RETURN")
		rs.Filter = append(rs.Filter, "-m connmark --mark "+xmark(m.redir)+" -m conntrack --ctstate DNAT -j ACCEPT")
		for _, svc := range enabled {
			d := decide(fam, svc.Port, f)
			d.Service, d.FakePort = svc.Key, s.FakePort(svc)
			p.Decisions = append(p.Decisions, d)
			port := fmt.Sprintf("-p tcp -m tcp --dport %d", svc.Port)
			// Where the router's firewall accepts the port, the kernel's
			// socket lookup decides per connection: a real service that
			// starts listening takes its port at once, with no apply.
			// The rules follow the firewall's configuration only.
			pairs, _ := acceptPairs(fam, svc.Port, f.Policy, true, nil)
			if slices.Contains(pairs, Exception{}) || len(pairs) > maxExceptions {
				pairs = []Exception{{}}
			}
			for _, e := range pairs {
				var match string
				if e.Src != "" {
					match += "-s " + e.Src + " "
				}
				if e.Dst != "" {
					match += "-d " + e.Dst + " "
				}
				rs.NAT = append(rs.NAT, match+port+" -m socket --nowildcard -j RETURN")
			}
			rs.NAT = append(rs.NAT,
				port+" -j CONNMARK --set-xmark "+xmark(m.redir),
				fmt.Sprintf("%s -j REDIRECT --to-ports %d", port, d.FakePort))
			// The fake listens whether or not connections are sent to
			// it: refuse the WAN what the router refused before minipot.
			rs.Filter = append(rs.Filter, fmt.Sprintf("-p tcp -m tcp --dport %d -j REJECT --reject-with tcp-reset", d.FakePort))
		}
		p.Rules[fam] = rs
	}
	// Reported only: the rules stay as they are, since a port forward wins
	// over them by running first.
	for i := range p.Decisions {
		forwarded(&p.Decisions[i], f.Policy)
	}
	sortDecisions(p.Decisions)
	return p, nil
}

func sortDecisions(ds []Decision) {
	slices.SortStableFunc(ds, func(a, b Decision) int {
		if a.Family != b.Family {
			return int(a.Family) - int(b.Family)
		}
		return serviceIndex(a.Service) - serviceIndex(b.Service)
	})
}

// forwarded reports a decision of a port the router's firewall forwards
// (a DNAT port forward from the WAN zone) as not redirected: the forward
// takes every connection it matches before minipot's rules see it.
func forwarded(d *Decision, pol Policy) {
	switch d.Cause {
	case CauseSwitchedOff, CauseDisabled, CauseNoWAN:
		return
	}
	for _, fw := range pol.Forwards {
		if !fw.covers(d.Family, d.Port) {
			continue
		}
		if len(fw.Src) > 0 || len(fw.Dst) > 0 {
			d.Reason += "; " + fw.Name + " forwards some of these connections elsewhere"
			continue
		}
		d.Redirect, d.Except, d.Cause = RedirectNone, nil, CauseForwarded
		d.Reason = fmt.Sprintf("the router forwards port %d (%s): the forward takes the connections", d.Port, fw.Name)
		return
	}
}

func serviceIndex(key string) int {
	return slices.IndexFunc(settings.Services(), func(s settings.Service) bool { return s.Key == key })
}

// decide says where connections from the WAN to port go for family fam:
// to the real service when one listens on the address and the router's
// firewall accepts the connection, to the fake otherwise.
func decide(fam Family, port int, f Facts) Decision {
	d := Decision{Family: fam, Port: port, Redirect: RedirectAll}
	var addrs []netip.Addr
	anyAddr := false
	for _, a := range f.Listeners[fam][port] {
		switch {
		case a.IsUnspecified():
			anyAddr = true
		case !a.IsLoopback(): // the WAN cannot reach a loopback listener
			addrs = append(addrs, a)
		}
	}
	if !anyAddr && len(addrs) == 0 {
		d.Reason, d.Cause = fmt.Sprintf("nothing listens on port %d", port), CauseNothingListens
		return d
	}
	where := "every address"
	if !anyAddr {
		where = joinAddrs(addrs)
	}
	pairs, by := acceptPairs(fam, port, f.Policy, anyAddr, addrs)
	if len(pairs) == 0 {
		d.Reason = fmt.Sprintf("a service listens on port %d (%s) but the router's firewall does not accept it from the WAN", port, where)
		d.Cause = CauseNotAccepted
		return d
	}
	accepted := fmt.Sprintf("a service listens on port %d (%s) and the router's firewall accepts it from the WAN (%s)", port, where, strings.Join(by, ", "))
	if slices.Contains(pairs, Exception{}) || len(pairs) > maxExceptions {
		d.Redirect, d.Reason, d.Cause = RedirectNone, accepted+": the real service gets the connections", CauseRealService
		return d
	}
	d.Redirect, d.Except = RedirectSome, pairs
	d.Reason = accepted + " for some addresses: those reach the real service, the rest the fake"
	d.Cause = CauseRealSome
	return d
}

// acceptPairs lists the source/destination pairs through which the
// router's firewall lets a connection from the WAN to port reach a service
// listening on every address (anyAddr) or on addrs, and the names of the
// accepts behind them. An Exception{} among them means any pair.
func acceptPairs(fam Family, port int, pol Policy, anyAddr bool, addrs []netip.Addr) (pairs []Exception, by []string) {
	for _, a := range pol.Accepts {
		if !a.covers(fam, port) {
			continue
		}
		srcs, ok := familyPrefixes(a.Src, fam)
		if !ok {
			continue
		}
		dsts, ok := familyPrefixes(a.Dst, fam)
		if !ok {
			continue
		}
		// Destinations both accepted and listened on.
		var to []string
		switch {
		case anyAddr && len(dsts) == 0:
			to = []string{""}
		case anyAddr:
			for _, p := range dsts {
				to = append(to, p.String())
			}
		default:
			for _, addr := range addrs {
				if len(dsts) == 0 || slices.ContainsFunc(dsts, func(p netip.Prefix) bool { return p.Contains(addr) }) {
					to = append(to, netip.PrefixFrom(addr, addr.BitLen()).String())
				}
			}
		}
		if len(to) == 0 {
			continue
		}
		from := []string{""}
		if len(srcs) > 0 {
			from = from[:0]
			for _, p := range srcs {
				from = append(from, p.String())
			}
		}
		by = append(by, a.Name)
		for _, s := range from {
			for _, t := range to {
				pairs = append(pairs, Exception{Src: s, Dst: t})
			}
		}
	}
	slices.SortFunc(pairs, func(a, b Exception) int { return strings.Compare(a.Src+" "+a.Dst, b.Src+" "+b.Dst) })
	pairs = slices.Compact(pairs)
	slices.Sort(by)
	return pairs, slices.Compact(by)
}

// familyPrefixes keeps the prefixes of family fam. ok is false when the
// list restricts to addresses of the other family only, so that it cannot
// match fam at all (as fw3 skips such a rule for that family).
func familyPrefixes(list []netip.Prefix, fam Family) (out []netip.Prefix, ok bool) {
	if len(list) == 0 {
		return nil, true
	}
	for _, p := range list {
		if p.Addr().Is4() == (fam == IPv4) {
			out = append(out, p.Masked())
		}
	}
	return out, len(out) > 0
}

func joinAddrs(addrs []netip.Addr) string {
	s := make([]string, len(addrs))
	for i, a := range addrs {
		s[i] = a.String()
	}
	slices.Sort(s)
	return strings.Join(s, ", ")
}

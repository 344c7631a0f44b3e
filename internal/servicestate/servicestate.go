// Package servicestate computes, once for every page and tool, what each
// minipot does for the router's owner: per service and address family, off,
// waiting for the firewall or the agent, reachable from the internet, left
// to a real service that owns the port, or not reachable and why.
//
// It is a pure function of three reports that other packages own: the
// settings file, the agent's report (is the fake listening, and where) and
// the firewall's status (rules installed and in sync, WAN devices, one
// decision per service and family). The control API puts its answer into
// /status; the built-in page and the LuCI view show it as given, so that no
// page derives a state of its own.
package servicestate

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/minipot/minipot/internal/firewall"
	"github.com/minipot/minipot/internal/report"
	"github.com/minipot/minipot/internal/settings"
)

// Code is a state in a word, for machines (CSS classes, tests, scripts).
type Code string

// The states, from the owner's point of view.
const (
	Off         Code = "off"          // switched off in the settings
	Waiting     Code = "waiting"      // settings saved, not in effect yet
	Reachable   Code = "reachable"    // attackers from the internet reach the fake
	RealService Code = "real_service" // a real service owns the port: the fake stays out of the way
	Unreachable Code = "unreachable"  // meant to work, and does not: see the reason
)

// Reason says why a service is in its state, in a word.
type Reason string

// The reasons, by state.
const (
	// Off.
	SwitchedOff     Reason = "switched_off"     // fakes.enabled is 0
	ServiceDisabled Reason = "service_disabled" // the service is in fakes.disable

	// Waiting.
	AgentReloading    Reason = "agent_reloading"      // the agent runs an older file
	FirewallOutOfSync Reason = "firewall_out_of_sync" // the rules differ from what the settings call for, and will be converged

	// Reachable.
	Redirected        Reason = "redirected"          // every connection the router would refuse goes to the fake
	PartlyRealService Reason = "partly_real_service" // some addresses reach a real service, the rest the fake

	// Real service.
	RealServiceAccepted Reason = "real_service_accepted" // a service listens and the router accepts it from the WAN
	PortForwarded       Reason = "port_forwarded"        // a port forward sends the port to another computer

	// Not reachable.
	AgentDown         Reason = "agent_down"         // no agent runs
	AgentConfigError  Reason = "agent_config_error" // the agent could not load the settings file
	FakeNotListening  Reason = "fake_not_listening" // the agent could not listen on the fake port
	FakeWrongAddress  Reason = "fake_wrong_address" // it listens where redirected connections do not arrive
	FirewallUnmanaged Reason = "firewall_unmanaged" // nothing installs the redirect rules
	FirewallError     Reason = "firewall_error"     // the rules could not be read
	FamilyOff         Reason = "family_off"         // firewall.ipv6 is 0
	NoWAN             Reason = "no_wan"             // no WAN device known
	FirewallProblem   Reason = "firewall_problem"   // the rules could not be planned
	RulesMissing      Reason = "rules_missing"      // in sync, yet the family's rules are absent
	ApplyFailed       Reason = "apply_failed"       // out of sync because installing the rules failed
)

// Codes lists every code, for documents that enumerate them.
func Codes() []Code { return []Code{Off, Waiting, Reachable, RealService, Unreachable} }

// Reasons lists every reason, for documents that enumerate them.
func Reasons() []Reason {
	return []Reason{SwitchedOff, ServiceDisabled, AgentReloading, FirewallOutOfSync, Redirected, PartlyRealService,
		RealServiceAccepted, PortForwarded, AgentDown, AgentConfigError, FakeNotListening,
		FakeWrongAddress, FirewallUnmanaged, FirewallError, FamilyOff, NoWAN, FirewallProblem, RulesMissing, ApplyFailed}
}

// Family is the state of a service for one address family.
type Family struct {
	Family string `json:"family"` // ipv4 or ipv6
	Code   Code   `json:"code"`
	Reason Reason `json:"reason"`
	Text   string `json:"text"`             // one sentence for the owner
	Detail string `json:"detail,omitempty"` // the technical why, when there is one (the firewall's decision)
}

// State is a service's state: one code and sentence for the whole service,
// and the same per family.
type State struct {
	Code     Code     `json:"code"`
	Reason   Reason   `json:"reason"`
	Text     string   `json:"text"`
	Families []Family `json:"families"`
}

// Agent is what the state needs of the agent.
type Agent struct {
	Running bool
	InSync  bool   // it runs the settings file as it is now
	Note    string // why it is not running, when it is not
	Report  report.Report
}

// AgentOf is what the state needs of the agent, from its report as
// report.ReadLive gives it (err: no agent runs, and why) and the digest of
// the settings file as it is now: the API and `minipot firewall status`
// read the agent alike.
func AgentOf(rep report.Report, err error, digest string) Agent {
	if err != nil {
		return Agent{Note: err.Error(), Report: rep}
	}
	return Agent{Running: true, InSync: rep.ConfigDigest == digest && rep.ConfigError == "", Report: rep}
}

// Firewall is what the state needs of the redirect rules.
type Firewall struct {
	// Managed is true when the process asking (the API with --firewall)
	// installs and converges the rules; false: nothing does.
	Managed bool
	Err     error // reading the rules failed
	Status  firewall.Status
	// ApplyErr is why the last attempt to install the rules failed (nil:
	// it worked, or none was made): rules out of sync for that reason are
	// broken, not on their way.
	ApplyErr error
}

// Input is everything a state follows from.
type Input struct {
	Settings settings.Settings
	Agent    Agent
	Firewall Firewall
}

var families = [...]firewall.Family{firewall.IPv4, firewall.IPv6}

// Compute returns the state of svc.
func Compute(in Input, svc settings.Service) State {
	var st State
	for _, fam := range families {
		st.Families = append(st.Families, family(in, svc, fam))
	}
	st.Code, st.Reason, st.Text = overall(st.Families)
	return st
}

// rank orders the codes when the families differ: the service is as good
// as its best family, and the text tells the rest.
var rank = map[Code]int{Reachable: 0, Waiting: 1, RealService: 2, Unreachable: 3, Off: 4}

func overall(fs []Family) (Code, Reason, string) {
	best := fs[0]
	same := true
	for _, f := range fs[1:] {
		if rank[f.Code] < rank[best.Code] {
			best = f
		}
		same = same && f.Text == fs[0].Text
	}
	if same {
		return best.Code, best.Reason, best.Text
	}
	var parts []string
	for _, f := range fs {
		parts = append(parts, familyName(f.Family)+": "+f.Text)
	}
	return best.Code, best.Reason, strings.Join(parts, " ")
}

func familyName(f string) string {
	if f == "ipv6" {
		return "IPv6"
	}
	return "IPv4"
}

func family(in Input, svc settings.Service, fam firewall.Family) Family {
	f := Family{Family: fam.String()}
	set := func(c Code, r Reason, text string, a ...any) Family {
		f.Code, f.Reason, f.Text = c, r, fmt.Sprintf(text, a...)
		return f
	}
	s := in.Settings
	switch {
	case !s.Enabled:
		return set(Off, SwitchedOff, "Off: data collection is switched off.")
	case !s.ServiceEnabled(svc.Key):
		return set(Off, ServiceDisabled, "Off: this minipot is switched off.")
	}

	fw := in.Firewall
	// The firewall's decision, when it could make one: without a WAN
	// device a decision not to redirect says nothing of a real service.
	var dec *firewall.Decision
	if fw.Managed && fw.Err == nil && len(fw.Status.WANDevices) > 0 {
		for i, d := range fw.Status.Services {
			if d.Service == svc.Key && d.Family == fam {
				dec = &fw.Status.Services[i]
			}
		}
	}
	// A port forward or a real service wins whatever the fake does: the
	// port is served.
	if dec != nil && dec.Redirect == firewall.RedirectNone {
		f.Detail = dec.Reason
		if dec.Cause == firewall.CauseForwarded {
			return set(RealService, PortForwarded,
				"A port forward sends port %d to another computer, so connections go there and not to the minipot.", svc.Port)
		}
		return set(RealService, RealServiceAccepted,
			"A real service owns port %d: the router accepts it from the internet, so connections go there and not to the minipot.", svc.Port)
	}

	ag := in.Agent
	if !ag.Running {
		f.Detail = ag.Note
		return set(Unreachable, AgentDown, "Not reachable: the minipot program (the agent) is not running.")
	}
	var fake *report.ServiceStatus
	for i, r := range ag.Report.Services {
		if r.Key == svc.Key {
			fake = &ag.Report.Services[i]
		}
	}
	switch {
	case (fake == nil || !fake.Listening) && ag.Report.ConfigError != "":
		f.Detail = ag.Report.ConfigError
		return set(Unreachable, AgentConfigError, "Not reachable: the minipot program cannot load the settings file.")
	case (fake == nil || !fake.Listening) && !ag.InSync:
		return set(Waiting, AgentReloading, "Waiting: the minipot has not applied the latest settings yet.")
	case fake == nil:
		return set(Unreachable, FakeNotListening, "Not reachable: the minipot program does not report this minipot.")
	case !fake.Listening:
		f.Detail = fake.Reason
		return set(Unreachable, FakeNotListening, "Not reachable: the minipot cannot listen on its port %d.", fake.FakePort)
	}
	if ok, where := listensFor(fake.Address, fam); !ok {
		f.Detail = "the fake listens on " + fake.Address + " (agent.listen)"
		return set(Unreachable, FakeWrongAddress, "Not reachable: the minipot listens on %s only, where connections from the internet do not arrive.", where)
	}

	switch {
	case !fw.Managed:
		f.Detail = "the control API runs without --firewall; rules installed by other means show in `minipot firewall status`"
		return set(Unreachable, FirewallUnmanaged,
			"Not reachable: minipot does not manage this router's firewall, so nothing sends attackers to the minipot.")
	case fw.Err != nil:
		f.Detail = fw.Err.Error()
		return set(Unreachable, FirewallError, "Not reachable: the firewall rules cannot be read.")
	case fam == firewall.IPv6 && !s.Firewall.IPv6:
		return set(Unreachable, FamilyOff, "Not reachable over IPv6: minipot's IPv6 rules are switched off (firewall.ipv6).")
	case len(fw.Status.WANDevices) == 0:
		f.Detail = fw.Status.Problem
		return set(Unreachable, NoWAN, "Not reachable: the router has no internet-facing (WAN) device that minipot knows of.")
	case fw.Status.Problem != "":
		f.Detail = fw.Status.Problem
		return set(Unreachable, FirewallProblem, "Not reachable: minipot cannot set up the firewall rules.")
	case dec == nil:
		return set(Unreachable, FirewallProblem, "Not reachable: the firewall has no rule for this minipot.")
	}
	f.Detail = dec.Reason
	if !fw.Status.InSync && fw.ApplyErr != nil {
		f.Detail = fw.ApplyErr.Error()
		return set(Unreachable, ApplyFailed, "Not reachable: minipot could not install its firewall rules.")
	}
	if !fw.Status.InSync {
		return set(Waiting, FirewallOutOfSync, "Waiting: the firewall rules are not updated to the latest settings yet.")
	}
	if !installed(fw.Status, fam) {
		return set(Unreachable, RulesMissing, "Not reachable: minipot's firewall rules for %s are not installed.", familyName(fam.String()))
	}
	if dec.Redirect == firewall.RedirectSome {
		return set(Reachable, PartlyRealService,
			"Reachable from the internet, except from the addresses a real service on port %d accepts.", svc.Port)
	}
	return set(Reachable, Redirected, "Reachable from the internet: connections the router would refuse on port %d go to the minipot.", svc.Port)
}

// installed reports whether the family's rules are present. A status that
// reports no family at all (a backend that does not say) is taken at its
// in_sync word.
func installed(st firewall.Status, fam firewall.Family) bool {
	if len(st.Families) == 0 {
		return true
	}
	for _, f := range st.Families {
		if f.Family == fam {
			return f.Installed
		}
	}
	return false
}

// listensFor says whether a fake listening on addr gets the connections
// the firewall redirects for family fam: REDIRECT sends them to the
// address of the interface they came in on, never to loopback, and an
// IPv4 socket gets no IPv6 connection (Go's "[::]" socket takes both).
func listensFor(addr string, fam firewall.Family) (bool, string) {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		return true, "" // unknown form: do not guess
	}
	a := ap.Addr()
	switch {
	case a.IsLoopback():
		return false, "loopback (" + a.String() + ")"
	case a.Is4() || a.Is4In6():
		return fam == firewall.IPv4, "IPv4 (" + a.Unmap().String() + ")"
	case a.IsUnspecified():
		return true, ""
	default:
		return fam == firewall.IPv6, "IPv6 (" + a.String() + ")"
	}
}

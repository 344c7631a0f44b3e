package servicestate

import (
	"errors"
	"net/netip"
	"strconv"
	"strings"
	"testing"

	"github.com/minipot/minipot/internal/firewall"
	"github.com/minipot/minipot/internal/report"
	"github.com/minipot/minipot/internal/settings"
)

// base is a router where everything works: the agent listens on every
// address, the rules are installed and in sync, port 80 has a real web
// server accepted from the WAN for IPv4 only, and 8080 one accepted from
// one network only.
func base(t *testing.T) Input {
	t.Helper()
	s := settings.Defaults()
	var rep report.Report
	for _, svc := range settings.Services() {
		rep.Services = append(rep.Services, report.ServiceStatus{Key: svc.Key, Port: svc.Port,
			FakePort: s.FakePort(svc), Listening: true, Address: "[::]:" + strconv.Itoa(s.FakePort(svc))})
	}
	return Input{
		Settings: s,
		Agent:    Agent{Running: true, InSync: true, Report: rep},
		Firewall: Firewall{Managed: true, Status: status(t, s)},
	}
}

func status(t *testing.T, s settings.Settings) firewall.Status {
	t.Helper()
	l := firewall.Listeners{}
	l.Add(firewall.IPv4, netip.IPv4Unspecified(), 80)
	l.Add(firewall.IPv6, netip.IPv6Unspecified(), 80)
	l.Add(firewall.IPv4, netip.IPv4Unspecified(), 8080)
	pol := firewall.Policy{Source: "test", Accepts: []firewall.Accept{
		{Name: "Allow-HTTP", Family: []firewall.Family{firewall.IPv4}, Ports: []firewall.PortRange{{From: 80, To: 80}}},
		{Name: "Allow-8080-office", Src: []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}, Ports: []firewall.PortRange{{From: 8080, To: 8080}}},
	}}
	st := firewall.Status{Backend: "test", WANDevices: []string{"wan"}, InSync: true}
	p, err := firewall.MakePlan(s, firewall.Facts{WANDevices: []string{"wan"}, Listeners: l, Policy: pol})
	if err != nil {
		st.WANDevices, st.Problem, st.InSync = nil, err.Error(), false
		return st
	}
	st.Services = p.Decisions
	st.Families = []firewall.FamilyStatus{{Family: firewall.IPv4, Installed: true}, {Family: firewall.IPv6, Installed: true}}
	return st
}

func svc(t *testing.T, key string) settings.Service {
	s, ok := settings.LookupService(key)
	if !ok {
		t.Fatalf("no service %s", key)
	}
	return s
}

func TestCompute(t *testing.T) {
	type fam struct {
		code   Code
		reason Reason
	}
	cases := []struct {
		name   string
		key    string
		change func(t *testing.T, in *Input)
		v4, v6 fam
		code   Code   // the whole service
		text   string // in the whole service's sentence
	}{
		{name: "reachable", key: "23tcp",
			v4: fam{Reachable, Redirected}, v6: fam{Reachable, Redirected}, code: Reachable, text: "Reachable from the internet"},
		{name: "master switch off", key: "23tcp", change: func(t *testing.T, in *Input) { in.Settings.Enabled = false },
			v4: fam{Off, SwitchedOff}, v6: fam{Off, SwitchedOff}, code: Off, text: "data collection is switched off"},
		{name: "service disabled", key: "2323tcp", change: func(t *testing.T, in *Input) { in.Settings.Disabled = []string{"2323tcp"} },
			v4: fam{Off, ServiceDisabled}, v6: fam{Off, ServiceDisabled}, code: Off, text: "this minipot is switched off"},
		{name: "real service on IPv4, fake on IPv6", key: "80tcp",
			v4: fam{RealService, RealServiceAccepted}, v6: fam{Reachable, Redirected}, code: Reachable,
			text: "IPv4: A real service owns port 80"},
		{name: "real service wins even with the agent down", key: "80tcp", change: func(t *testing.T, in *Input) { in.Agent = Agent{Note: "gone"} },
			v4: fam{RealService, RealServiceAccepted}, v6: fam{Unreachable, AgentDown}, code: RealService, text: "IPv6: Not reachable"},
		{name: "real service for one network", key: "8080tcp",
			v4: fam{Reachable, PartlyRealService}, v6: fam{Reachable, Redirected}, code: Reachable, text: "except from the addresses"},
		{name: "port forwarded", key: "8080tcp", change: func(t *testing.T, in *Input) {
			for i, d := range in.Firewall.Status.Services {
				if d.Service == "8080tcp" && d.Family == firewall.IPv4 {
					in.Firewall.Status.Services[i].Redirect, in.Firewall.Status.Services[i].Cause = firewall.RedirectNone, firewall.CauseForwarded
				}
			}
		}, v4: fam{RealService, PortForwarded}, v6: fam{Reachable, Redirected}, code: Reachable, text: "IPv4: A port forward sends port 8080 to another computer"},
		{name: "port forwarded, agent down", key: "23tcp", change: func(t *testing.T, in *Input) {
			in.Agent = Agent{}
			for i := range in.Firewall.Status.Services {
				in.Firewall.Status.Services[i].Redirect, in.Firewall.Status.Services[i].Cause = firewall.RedirectNone, firewall.CauseForwarded
			}
		}, v4: fam{RealService, PortForwarded}, v6: fam{RealService, PortForwarded}, code: RealService, text: "A port forward sends port 23"},
		{name: "agent down", key: "23tcp", change: func(t *testing.T, in *Input) { in.Agent = Agent{Note: "the agent is not running"} },
			v4: fam{Unreachable, AgentDown}, v6: fam{Unreachable, AgentDown}, code: Unreachable, text: "is not running"},
		{name: "agent still loading a newly enabled service", key: "23tcp", change: func(t *testing.T, in *Input) {
			in.Agent.InSync = false
			in.Agent.Report.Services[0].Listening, in.Agent.Report.Services[0].Reason = false, "disabled"
		}, v4: fam{Waiting, AgentReloading}, v6: fam{Waiting, AgentReloading}, code: Waiting, text: "not applied the latest settings"},
		{name: "agent cannot load the file", key: "23tcp", change: func(t *testing.T, in *Input) {
			in.Agent.InSync, in.Agent.Report.ConfigError = false, "fakes.redir_offset: not a number"
			in.Agent.Report.Services[0].Listening, in.Agent.Report.Services[0].Reason = false, "disabled"
		}, v4: fam{Unreachable, AgentConfigError}, v6: fam{Unreachable, AgentConfigError}, code: Unreachable, text: "cannot load the settings file"},
		{name: "agent cannot load the file, fake still listening", key: "23tcp", change: func(t *testing.T, in *Input) {
			in.Agent.InSync, in.Agent.Report.ConfigError = false, "fakes.redir_offset: not a number"
		}, v4: fam{Reachable, Redirected}, v6: fam{Reachable, Redirected}, code: Reachable, text: "Reachable"},
		{name: "fake cannot listen", key: "23tcp", change: func(t *testing.T, in *Input) {
			in.Agent.Report.Services[0].Listening, in.Agent.Report.Services[0].Reason = false, "address already in use"
		}, v4: fam{Unreachable, FakeNotListening}, v6: fam{Unreachable, FakeNotListening}, code: Unreachable, text: "cannot listen on its port 1392"},
		{name: "agent does not report the service", key: "23tcp", change: func(t *testing.T, in *Input) { in.Agent.Report.Services = nil },
			v4: fam{Unreachable, FakeNotListening}, v6: fam{Unreachable, FakeNotListening}, code: Unreachable, text: "does not report"},
		{name: "fake on loopback", key: "23tcp", change: func(t *testing.T, in *Input) { in.Agent.Report.Services[0].Address = "127.0.0.1:1392" },
			v4: fam{Unreachable, FakeWrongAddress}, v6: fam{Unreachable, FakeWrongAddress}, code: Unreachable, text: "loopback"},
		{name: "fake on IPv4 only", key: "23tcp", change: func(t *testing.T, in *Input) { in.Agent.Report.Services[0].Address = "0.0.0.0:1392" },
			v4: fam{Reachable, Redirected}, v6: fam{Unreachable, FakeWrongAddress}, code: Reachable, text: "IPv6: Not reachable: the minipot listens on IPv4 (0.0.0.0) only"},
		{name: "fake on one IPv6 address", key: "23tcp", change: func(t *testing.T, in *Input) { in.Agent.Report.Services[0].Address = "[2001:db8::1]:1392" },
			v4: fam{Unreachable, FakeWrongAddress}, v6: fam{Reachable, Redirected}, code: Reachable, text: "IPv4: Not reachable"},
		{name: "firewall not managed", key: "23tcp", change: func(t *testing.T, in *Input) { in.Firewall = Firewall{} },
			v4: fam{Unreachable, FirewallUnmanaged}, v6: fam{Unreachable, FirewallUnmanaged}, code: Unreachable, text: "does not manage this router's firewall"},
		{name: "firewall unreadable", key: "23tcp", change: func(t *testing.T, in *Input) { in.Firewall.Err = errors.New("iptables: exit 4") },
			v4: fam{Unreachable, FirewallError}, v6: fam{Unreachable, FirewallError}, code: Unreachable, text: "cannot be read"},
		{name: "IPv6 rules off", key: "23tcp", change: func(t *testing.T, in *Input) {
			in.Settings.Firewall.IPv6 = false
			in.Firewall.Status = status(t, in.Settings)
		}, v4: fam{Reachable, Redirected}, v6: fam{Unreachable, FamilyOff}, code: Reachable, text: "IPv6: Not reachable over IPv6"},
		{name: "no WAN device", key: "23tcp", change: func(t *testing.T, in *Input) {
			in.Firewall.Status = firewall.Status{Problem: firewall.ErrNoWAN.Error()}
		}, v4: fam{Unreachable, NoWAN}, v6: fam{Unreachable, NoWAN}, code: Unreachable, text: "no internet-facing (WAN) device"},
		{name: "no WAN device, with decisions not to redirect", key: "23tcp", change: func(t *testing.T, in *Input) {
			st := &in.Firewall.Status
			st.WANDevices, st.Problem, st.InSync = nil, firewall.ErrNoWAN.Error(), false
			for i := range st.Services {
				st.Services[i].Redirect, st.Services[i].Reason = firewall.RedirectNone, "no WAN device known"
			}
		}, v4: fam{Unreachable, NoWAN}, v6: fam{Unreachable, NoWAN}, code: Unreachable, text: "no internet-facing (WAN) device"},
		{name: "no plan", key: "23tcp", change: func(t *testing.T, in *Input) {
			in.Firewall.Status.Problem, in.Firewall.Status.Services = "fakes.mark_mask: needs two bits", nil
		}, v4: fam{Unreachable, FirewallProblem}, v6: fam{Unreachable, FirewallProblem}, code: Unreachable, text: "cannot set up the firewall rules"},
		{name: "no decision", key: "23tcp", change: func(t *testing.T, in *Input) { in.Firewall.Status.Services = nil },
			v4: fam{Unreachable, FirewallProblem}, v6: fam{Unreachable, FirewallProblem}, code: Unreachable, text: "no rule for this minipot"},
		{name: "rules out of sync", key: "23tcp", change: func(t *testing.T, in *Input) { in.Firewall.Status.InSync = false },
			v4: fam{Waiting, FirewallOutOfSync}, v6: fam{Waiting, FirewallOutOfSync}, code: Waiting, text: "firewall rules are not updated"},
		{name: "rules cannot be installed", key: "23tcp", change: func(t *testing.T, in *Input) {
			in.Firewall.Status.InSync, in.Firewall.ApplyErr = false, errors.New("iptables: No chain/target/match by that name")
		}, v4: fam{Unreachable, ApplyFailed}, v6: fam{Unreachable, ApplyFailed}, code: Unreachable, text: "could not install its firewall rules"},
		{name: "a failed apply since fixed", key: "23tcp", change: func(t *testing.T, in *Input) { in.Firewall.ApplyErr = errors.New("earlier") },
			v4: fam{Reachable, Redirected}, v6: fam{Reachable, Redirected}, code: Reachable, text: "Reachable"},
		{name: "IPv6 rules missing", key: "23tcp", change: func(t *testing.T, in *Input) { in.Firewall.Status.Families[1].Installed = false },
			v4: fam{Reachable, Redirected}, v6: fam{Unreachable, RulesMissing}, code: Reachable, text: "rules for IPv6 are not installed"},
		{name: "IPv6 not reported by the backend", key: "23tcp", change: func(t *testing.T, in *Input) { in.Firewall.Status.Families = in.Firewall.Status.Families[:1] },
			v4: fam{Reachable, Redirected}, v6: fam{Unreachable, RulesMissing}, code: Reachable, text: "IPv6: Not reachable"},
		{name: "a backend that reports no families is taken at in_sync", key: "23tcp", change: func(t *testing.T, in *Input) { in.Firewall.Status.Families = nil },
			v4: fam{Reachable, Redirected}, v6: fam{Reachable, Redirected}, code: Reachable, text: "Reachable"},
	}
	seen := map[Reason]bool{}
	for _, c := range cases {
		seen[c.v4.reason], seen[c.v6.reason] = true, true
	}
	for _, r := range Reasons() {
		if !seen[r] {
			t.Errorf("no case shows reason %s", r)
		}
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := base(t)
			if c.change != nil {
				c.change(t, &in)
			}
			st := Compute(in, svc(t, c.key))
			if len(st.Families) != 2 || st.Families[0].Family != "ipv4" || st.Families[1].Family != "ipv6" {
				t.Fatalf("families %+v", st.Families)
			}
			for i, want := range []fam{c.v4, c.v6} {
				got := st.Families[i]
				if got.Code != want.code || got.Reason != want.reason || got.Text == "" {
					t.Errorf("%s: %s/%s %q, want %s/%s", got.Family, got.Code, got.Reason, got.Text, want.code, want.reason)
				}
			}
			if st.Code != c.code || !strings.Contains(st.Text, c.text) {
				t.Errorf("service: %s %q, want %s and a text with %q", st.Code, st.Text, c.code, c.text)
			}
		})
	}
}

// TestTextsAreSentences: what the pages show as given reads as a sentence.
func TestTextsAreSentences(t *testing.T) {
	in := base(t)
	for _, s := range settings.Services() {
		st := Compute(in, s)
		for _, f := range st.Families {
			if !strings.HasSuffix(f.Text, ".") || strings.ToUpper(f.Text[:1]) != f.Text[:1] {
				t.Errorf("%s %s: %q is not a sentence", s.Key, f.Family, f.Text)
			}
		}
	}
}

func TestListensFor(t *testing.T) {
	cases := []struct {
		addr   string
		v4, v6 bool
	}{
		{"[::]:1392", true, true},
		{"0.0.0.0:1392", true, false},
		{"192.0.2.1:1392", true, false},
		{"[::ffff:192.0.2.1]:1392", true, false},
		{"[2001:db8::1]:1392", false, true},
		{"127.0.0.1:1392", false, false},
		{"[::1]:1392", false, false},
		{"not an address", true, true},
	}
	for _, c := range cases {
		v4, _ := listensFor(c.addr, firewall.IPv4)
		v6, _ := listensFor(c.addr, firewall.IPv6)
		if v4 != c.v4 || v6 != c.v6 {
			t.Errorf("%s: IPv4 %v IPv6 %v, want %v %v", c.addr, v4, v6, c.v4, c.v6)
		}
	}
}

// TestAgentOf: the agent runs when its report was read, and runs the file
// as it is only when the digests match and it loaded without an error.
func TestAgentOf(t *testing.T) {
	for _, c := range []struct {
		name            string
		rep             report.Report
		err             error
		running, inSync bool
	}{
		{"in sync", report.Report{ConfigDigest: "d1"}, nil, true, true},
		{"older file", report.Report{ConfigDigest: "d0"}, nil, true, false},
		{"config error", report.Report{ConfigDigest: "d1", ConfigError: "bad"}, nil, true, false},
		{"not running", report.Report{ConfigDigest: "d1"}, report.ErrNotRunning, false, false},
	} {
		ag := AgentOf(c.rep, c.err, "d1")
		if ag.Running != c.running || ag.InSync != c.inSync || (c.err != nil) != (ag.Note != "") {
			t.Errorf("%s: %+v", c.name, ag)
		}
	}
}

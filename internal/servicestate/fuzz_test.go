package servicestate

import (
	"strings"
	"testing"

	"github.com/minipot/minipot/internal/firewall"
	"github.com/minipot/minipot/internal/report"
	"github.com/minipot/minipot/internal/settings"
	"github.com/minipot/minipot/internal/uci"
)

// FuzzCompute: whatever the agent's report (written by the unprivileged
// agent), the firewall's words and the router's port forwards say, every
// service gets a known code and reason and a sentence, without a panic.
func FuzzCompute(f *testing.F) {
	f.Add("[::]:1392", true, "all", "config redirect\n\toption src 'wan'\n\toption src_dport '23'\n", true, true)
	f.Add("127.0.0.1:1392", false, "none", "", false, true)
	f.Add("[2001:db8::1]:1392", true, "some", "config redirect\n\toption src 'wan'\n\toption src_ip '!1.2.3.4'\n\toption src_dport 'x-y'\n", true, false)
	f.Add("not:an:address", true, "?", "config redirect\n\toption src 'wan'\n\toption family 'any'\n", false, false)
	codes, reasons := map[Code]bool{}, map[Reason]bool{}
	for _, c := range Codes() {
		codes[c] = true
	}
	for _, r := range Reasons() {
		reasons[r] = true
	}
	f.Fuzz(func(t *testing.T, addr string, listening bool, redirect, fwConf string, inSync, agentInSync bool) {
		in := base(t)
		for i := range in.Agent.Report.Services {
			in.Agent.Report.Services[i].Address, in.Agent.Report.Services[i].Listening = addr, listening
		}
		in.Agent.Report.Services = append(in.Agent.Report.Services, report.ServiceStatus{Key: addr, Address: addr})
		in.Agent.InSync = agentInSync
		for i := range in.Firewall.Status.Services {
			in.Firewall.Status.Services[i].Redirect = redirect
		}
		in.Firewall.Status.InSync = inSync
		if pkg, err := uci.Parse("firewall", []byte(fwConf)); err == nil {
			pol := firewall.OpenWrtPolicy(pkg, "wan")
			for i := range in.Firewall.Status.Services {
				if len(pol.Forwards) > 0 {
					in.Firewall.Status.Services[i].Cause = firewall.CauseForwarded
				}
			}
		}
		for _, s := range settings.Services() {
			st := Compute(in, s)
			if !codes[st.Code] || !reasons[st.Reason] || !strings.HasSuffix(st.Text, ".") || len(st.Families) != 2 {
				t.Fatalf("%s: %+v", s.Key, st)
			}
		}
	})
}

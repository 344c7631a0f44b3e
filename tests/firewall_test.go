package tests

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/minipot/minipot/internal/event"
	"github.com/minipot/minipot/internal/firewall"
	"github.com/minipot/minipot/internal/servicestate"
	"github.com/minipot/minipot/internal/settings"
)

// The firewall contract of DESIGN.md, proven with the real kernel, real
// iptables (nft and legacy, each in a world of its own) and the real
// agent:
//
//	attacker (a) ──eth0──wan0── router (r) ──lan0──eth0── LAN host (l)
//
// The router has a fw3-like ruleset: WAN input rejected except replies,
// LAN input accepted, a zone_wan_prerouting chain for port forwards; its
// /etc/config (firewall, network, ucollect) says the same in UCI. The
// agent runs in the router as nobody. Every case runs over IPv4 and IPv6.

// famAddrs are the addresses of the world in one family.
type famAddrs struct {
	fam                                     string
	attacker, routerWAN, routerLAN, lanHost string
	wanNet, lanNet                          string // prefix lengths
}

var worldFamilies = []famAddrs{
	{"ipv4", "203.0.113.2", "203.0.113.1", "192.168.50.1", "192.168.50.2", "24", "24"},
	{"ipv6", "2001:db8:100::2", "2001:db8:100::1", "2001:db8:200::1", "2001:db8:200::2", "64", "64"},
}

// fwWorld is the three namespaces of one backend, the agent in the router,
// and the router's configuration directory.
type fwWorld struct {
	t                     *testing.T
	backend               string // nft or legacy
	attacker, router, lan string // namespace names
	dir                   string // the router's /etc/config, and the event store
	agent                 *exec.Cmd
	agentOut              *syncBuffer
	baseline              string                        // iptables-save of both families before minipot
	fw3DNATAccept         bool                          // the ruleset accepts port redirections in zone_wan_input, as fw3 does
	states                map[string]servicestate.State // by service, as the last status printed them
}

func newFwWorld(t *testing.T, backend string) *fwWorld {
	t.Helper()
	w := &fwWorld{t: t, backend: backend, fw3DNATAccept: backend == "nft"}
	w.attacker, w.router, w.lan = routerWorld(t, backend[:1])

	for _, fam := range []string{"ipv4", "ipv6"} {
		if out, err := runIn([]byte(baselineRules(fam, w.fw3DNATAccept)), "ip", "netns", "exec", w.router, w.cmd(fam)+"-restore"); err != nil {
			t.Fatalf("load the baseline %s rules: %v\n%s", fam, err, out)
		}
	}
	w.baseline = w.save()

	dir, err := os.MkdirTemp("", "minipot-fw-")
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(dir, 0o755)
	t.Cleanup(func() { os.RemoveAll(dir) })
	w.dir = dir
	w.writeConfig(routerConfig{})
	w.startAgent()
	return w
}

// cmd is the backend's iptables command of a family.
func (w *fwWorld) cmd(fam string) string {
	if fam == "ipv6" {
		return "ip6tables-" + w.backend
	}
	return "iptables-" + w.backend
}

// ipt runs the backend's iptables in the router.
func (w *fwWorld) ipt(fam string, args ...string) string {
	w.t.Helper()
	return mustRun(w.t, "ip", append([]string{"netns", "exec", w.router, w.cmd(fam)}, args...)...)
}

// save is iptables-save of both families without counters and comments.
func (w *fwWorld) save() string {
	w.t.Helper()
	var b strings.Builder
	counts := regexp.MustCompile(` \[\d+:\d+\]$`)
	for _, fam := range []string{"ipv4", "ipv6"} {
		out := mustRun(w.t, "ip", "netns", "exec", w.router, w.cmd(fam)+"-save")
		for _, line := range strings.Split(out, "\n") {
			if line == "" || strings.HasPrefix(line, "#") {
				continue
			}
			b.WriteString(counts.ReplaceAllString(line, "") + "\n")
		}
	}
	return b.String()
}

// baselineRules is the router's own ruleset, in the shape fw3 gives it.
func baselineRules(fam string, dnatAccept bool) string {
	rejectAny, lanHost := "icmp-port-unreachable", "192.168.50.2"
	icmp := ""
	if fam == "ipv6" {
		rejectAny, lanHost = "icmp6-port-unreachable", "2001:db8:200::2"
		// Neighbour discovery, as fw3's Allow-ICMPv6-Input.
		icmp = "-A zone_wan_input -p ipv6-icmp -m comment --comment \"!fw3: Allow-ICMPv6-Input\" -j ACCEPT\n"
	}
	accept := ""
	if dnatAccept {
		accept = "-A zone_wan_input -m conntrack --ctstate DNAT -m comment --comment \"!fw3: Accept port redirections\" -j ACCEPT\n"
	}
	return `*mangle
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
-A PREROUTING -i wan0 -m comment --comment "another package" -j MARK --set-xmark 0x1/0x1
-A PREROUTING -i wan0 -m comment --comment "another package" -j CONNMARK --set-xmark 0x2/0x2
-A INPUT -p tcp -m mark --mark 0x1/0x1 -m connmark --mark 0xc0002/0xc0002 -m comment --comment mark-probe
COMMIT
*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:prerouting_rule - [0:0]
:zone_lan_prerouting - [0:0]
:zone_wan_prerouting - [0:0]
-A PREROUTING -m comment --comment "!fw3: Custom prerouting rule chain" -j prerouting_rule
-A PREROUTING -i lan0 -m comment --comment "!fw3" -j zone_lan_prerouting
-A PREROUTING -i wan0 -m comment --comment "!fw3" -j zone_wan_prerouting
COMMIT
*filter
:INPUT ACCEPT [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
:reject - [0:0]
:zone_lan_forward - [0:0]
:zone_lan_input - [0:0]
:zone_wan_forward - [0:0]
:zone_wan_input - [0:0]
-A INPUT -i lo -m comment --comment "!fw3" -j ACCEPT
-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -m comment --comment "!fw3" -j ACCEPT
-A INPUT -i lan0 -m comment --comment "!fw3" -j zone_lan_input
-A INPUT -i wan0 -m comment --comment "!fw3" -j zone_wan_input
-A FORWARD -m conntrack --ctstate RELATED,ESTABLISHED -m comment --comment "!fw3" -j ACCEPT
-A FORWARD -i lan0 -m comment --comment "!fw3" -j zone_lan_forward
-A FORWARD -i wan0 -m comment --comment "!fw3" -j zone_wan_forward
-A FORWARD -m comment --comment "!fw3" -j reject
-A reject -p tcp -m comment --comment "!fw3" -j REJECT --reject-with tcp-reset
-A reject -m comment --comment "!fw3" -j REJECT --reject-with ` + rejectAny + `
-A zone_lan_forward -m comment --comment "!fw3" -j ACCEPT
-A zone_lan_input -m comment --comment "!fw3" -j ACCEPT
-A zone_wan_forward -m conntrack --ctstate DNAT -m comment --comment "!fw3: Accept port forwards" -j ACCEPT
-A zone_wan_forward -d ` + lanHost + ` -p tcp -m tcp --dport 23 -m comment --comment "!fw3: Allow-Routed-Telnet" -j ACCEPT
-A zone_wan_forward -m comment --comment "!fw3" -j reject
` + accept + icmp + `-A zone_wan_input -m comment --comment "!fw3" -j reject
COMMIT
`
}

// routerConfig is what the cases change in the router's UCI files.
type routerConfig struct {
	off          bool     // fakes.enabled 0
	disable      []string // fakes.disable
	acceptTelnet bool     // a rule accepting 23 from the WAN
	openInput    bool     // the WAN zone's input policy is ACCEPT
	forward      bool     // a port forward of 23 to the LAN host
}

func (w *fwWorld) writeConfig(c routerConfig) {
	w.t.Helper()
	enabled := "1"
	if c.off {
		enabled = "0"
	}
	ucollect := "config fakes 'fakes'\n\toption enabled '" + enabled + "'\n\toption log_credentials '1'\n"
	for _, d := range c.disable {
		ucollect += "\tlist disable '" + d + "'\n"
	}
	ucollect += "\nconfig agent 'agent'\n\toption login_delay '0'\n\toption log_level 'debug'\n" +
		"\nconfig store 'store'\n\toption path '" + filepath.Join(w.dir, "events.db") + "'\n"
	network := `
config interface 'lan'
	option device 'lan0'
	option proto 'static'

config interface 'wan'
	option device 'wan0'
	option proto 'static'

config interface 'wan6'
	option device '@wan'
	option proto 'static'
`
	fw := `
config defaults
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

config rule
	option name 'Allow-Routed-Telnet'
	option src 'wan'
	option dest 'lan'
	option proto 'tcp'
	option dest_port '23'
	option target 'ACCEPT'

config rule
	option name 'Allow-ICMPv6-Input'
	option src 'wan'
	option proto 'icmp'
	option family 'ipv6'
	option target 'ACCEPT'
`
	fw = strings.Replace(fw, "INPUT_POLICY", map[bool]string{false: "REJECT", true: "ACCEPT"}[c.openInput], 1)
	if c.acceptTelnet {
		fw += "\nconfig rule\n\toption name 'Allow-Telnet'\n\toption src 'wan'\n\toption proto 'tcp'\n\toption dest_port '23'\n\toption target 'ACCEPT'\n"
	}
	if c.forward {
		fw += "\nconfig redirect\n\toption name 'Forward-Telnet'\n\toption src 'wan'\n\toption src_dport '23'\n\toption dest 'lan'\n\toption dest_ip '192.168.50.2'\n\toption target 'DNAT'\n"
	}
	for name, text := range map[string]string{"ucollect": ucollect, "network": network, "firewall": fw} {
		if err := os.WriteFile(filepath.Join(w.dir, name), []byte(text), 0o644); err != nil {
			w.t.Fatal(err)
		}
	}
	chownNobody(w.t, w.dir)
}

// startAgent runs the real agent in the router as nobody and waits until
// its services listen.
func (w *fwWorld) startAgent() {
	w.t.Helper()
	w.agentOut = &syncBuffer{}
	errOut := &syncBuffer{}
	args := []string{"netns", "exec", w.router, "setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
		minipotBin, "agent", "-c", w.dir}
	if help, _ := exec.Command(minipotBin, "agent", "-h").CombinedOutput(); strings.Contains(string(help), "-run-dir") {
		// The status report goes where nobody may write.
		args = append(args, "--run-dir", filepath.Join(w.dir, "run"))
	}
	w.agent = exec.Command("ip", args...)
	w.agent.Stdout, w.agent.Stderr = w.agentOut, errOut
	if err := w.agent.Start(); err != nil {
		w.t.Fatalf("start agent: %v", err)
	}
	done := make(chan struct{})
	go func() { w.agent.Wait(); close(done) }()
	w.t.Cleanup(func() {
		w.agent.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			w.agent.Process.Kill()
		}
		if w.t.Failed() {
			w.t.Logf("agent stderr:\n%s", tail(errOut.String(), 3000))
		}
	})
	eventually(w.t, 15*time.Second, "the agent listens", func() (bool, string) {
		select {
		case <-done:
			w.t.Fatalf("agent exited: %s", errOut.String())
		default:
		}
		return strings.Count(w.agentOut.String(), "\n") >= len(fakePorts), errOut.String()
	})
}

// minipot runs `minipot firewall VERB --json` and args in the router, with
// env (a command prefix such as "env PATH=...") before it, and returns what
// it printed.
func (w *fwWorld) minipot(env []string, verb string, args ...string) (string, error) {
	cmdArgs := append([]string{"netns", "exec", w.router}, env...)
	cmdArgs = append(cmdArgs, minipotBin, "firewall", verb, "-c", w.dir, "--json", "--run-dir", filepath.Join(w.dir, "run"))
	return runIn(nil, "ip", append(cmdArgs, args...)...)
}

// apply runs `minipot firewall apply` and returns the changes it made.
func (w *fwWorld) apply(args ...string) firewall.Changes {
	w.t.Helper()
	out, err := w.minipot(nil, "apply", args...)
	if err != nil {
		w.t.Fatalf("minipot firewall apply: %v\n%s", err, out)
	}
	var ch firewall.Changes
	if err := json.Unmarshal([]byte(out), &ch); err != nil {
		w.t.Fatalf("apply printed %q: %v", out, err)
	}
	return ch
}

// status runs `minipot firewall status`, which exits 1 exactly when what
// it reports is not fine (a problem, or rules that differ from the
// settings).
func (w *fwWorld) status() firewall.Status {
	w.t.Helper()
	// Status exits 1 when it reports a problem (rules not in sync), after
	// printing the JSON; stderr follows it.
	out, err := w.minipot(nil, "status")
	var ee *exec.ExitError
	if err != nil && !(errors.As(err, &ee) && ee.ExitCode() == 1) {
		w.t.Fatalf("minipot firewall status: %v\n%s", err, out)
	}
	var doc struct {
		firewall.Status
		States []struct {
			Service string `json:"service"`
			servicestate.State
		} `json:"states"`
	}
	if jerr := json.NewDecoder(strings.NewReader(out)).Decode(&doc); jerr != nil {
		w.t.Fatalf("minipot firewall status: %v: printed %q: %v", err, out, jerr)
	}
	st := doc.Status
	if fine := st.Problem == "" && st.InSync; fine != (err == nil) {
		w.t.Errorf("minipot firewall status: exit status %v for problem %q, in sync %v", err, st.Problem, st.InSync)
	}
	// Each service's state, as /status tells it (package servicestate).
	w.states = map[string]servicestate.State{}
	for _, ss := range doc.States {
		w.states[ss.Service] = ss.State
	}
	for _, svc := range settings.Services() {
		if ss, ok := w.states[svc.Key]; !ok || !strings.HasSuffix(ss.Text, ".") || len(ss.Families) != 2 {
			w.t.Errorf("minipot firewall status: the state of %s is %+v", svc.Key, ss)
		}
	}
	return st
}

// configure writes the router's settings and applies them.
func (w *fwWorld) configure(c routerConfig) firewall.Changes {
	w.t.Helper()
	w.writeConfig(c)
	return w.apply()
}

// expect checks what answers a connection from ns to host:port.
func expect(t *testing.T, ns, host string, port int, want string) {
	t.Helper()
	if got := reach(ns, host, port); got != want {
		t.Errorf("%s:%d: got %q, want %q", host, port, got, want)
	}
}

// markProbe reads the packet count of the baseline's mark-probe rule.
func (w *fwWorld) markProbe(fam string) uint64 {
	out := w.ipt(fam, "-t", "mangle", "-v", "-S", "INPUT")
	m := regexp.MustCompile(`mark-probe -c (\d+)`).FindStringSubmatch(out)
	if m == nil {
		w.t.Fatalf("no mark-probe counter in\n%s", out)
	}
	n, _ := strconv.ParseUint(m[1], 10, 64)
	return n
}

func TestFirewall(t *testing.T) {
	needRoot(t)
	for _, tool := range []string{"ip", "setpriv", "telnet", "iptables-nft", "ip6tables-nft", "iptables-legacy",
		"ip6tables-legacy", "iptables-nft-restore", "iptables-legacy-restore", "ip6tables-nft-restore", "ip6tables-legacy-restore"} {
		need(t, tool)
	}
	removeStaleNamespaces(t)
	for _, backend := range []string{"nft", "legacy"} {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			testFirewallWorld(t, newFwWorld(t, backend))
		})
	}
}

func testFirewallWorld(t *testing.T, w *fwWorld) {
	fams := worldFamilies
	perFamily := func(t *testing.T, f func(t *testing.T, a famAddrs)) {
		for _, a := range fams {
			t.Run(a.fam, func(t *testing.T) { f(t, a) })
		}
	}

	t.Run("before minipot the WAN is refused", func(t *testing.T) {
		perFamily(t, func(t *testing.T, a famAddrs) {
			expect(t, w.attacker, a.routerWAN, 23, gotRefused)
			expect(t, w.attacker, a.routerWAN, 1392, gotRefused) // the agent listens, the firewall rejects
			expect(t, w.lan, a.routerLAN, 1392, gotTelnet)
		})
	})

	t.Run("apply detects the backend", func(t *testing.T) {
		ch := w.apply()
		if ch.Backend != "iptables-"+w.backend || len(ch.Ops) == 0 {
			t.Fatalf("apply: backend %q, %d ops", ch.Backend, len(ch.Ops))
		}
		st := w.status()
		if st.Backend != "iptables-"+w.backend || !st.InSync || !strings.Contains(st.BackendReason, "auto") {
			t.Fatalf("status: %+v", st)
		}
		// The agent runs and the rules are in: the fakes are reachable,
		// as the API's /status would say, in its words.
		if ss := w.states["23tcp"]; ss.Code != servicestate.Reachable || !strings.HasPrefix(ss.Text, "Reachable from the internet") {
			t.Errorf("status: the state of 23tcp is %+v, want reachable", ss)
		}
		for _, f := range st.Families {
			if !f.Installed {
				t.Errorf("not installed: %+v", st.Families)
			}
		}
		if strings.Join(st.WANDevices, " ") != "wan0" {
			t.Errorf("WAN devices %q (%s)", st.WANDevices, st.WANSource)
		}
	})

	t.Run("nothing listens on 23: the fake answers", func(t *testing.T) {
		perFamily(t, func(t *testing.T, a famAddrs) {
			expect(t, w.attacker, a.routerWAN, 23, gotTelnet)
			var ev event.Event
			eventually(t, 10*time.Second, "a stored connect event from the attacker", func() (bool, string) {
				for _, e := range readEvents(t, filepath.Join(w.dir, "events.db")) {
					if e.Service == "23tcp" && e.SrcIP == a.attacker && e.Action == event.Connect {
						ev = e
						return true, ""
					}
				}
				return false, "none yet"
			})
			if ev.Port != 23 {
				t.Errorf("event port %d, want 23: %+v", ev.Port, ev)
			}
		})
	})

	t.Run("the telnet command sees the login prompt", func(t *testing.T) {
		perFamily(t, func(t *testing.T, a famAddrs) {
			cmd := exec.Command("ip", "netns", "exec", w.attacker, "telnet", a.routerWAN, "23")
			stdin, _ := cmd.StdinPipe()
			var out syncBuffer
			cmd.Stdout, cmd.Stderr = &out, &out
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer func() { stdin.Close(); cmd.Process.Kill(); cmd.Wait() }()
			eventually(t, 10*time.Second, "telnet shows the prompt", func() (bool, string) {
				return strings.Contains(out.String(), "OpenWrt login: "), out.String()
			})
		})
	})

	t.Run("every other service reaches its fake", func(t *testing.T) {
		perFamily(t, func(t *testing.T, a famAddrs) {
			for port, want := range map[int]string{2323: gotTelnet, 80: gotHTTP, 3128: gotProxy, 8080: gotProxy, 8123: gotProxy} {
				expect(t, w.attacker, a.routerWAN, port, want)
			}
		})
	})

	t.Run("other packages' mark bits survive", func(t *testing.T) {
		perFamily(t, func(t *testing.T, a famAddrs) {
			before := w.markProbe(a.fam)
			expect(t, w.attacker, a.routerWAN, 2323, gotTelnet)
			if after := w.markProbe(a.fam); after <= before {
				t.Errorf("no redirected packet carried mark 0x1 and connmark 0x2 along with minipot's 0xc0000 (probe %d -> %d)", before, after)
			}
		})
	})

	t.Run("a direct connection to a fake port is refused", func(t *testing.T) {
		perFamily(t, func(t *testing.T, a famAddrs) {
			for _, port := range []int{1392, 3692, 1449} {
				expect(t, w.attacker, a.routerWAN, port, gotRefused)
			}
			expect(t, w.lan, a.routerLAN, 1392, gotTelnet)
		})
		refused := uint64(0)
		for _, f := range w.status().Families {
			refused += f.Refused
		}
		if refused == 0 {
			t.Error("status counts no refused direct connection")
		}

		// A router that accepts everything from the WAN (zone input
		// ACCEPT): only minipot's own rule refuses the fake ports, as
		// nothing listened there before minipot.
		for _, a := range fams {
			w.ipt(a.fam, "-I", "zone_wan_input", "1", "-m", "comment", "--comment", "open", "-j", "ACCEPT")
		}
		defer func() {
			for _, a := range fams {
				w.ipt(a.fam, "-D", "zone_wan_input", "-m", "comment", "--comment", "open", "-j", "ACCEPT")
			}
			w.configure(routerConfig{})
		}()
		w.configure(routerConfig{openInput: true})
		perFamily(t, func(t *testing.T, a famAddrs) {
			expect(t, w.attacker, a.routerWAN, 1392, gotRefused)
			expect(t, w.attacker, a.routerWAN, 9492, gotRefused)
			expect(t, w.attacker, a.routerWAN, 23, gotTelnet)
		})
	})

	t.Run("a real service the firewall rejects: the fake answers", func(t *testing.T) {
		real := serveBanner(t, w.router, 23, "REAL-23")
		defer func() { real.Close(); w.apply() }()
		w.apply()
		perFamily(t, func(t *testing.T, a famAddrs) {
			expect(t, w.attacker, a.routerWAN, 23, gotTelnet)
			expect(t, w.lan, a.routerLAN, 23, "REAL-23")
		})
		for _, d := range w.status().Services {
			if d.Service == "23tcp" && (d.Redirect != firewall.RedirectAll || !strings.Contains(d.Reason, "does not accept")) {
				t.Errorf("decision %+v", d)
			}
		}
	})

	t.Run("a real service the firewall accepts: the real service answers", func(t *testing.T) {
		real := serveBanner(t, w.router, 23, "REAL-23")
		for _, a := range fams { // what fw3 makes of the rule Allow-Telnet
			w.ipt(a.fam, "-I", "zone_wan_input", "1", "-p", "tcp", "--dport", "23", "-j", "ACCEPT")
		}
		defer func() {
			real.Close()
			for _, a := range fams {
				w.ipt(a.fam, "-D", "zone_wan_input", "-p", "tcp", "--dport", "23", "-j", "ACCEPT")
			}
			w.configure(routerConfig{})
		}()
		ch := w.configure(routerConfig{acceptTelnet: true})
		if len(ch.Ops) != 2 {
			t.Errorf("leaving 23 to the real service took %d changes, want 2 (a socket-lookup RETURN per family)", len(ch.Ops))
		}
		perFamily(t, func(t *testing.T, a famAddrs) {
			expect(t, w.attacker, a.routerWAN, 23, "REAL-23")
			expect(t, w.attacker, a.routerWAN, 2323, gotTelnet)
		})
	})

	t.Run("a port forwarded to the LAN host: the LAN host answers", func(t *testing.T) {
		lanSvc := serveBanner(t, w.lan, 23, "LAN-23")
		defer lanSvc.Close()
		for _, a := range fams {
			dest := a.lanHost + ":23"
			if a.fam == "ipv6" {
				dest = "[" + a.lanHost + "]:23"
			}
			w.ipt(a.fam, "-t", "nat", "-A", "zone_wan_prerouting", "-p", "tcp", "--dport", "23", "-j", "DNAT", "--to-destination", dest)
		}
		defer func() {
			for _, a := range fams {
				w.ipt(a.fam, "-t", "nat", "-F", "zone_wan_prerouting")
			}
			w.configure(routerConfig{})
		}()
		w.configure(routerConfig{forward: true})
		perFamily(t, func(t *testing.T, a famAddrs) {
			expect(t, w.attacker, a.routerWAN, 23, "LAN-23")
			expect(t, w.attacker, a.routerWAN, 2323, gotTelnet)
		})

		// fw3 reload: it deletes its rules from PREROUTING and appends them
		// again, after minipot's jump. Until the include re-applies, the
		// forwarded port goes to the fake (the window docs/firewall.md
		// describes); apply moves the jump back behind the forwards.
		for _, a := range fams {
			for _, rule := range [][]string{
				{"-m", "comment", "--comment", "!fw3: Custom prerouting rule chain", "-j", "prerouting_rule"},
				{"-i", "lan0", "-m", "comment", "--comment", "!fw3", "-j", "zone_lan_prerouting"},
				{"-i", "wan0", "-m", "comment", "--comment", "!fw3", "-j", "zone_wan_prerouting"},
			} {
				w.ipt(a.fam, append([]string{"-t", "nat", "-D", "PREROUTING"}, rule...)...)
				w.ipt(a.fam, append([]string{"-t", "nat", "-A", "PREROUTING"}, rule...)...)
			}
		}
		perFamily(t, func(t *testing.T, a famAddrs) { expect(t, w.attacker, a.routerWAN, 23, gotTelnet) })
		if st := w.status(); st.InSync || len(st.Pending) != 4 {
			t.Errorf("after a reload: in sync %v, %d pending: %v", st.InSync, len(st.Pending), st.Pending)
		}
		if ch := w.apply(); len(ch.Ops) != 4 {
			t.Errorf("moving the jumps back took %d changes, want 4: %v", len(ch.Ops), ch.Ops)
		}
		perFamily(t, func(t *testing.T, a famAddrs) { expect(t, w.attacker, a.routerWAN, 23, "LAN-23") })
	})

	t.Run("from the LAN, and routed through: not redirected", func(t *testing.T) {
		lanSvc := serveBanner(t, w.lan, 23, "LAN-23")
		defer lanSvc.Close()
		perFamily(t, func(t *testing.T, a famAddrs) {
			expect(t, w.lan, a.routerLAN, 23, gotRefused)
			expect(t, w.lan, a.routerWAN, 23, gotRefused)
			expect(t, w.attacker, a.lanHost, 23, "LAN-23")
		})
	})

	t.Run("a disabled service, or the feature off: refused as before minipot", func(t *testing.T) {
		defer w.configure(routerConfig{})
		ch := w.configure(routerConfig{disable: []string{"23tcp"}})
		if len(ch.Ops) != 6 {
			t.Errorf("disabling one service took %d changes, want 6 (3 rules per family): %v", len(ch.Ops), ch.Ops)
		}
		perFamily(t, func(t *testing.T, a famAddrs) {
			expect(t, w.attacker, a.routerWAN, 23, gotRefused)
			expect(t, w.attacker, a.routerWAN, 2323, gotTelnet)
		})
		w.configure(routerConfig{off: true})
		perFamily(t, func(t *testing.T, a famAddrs) {
			for _, port := range []int{23, 2323, 80, 1392} {
				expect(t, w.attacker, a.routerWAN, port, gotRefused)
			}
		})
		if got := w.save(); got != w.baseline {
			t.Errorf("feature off, the tables differ from before minipot:\n%s", lineDiff(w.baseline, got))
		}
	})

	t.Run("a failed apply leaves nothing behind", func(t *testing.T) {
		// A missing command: nothing is touched.
		w.writeConfig(routerConfig{disable: []string{"80tcp"}})
		before := w.save()
		out, err := w.minipot([]string{"env", "PATH=/nonexistent"}, "apply", "--backend", w.backend)
		if err == nil || !strings.Contains(out, "iptables-"+w.backend+" not found") {
			t.Errorf("without iptables: %v\n%s", err, out)
		}
		if got := w.save(); got != before {
			t.Errorf("a failed apply changed the tables:\n%s", lineDiff(before, got))
		}
		// A missing kernel module, simulated by an ip6tables that cannot
		// load REDIRECT: the IPv4 rules made before are undone.
		w.configure(routerConfig{off: true})
		wrap := t.TempDir()
		real := mustRun(t, "sh", "-c", "command -v "+w.cmd("ipv6"))
		script := "#!/bin/sh\nfor a in \"$@\"; do if [ \"$a\" = REDIRECT ]; then echo \"ip6tables: Couldn't load target \\`REDIRECT'\" >&2; exit 2; fi; done\nexec " + strings.TrimSpace(real) + " \"$@\"\n"
		if err := os.WriteFile(filepath.Join(wrap, w.cmd("ipv6")), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
		w.writeConfig(routerConfig{})
		out, err = w.minipot([]string{"env", "PATH=" + wrap + ":" + os.Getenv("PATH")}, "apply")
		if err == nil || !strings.Contains(out, "REDIRECT") || !strings.Contains(out, "undone") {
			t.Errorf("apply with REDIRECT missing: %v\n%s", err, out)
		}
		if got := w.save(); got != w.baseline {
			t.Errorf("a failed apply left rules behind:\n%s", lineDiff(w.baseline, got))
		}
	})

	t.Run("apply twice, then remove: the tables are as before minipot", func(t *testing.T) {
		w.writeConfig(routerConfig{})
		if ch := w.apply(); len(ch.Ops) == 0 {
			t.Fatal("first apply changed nothing")
		}
		installed := w.save()
		if ch := w.apply(); len(ch.Ops) != 0 {
			t.Errorf("second apply changed %v", ch.Ops)
		}
		if got := w.save(); got != installed {
			t.Errorf("second apply changed the tables:\n%s", lineDiff(installed, got))
		}
		out, err := w.minipot(nil, "remove")
		if err != nil {
			t.Fatalf("remove: %v\n%s", err, out)
		}
		if got := w.save(); got != w.baseline {
			t.Errorf("after remove the tables differ from before minipot:\n%s", lineDiff(w.baseline, got))
		}
		if strings.Contains(w.save(), "MINIPOT") {
			t.Error("a minipot chain is left")
		}
	})
}

// lineDiff lists the lines only in a (-) and only in b (+).
func lineDiff(a, b string) string {
	in := func(s string) map[string]int {
		m := map[string]int{}
		for _, l := range strings.Split(s, "\n") {
			m[l]++
		}
		return m
	}
	ma, mb := in(a), in(b)
	var out []string
	for _, l := range strings.Split(a, "\n") {
		if mb[l] < ma[l] {
			out = append(out, "- "+l)
		}
	}
	for _, l := range strings.Split(b, "\n") {
		if ma[l] < mb[l] {
			out = append(out, "+ "+l)
		}
	}
	if len(out) == 0 {
		return "(same lines, different order)\n" + b
	}
	return strings.Join(out, "\n")
}

// TestFirewallCommandNeedsRoot runs `minipot firewall` as an unprivileged
// user: it must say that it needs root, and touch nothing.
func TestFirewallCommandNeedsRoot(t *testing.T) {
	for _, verb := range []string{"apply", "remove", "status"} {
		cmd := exec.Command(minipotBin, "firewall", verb, "-c", t.TempDir())
		if os.Geteuid() == 0 {
			cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
			cmd.Dir = "/"
		}
		out, err := cmd.CombinedOutput()
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != 1 || !strings.Contains(string(out), "must run as root") {
			t.Errorf("%s as nobody: %v\n%s", verb, err, out)
		}
	}
	out, err := exec.Command(minipotBin, "firewall", "flush").CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 2 || !strings.Contains(string(out), "usage: minipot firewall apply|remove|status") {
		t.Errorf("unknown action: %v\n%s", err, out)
	}
}

// TestFirewallRemoveLeavesNoEmptyTables: on a router whose iptables-nft
// had no tables before minipot, apply creates ip/ip6 nat and filter (as
// nftables tables) and remove deletes them again: `nft list ruleset` is
// empty before and after.
func TestFirewallRemoveLeavesNoEmptyTables(t *testing.T) {
	needRoot(t)
	for _, tool := range []string{"ip", "nft", "iptables-nft", "ip6tables-nft"} {
		need(t, tool)
	}
	ns := fmt.Sprintf("%s%dempty", nsPrefix, os.Getpid())
	addNamespace(t, ns)
	dir := t.TempDir()
	for name, text := range map[string]string{
		"ucollect": "config fakes 'fakes'\n\toption enabled '1'\n",
		"firewall": "config zone\n\toption name 'wan'\n\tlist device 'wan0'\n\toption input 'REJECT'\n",
		"network":  "",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if got := mustRun(t, "ip", "netns", "exec", ns, "nft", "list", "ruleset"); got != "" {
		t.Fatalf("a new namespace has rules:\n%s", got)
	}
	mustRun(t, "ip", "netns", "exec", ns, minipotBin, "firewall", "apply", "-c", dir, "--backend", "iptables-nft")
	if got := mustRun(t, "ip", "netns", "exec", ns, "nft", "list", "tables"); !strings.Contains(got, "table ip nat") || !strings.Contains(got, "table ip6 filter") {
		t.Fatalf("after apply, tables:\n%s", got)
	}
	mustRun(t, "ip", "netns", "exec", ns, minipotBin, "firewall", "remove", "-c", dir, "--backend", "iptables-nft")
	if got := mustRun(t, "ip", "netns", "exec", ns, "nft", "list", "ruleset"); got != "" {
		t.Errorf("after remove, left behind:\n%s", got)
	}
}

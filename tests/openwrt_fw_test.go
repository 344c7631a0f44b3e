package tests

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"

	"testing"
	"time"

	"github.com/minipot/minipot/internal/event"
	"github.com/minipot/minipot/internal/firewall"
)

// The firewall contract of DESIGN.md against OpenWrt's real firewalls:
// fw4 (firewall4's ucode templates, nft) and fw3 (iptables-legacy), built
// from source in /opt/openwrt-host (../shared/openwrt/build.sh), each run
// with OpenWrt's default /etc/config/firewall in a router namespace of its
// own with a private mount namespace (/etc, /usr/share and /run overlaid,
// BusyBox ash as /bin/sh for fw4), as on a router:
//
//	attacker (a) ──eth0──wan0── router (r) ──lan0──eth0── LAN host (l)
//
// The package's own scripts do the wiring: the uci-defaults script
// registers the include, fw4 and fw3 run it on start and reload, and it
// runs `minipot firewall apply`. Every case runs over IPv4 and IPv6.

// owHost (openwrt_ubus_test.go) is where OpenWrt's userland is built.

// owFirewall is one router running OpenWrt's firewall.
type owFirewall struct {
	t                     *testing.T
	kind                  string // fw4 or fw3
	attacker, router, lan string
	conf                  string // the router's /etc/config (bound in), and the event store
	holder                *exec.Cmd
	pid                   int // a process in the router's mount namespace
	path                  string
	agent                 *fwWorld
}

func newOwFirewall(t *testing.T, kind string) *owFirewall {
	t.Helper()
	w := &owFirewall{t: t, kind: kind}
	w.attacker, w.router, w.lan = routerWorld(t, kind)

	// Not t.TempDir: its parent is private, and the agent runs as nobody.
	dir, err := os.MkdirTemp("", "minipot-ow-")
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(dir, 0o755)
	t.Cleanup(func() { os.RemoveAll(dir) })
	w.conf = filepath.Join(dir, "config")
	bin := filepath.Join(dir, "bin")
	for _, d := range []string{w.conf, bin, filepath.Join(dir, "etc-up"), filepath.Join(dir, "etc-work"),
		filepath.Join(dir, "share-up"), filepath.Join(dir, "share-work")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// OpenWrt's default firewall config, its zones bound to the devices
	// (no netifd here to resolve networks), and one rule of the owner's:
	// telnet may be routed to the LAN host.
	def, err := os.ReadFile(owHost + "/fw4root/etc/config/firewall")
	if err != nil {
		t.Fatal(err)
	}
	fw := regexp.MustCompile(`list\s+network\s+'lan'`).ReplaceAllString(string(def), "list device 'lan0'")
	fw = regexp.MustCompile(`list\s+network\s+'wan'`).ReplaceAllString(fw, "list device 'wan0'")
	fw = regexp.MustCompile(`\n\s*list\s+network\s+'wan6'`).ReplaceAllString(fw, "")
	fw += "\nconfig rule\n\toption name 'Allow-Routed-Telnet'\n\toption src 'wan'\n\toption dest 'lan'\n\toption proto 'tcp'\n\toption dest_port '23'\n\toption target 'ACCEPT'\n"
	w.write("firewall", fw)
	w.write("network", "config interface 'loopback'\n\toption device 'lo'\n\toption proto 'static'\n")
	w.setUcollect(true)

	// The include calls the binary under test.
	inc, err := os.ReadFile("../firewall-scripts/firewall.include")
	if err != nil {
		t.Fatal(err)
	}
	incText := strings.Replace(string(inc), "/usr/bin/minipot", minipotBin, 1)
	if err := os.WriteFile(filepath.Join(dir, "firewall.include"), []byte(incText), 0o644); err != nil {
		t.Fatal(err)
	}
	w.path = owHost + "/bin:" + owHost + "/sbin:" + os.Getenv("PATH")
	if kind == "fw4" {
		w.path = owHost + "/bin:" + owHost + "/fw4root/sbin:" + os.Getenv("PATH")
	} else {
		// fw3 drives iptables-legacy by the plain names.
		for _, c := range []string{"iptables", "ip6tables", "iptables-save", "ip6tables-save", "iptables-restore", "ip6tables-restore"} {
			legacy, err := exec.LookPath(strings.Replace(c, "tables", "tables-legacy", 1))
			if err != nil {
				t.Fatalf("%s: %v", c, err)
			}
			os.Symlink(legacy, filepath.Join(bin, c))
		}
		w.path = bin + ":" + w.path
	}

	var mounts strings.Builder
	fmt.Fprintf(&mounts, "set -e\nmount -t overlay overlay -o lowerdir=/etc,upperdir=%[1]s/etc-up,workdir=%[1]s/etc-work /etc\n", dir)
	fmt.Fprintf(&mounts, "mount -t overlay overlay -o lowerdir=/usr/share,upperdir=%[1]s/share-up,workdir=%[1]s/share-work /usr/share\n", dir)
	fmt.Fprintf(&mounts, "mkdir -p /etc/config && mount --bind %s /etc/config\n", w.conf)
	fmt.Fprintf(&mounts, "mount -t tmpfs tmpfs /run && mkdir -p /run/lock\n")
	// uci keeps pending changes in /tmp/.uci: each router its own, or the
	// fw4 and fw3 worlds (run in parallel) commit each other's changes.
	fmt.Fprintf(&mounts, "mkdir -p /tmp/.uci && mount -t tmpfs tmpfs /tmp/.uci\n")
	fmt.Fprintf(&mounts, "mkdir -p /usr/share/minipot && cp %s/firewall.include /usr/share/minipot/\n", dir)
	if kind == "fw4" {
		fmt.Fprintf(&mounts, "mkdir -p /usr/share/firewall4 /usr/share/nftables.d\n")
		fmt.Fprintf(&mounts, "mount --bind %s/fw4root/usr/share/firewall4 /usr/share/firewall4\n", owHost)
		fmt.Fprintf(&mounts, "cp -r %s/fw4root/usr/share/nftables.d/. /usr/share/nftables.d/\n", owHost)
		// What the package installs on every router: the fw4 include of
		// the accept rule, a link to the file apply writes.
		fmt.Fprintf(&mounts, "mkdir -p /usr/share/nftables.d/chain-pre/input_wan && ln -s /var/run/minipot-fw4-input.nft /usr/share/nftables.d/chain-pre/input_wan/30-minipot.nft\n")
		fmt.Fprintf(&mounts, "mount --bind %s /bin/sh\n", need(t, "busybox"))
	}
	mounts.WriteString("echo ready\nexec sleep 100000\n")
	w.holder = exec.Command("ip", "netns", "exec", w.router, "unshare", "-m", "--propagation", "private", "sh", "-c", mounts.String())
	out, _ := w.holder.StdoutPipe()
	var errOut syncBuffer
	w.holder.Stderr = &errOut
	if err := w.holder.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.holder.Process.Kill(); w.holder.Wait() })
	line, _ := bufio.NewReader(out).ReadString('\n')
	if strings.TrimSpace(line) != "ready" {
		w.holder.Wait()
		t.Fatalf("set up the router's mount namespace: %q %s", line, errOut.String())
	}
	w.pid = w.holder.Process.Pid

	// The agent, as on a router: unprivileged, in the router.
	w.agent = &fwWorld{t: t, router: w.router, dir: w.conf}
	w.agent.startAgent()
	return w
}

func (w *owFirewall) write(name, text string) {
	w.t.Helper()
	if err := os.WriteFile(filepath.Join(w.conf, name), []byte(text), 0o644); err != nil {
		w.t.Fatal(err)
	}
	chownNobody(w.t, w.conf)
}

func (w *owFirewall) setUcollect(on bool) {
	enabled := map[bool]string{true: "1", false: "0"}[on]
	w.write("ucollect", "config fakes 'fakes'\n\toption enabled '"+enabled+"'\n"+
		"\nconfig agent 'agent'\n\toption login_delay '0'\n"+
		"\nconfig store 'store'\n\toption path '"+filepath.Join(w.conf, "events.db")+"'\n")
}

// sh runs a shell command in the router as root, in its mount namespace.
func (w *owFirewall) sh(script string) (string, error) {
	return runIn(nil, "nsenter", "-t", fmt.Sprint(w.pid), "-m", "-n", "--", "env", "PATH="+w.path, "sh", "-c", script)
}

func (w *owFirewall) mustSh(script string) string {
	w.t.Helper()
	out, err := w.sh(script)
	if err != nil {
		w.t.Fatalf("%s: %v\n%s", script, err, out)
	}
	return out
}

var nftCounters = regexp.MustCompile(`counter packets \d+ bytes \d+`)

// ruleset is the router's whole ruleset: nft's and iptables-legacy's,
// without counters.
func (w *owFirewall) ruleset() string {
	w.t.Helper()
	out := w.mustSh("nft list ruleset; iptables-legacy-save 2>/dev/null | grep -v '^#'; ip6tables-legacy-save 2>/dev/null | grep -v '^#'; true")
	out = nftCounters.ReplaceAllString(out, "counter")
	return regexp.MustCompile(`(?m) \[\d+:\d+\]$`).ReplaceAllString(out, "")
}

func (w *owFirewall) status() (firewall.Status, error) {
	out, err := w.sh(minipotBin + " firewall status --json")
	var st firewall.Status
	// Stdout and stderr come together: the JSON value first.
	if jerr := json.NewDecoder(strings.NewReader(out)).Decode(&st); jerr != nil {
		w.t.Fatalf("status printed %q: %v", out, jerr)
	}
	return st, err
}

// firewallCmd runs the router's firewall command: fw4 ARGS or fw3 ARGS.
func (w *owFirewall) firewallCmd(args string) string {
	w.t.Helper()
	return w.mustSh(w.kind + " " + args + " 2>&1")
}

func (w *owFirewall) expectAll(t *testing.T, port int, want string) {
	t.Helper()
	for _, a := range worldFamilies {
		expect(t, w.attacker, a.routerWAN, port, want)
	}
}

func TestOpenWrtFirewalls(t *testing.T) {
	needRoot(t)
	for _, tool := range []string{"ip", "nsenter", "unshare", "setpriv", "nft", "busybox", "iptables-legacy", "ip6tables-legacy", "flock"} {
		need(t, tool)
	}
	needOpenWrtHost(t, "fw4root/sbin/fw4", "fw4root/usr/share/firewall4/main.uc", "sbin/fw3", "bin/uci", "bin/utpl")
	removeStaleNamespaces(t)
	for _, kind := range []string{"fw4", "fw3"} {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			testOpenWrtFirewall(t, newOwFirewall(t, kind))
		})
	}
}

func testOpenWrtFirewall(t *testing.T, w *owFirewall) {
	w.firewallCmd("start")
	pristine := w.ruleset()
	// The package's uci-defaults script registers the include; the
	// firewall reloads with it (as the package's postinst makes it).
	script, _ := filepath.Abs("../firewall-scripts/uci-defaults/90-minipot-firewall")
	if w.kind == "fw4" {
		// A sysupgrade from fw3 keeps the config: the fw3 form of the
		// section must be rewritten.
		orig, _ := os.ReadFile(filepath.Join(w.conf, "firewall"))
		w.write("firewall", string(orig)+"\nconfig include 'minipot'\n\toption type 'script'\n\toption path '/usr/share/minipot/firewall.include'\n\toption reload '1'\n")
	}
	w.mustSh("sh " + script)
	conf, _ := os.ReadFile(filepath.Join(w.conf, "firewall"))
	wantOpt, notOpt := "option fw4_compatible '1'", "option reload"
	if w.kind == "fw3" {
		wantOpt, notOpt = "option reload '1'", "fw4_compatible"
	}
	if strings.Count(string(conf), "config include 'minipot'") != 1 || !strings.Contains(string(conf), wantOpt) || strings.Contains(string(conf), notOpt) {
		t.Fatalf("the uci-defaults script registered no %s include:\n%s", w.kind, conf)
	}
	w.mustSh("sh " + script) // again: nothing to do
	if again, _ := os.ReadFile(filepath.Join(w.conf, "firewall")); string(again) != string(conf) {
		t.Errorf("a second run changed the config:\n%s", again)
	}

	// Switched off first: the include runs apply, which changes nothing.
	w.setUcollect(false)
	w.firewallCmd("reload")
	baseline := w.ruleset()
	if baseline != pristine {
		t.Errorf("with the feature off, the include changed the ruleset:\n%s", lineDiff(pristine, baseline))
	}

	t.Run("before minipot the WAN is refused", func(t *testing.T) {
		w.expectAll(t, 23, gotRefused)
		w.expectAll(t, 1392, gotRefused)
		expect(t, w.lan, "192.168.50.1", 1392, gotTelnet)
	})

	w.setUcollect(true)
	if w.kind == "fw4" {
		t.Run("an iptables backend is refused on fw4", func(t *testing.T) {
			for _, b := range []string{"iptables-nft", "legacy"} {
				out, err := w.sh(minipotBin + " firewall apply --backend " + b)
				if err == nil || !strings.Contains(out, "fw4 router") || !strings.Contains(out, "use nftables") {
					t.Errorf("apply --backend %s: %v\n%s", b, err, out)
				}
			}
			if got := w.ruleset(); got != baseline {
				t.Errorf("a refused apply changed the ruleset:\n%s", lineDiff(baseline, got))
			}
		})
	}
	if w.kind == "fw4" {
		t.Run("a failed apply leaves nothing behind", func(t *testing.T) {
			// An nft whose kernel lacks the socket expression, as on a
			// router without kmod-nft-socket: it refuses the transaction.
			wrap := filepath.Join(w.conf, "nft-wrap")
			os.MkdirAll(wrap, 0o755)
			real := strings.TrimSpace(w.mustSh("command -v nft"))
			script := "#!/bin/sh\nif [ \"$1\" = -f ]; then echo 'Error: Could not process rule: No such file or directory' >&2; exit 1; fi\nexec " + real + " \"$@\"\n"
			if err := os.WriteFile(filepath.Join(wrap, "nft"), []byte(script), 0o755); err != nil {
				t.Fatal(err)
			}
			out, err := w.sh("PATH=" + wrap + ":$PATH " + minipotBin + " firewall apply")
			if err == nil || !strings.Contains(out, "nothing was changed") || !strings.Contains(out, "kmod-nft-socket") {
				t.Errorf("apply with a failing nft: %v\n%s", err, out)
			}
			if got := w.ruleset(); got != baseline {
				t.Errorf("a failed apply changed the ruleset:\n%s", lineDiff(baseline, got))
			}
			if out, err := w.sh("ls /var/run/minipot-fw4-input.nft"); err == nil {
				t.Errorf("a failed apply left the include file: %s", out)
			}
		})
	}
	if w.kind == "fw4" {
		t.Run("an older minipot's iptables rules are removed", func(t *testing.T) {
			// What an iptables-era minipot left on an fw4 router: a nat
			// chain hooked beside fw4's dstnat, where it takes forwards.
			w.mustSh(`iptables-nft -t nat -N MINIPOT_PREROUTING &&
				iptables-nft -t nat -A MINIPOT_PREROUTING -p tcp -m tcp --dport 8080 -j REDIRECT --to-ports 9449 &&
				iptables-nft -t nat -A PREROUTING -p tcp -m addrtype --dst-type LOCAL -m comment --comment minipot -j MINIPOT_PREROUTING`)
			w.mustSh(minipotBin + " firewall apply")
			if out := w.mustSh("nft list ruleset"); strings.Contains(out, "MINIPOT") || strings.Contains(out, "table ip nat") {
				t.Errorf("after apply, the old rules (or their empty table) are left:\n%s", out)
			}
		})
	}
	t.Run("apply: the backend of the router's firewall", func(t *testing.T) {
		out := w.mustSh(minipotBin + " firewall apply")
		st, err := w.status()
		if err != nil {
			t.Fatalf("status: %v", err)
		}
		want := map[string]string{"fw4": firewall.BackendNFTables, "fw3": firewall.BackendIPTablesLegacy}[w.kind]
		if st.Backend != want || st.RouterFirewall != w.kind || !st.InSync || !st.Managed || !strings.Contains(st.BackendReason, w.kind) {
			t.Fatalf("status after apply (%s): %+v", out, st)
		}
	})

	t.Run("stock config: the fake answers, the event has the real port", func(t *testing.T) {
		for _, a := range worldFamilies {
			expect(t, w.attacker, a.routerWAN, 23, gotTelnet)
			expect(t, w.attacker, a.routerWAN, 80, gotHTTP)
			expect(t, w.attacker, a.routerWAN, 8080, gotProxy)
			eventually(t, 10*time.Second, "a stored connect event from the attacker", func() (bool, string) {
				for _, e := range readEvents(t, filepath.Join(w.conf, "events.db")) {
					if e.Service == "23tcp" && e.SrcIP == a.attacker && e.Action == event.Connect {
						if e.Port != 23 {
							t.Errorf("event port %d, want 23", e.Port)
						}
						return true, ""
					}
				}
				return false, "none yet"
			})
		}
	})

	t.Run("direct connections to fake ports are refused", func(t *testing.T) {
		for _, port := range []int{1392, 3692, 1449, 9449} {
			w.expectAll(t, port, gotRefused)
		}
	})

	t.Run("LAN clients and routed traffic are untouched", func(t *testing.T) {
		lanSvc := serveBanner(t, w.lan, 23, "LAN-23")
		defer lanSvc.Close()
		for _, a := range worldFamilies {
			expect(t, w.lan, a.routerLAN, 23, gotRefused)
			expect(t, w.lan, a.routerLAN, 1392, gotTelnet)
			expect(t, w.attacker, a.lanHost, 23, "LAN-23")
		}
	})

	for _, reload := range []string{"reload", "restart", "stop+start"} {
		t.Run("after "+reload+" the redirect still works", func(t *testing.T) {
			switch {
			case reload == "stop+start" && w.kind == "fw4":
				w.firewallCmd("flush") // what /etc/init.d/firewall stop runs
				w.firewallCmd("start")
			case reload == "stop+start":
				w.firewallCmd("stop")
				w.firewallCmd("start")
			default:
				w.firewallCmd(reload)
			}
			w.expectAll(t, 23, gotTelnet)
			w.expectAll(t, 1392, gotRefused)
			if st, err := w.status(); err != nil || !st.InSync {
				t.Errorf("status after %s: %v %+v", reload, err, st)
			}
		})
	}

	t.Run("a port forward of a minipot port wins", func(t *testing.T) {
		lanSvc := serveBanner(t, w.lan, 8080, "LAN-8080")
		defer lanSvc.Close()
		orig, _ := os.ReadFile(filepath.Join(w.conf, "firewall"))
		fw := string(orig) + "\nconfig redirect\n\toption name 'Forward-8080'\n\toption src 'wan'\n\toption src_dport '8080'\n\toption dest 'lan'\n\toption dest_ip '192.168.50.2'\n\toption proto 'tcp'\n\toption target 'DNAT'\n"
		if w.kind == "fw4" {
			fw += "\nconfig redirect\n\toption name 'Forward-8080-v6'\n\toption src 'wan'\n\toption src_dport '8080'\n\toption dest 'lan'\n\toption dest_ip '2001:db8:200::2'\n\toption proto 'tcp'\n\toption target 'DNAT'\n"
		}
		w.write("firewall", fw)
		// A restart afterwards: fw4's reload keeps chains it no longer
		// renders (empty dstnat_wan...), which would show in the ruleset.
		defer func() { w.write("firewall", string(orig)); w.firewallCmd("restart") }()
		w.firewallCmd("reload")
		expect(t, w.attacker, "203.0.113.1", 8080, "LAN-8080")
		if w.kind == "fw4" {
			expect(t, w.attacker, "2001:db8:100::1", 8080, "LAN-8080")
		}
		w.expectAll(t, 2323, gotTelnet)
		// fw4 restart and a reload again: the forward still wins.
		w.firewallCmd("restart")
		expect(t, w.attacker, "203.0.113.1", 8080, "LAN-8080")
		st, _ := w.status()
		for _, d := range st.Services {
			if d.Service == "8080tcp" && d.Family == firewall.IPv4 && d.Cause != firewall.CauseForwarded {
				t.Errorf("decision of a forwarded port: %+v", d)
			}
		}
	})

	t.Run("a real service the firewall accepts answers, and takes its port at once", func(t *testing.T) {
		orig, _ := os.ReadFile(filepath.Join(w.conf, "firewall"))
		w.write("firewall", string(orig)+"\nconfig rule\n\toption name 'Allow-Telnet'\n\toption src 'wan'\n\toption proto 'tcp'\n\toption dest_port '23'\n\toption target 'ACCEPT'\n")
		defer func() { w.write("firewall", string(orig)); w.firewallCmd("restart") }()
		w.firewallCmd("reload")
		// Nothing listens yet: the fake answers.
		w.expectAll(t, 23, gotTelnet)
		real := serveBanner(t, w.router, 23, "REAL-23")
		start := time.Now()
		// No apply: the kernel's socket lookup in minipot's rules (nft
		// socket, iptables -m socket) sees the listener on the next
		// connection.
		for _, a := range worldFamilies {
			if got := reach(w.attacker, a.routerWAN, 23); got != "REAL-23" {
				t.Errorf("%s right after the real service started listening: %q", a.fam, got)
			}
		}
		if d := time.Since(start); d > time.Second {
			t.Errorf("the real service took its port after %v, want within 1 s", d)
		}
		w.expectAll(t, 2323, gotTelnet)
		real.Close()
		w.expectAll(t, 23, gotTelnet)
		if st, err := w.status(); err != nil || !st.InSync {
			t.Errorf("a listener coming and going put the rules out of sync: %v %+v", err, st.Pending)
		}
	})

	// fw3's iptables marks: TestFirewall/legacy.
	t.Run("foreign mark bits are kept", func(t *testing.T) {
		w.mustSh(`nft -f - <<'EOF'
table inet other {
	chain pre {
		type filter hook prerouting priority mangle; policy accept;
		iifname "wan0" tcp dport 2323 ct mark set ct mark | 0x2
	}
	chain in {
		type filter hook input priority filter + 10; policy accept;
		tcp dport 3692 ct mark & 0x80002 == 0x80002 counter comment "probe"
	}
}
EOF`)
		defer w.mustSh("nft delete table inet other")
		w.expectAll(t, 2323, gotTelnet)
		if w.kind == "fw3" {
			t.Log("fw3: the nftables probe sees iptables-legacy's marks too")
		}
		out := w.mustSh("nft list chain inet other in")
		if m := regexp.MustCompile(`counter packets (\d+)`).FindStringSubmatch(out); m == nil || m[1] == "0" {
			t.Errorf("no redirected packet carried both minipot's mark and 0x2:\n%s", out)
		}
	})

	t.Run("switched off, then removed: the ruleset is as before minipot", func(t *testing.T) {
		w.setUcollect(false)
		w.mustSh(minipotBin + " firewall apply")
		if got := w.ruleset(); got != baseline {
			t.Errorf("switched off:\n%s", lineDiff(baseline, got))

		}
		w.expectAll(t, 23, gotRefused)
		w.setUcollect(true)
		w.mustSh(minipotBin + " firewall apply")
		w.expectAll(t, 23, gotTelnet)
		w.mustSh(minipotBin + " firewall remove")
		if got := w.ruleset(); got != baseline {
			t.Errorf("after remove:\n%s", lineDiff(baseline, got))
		}
		if _, err := w.status(); err == nil {
			t.Error("status after remove with the feature on exits 0: it must report the rules missing")
		}
	})

	t.Run("removing the package leaves the ruleset as before the install", func(t *testing.T) {
		w.mustSh(minipotBin + " firewall apply")
		w.firewallCmd("reload")
		w.expectAll(t, 23, gotTelnet)
		// The package's prerm, as the build system writes it, calling the
		// binary under test; then the firewall reload it asks of
		// /etc/init.d/firewall (absent here).
		_, out := owBuild(t, need(t, "make"), true)
		prerm, err := os.ReadFile(filepath.Join(out, "prerm"))
		if err != nil {
			t.Fatal(err)
		}
		text := strings.ReplaceAll(string(prerm), "/usr/bin/minipot", minipotBin)
		if err := os.WriteFile(filepath.Join(w.conf, "prerm"), []byte(text), 0o755); err != nil {
			t.Fatal(err)
		}
		w.sh("sh " + filepath.Join(w.conf, "prerm"))
		w.firewallCmd("reload")
		if got := w.ruleset(); got != pristine {
			t.Errorf("after the package's removal, the ruleset differs from before its install:\n%s", lineDiff(pristine, got))
		}
		if conf, _ := os.ReadFile(filepath.Join(w.conf, "firewall")); strings.Contains(string(conf), "minipot") {
			t.Errorf("the include is still registered:\n%s", conf)
		}
		w.expectAll(t, 23, gotRefused)
	})
}

package firewall

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/minipot/minipot/internal/settings"
	"github.com/minipot/minipot/internal/uci"
)

// The benchmarks apply real rules with real iptables in a scratch network
// namespace of their own (root only):
//
//	go test -run '^$' -bench . ./internal/firewall/
//
// clean:     Apply from no rules at all (Remove before each, not timed)
// toggle:    a converging Apply after one service was switched off or on
// converged: an Apply with nothing to change, by a long-lived process
// cli:       the same, by a fresh process (`minipot firewall apply` from the
//            fw3 include or cron): backend detection and version checks too
//
// calls/op is the number of commands one Apply runs: iptables invocations,
// or nft invocations for nftables (each `nft -f` is one transaction of
// netlink messages; the table is replaced whole).

func BenchmarkApply(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("needs root: builds a network namespace")
	}
	for _, tool := range []string{"ip", "nft", "iptables-nft", "iptables-legacy", "ip6tables-nft", "ip6tables-legacy"} {
		if _, err := exec.LookPath(tool); err != nil {
			b.Skipf("needs %s", tool)
		}
	}
	ns := fmt.Sprintf("mpbench%d", os.Getpid())
	exec.Command("ip", "netns", "del", ns).Run()
	if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
		b.Fatalf("ip netns add: %v %s", err, out)
	}
	defer exec.Command("ip", "netns", "del", ns).Run()

	conf := b.TempDir()
	os.WriteFile(filepath.Join(conf, "firewall"), []byte("config zone\n\toption name 'wan'\n\toption device 'wan0'\n\toption input 'REJECT'\n"), 0o644)
	on := settings.Defaults()
	off := settings.Defaults()
	off.Disabled = []string{"8080tcp"}

	for _, backend := range []string{BackendNFTables, BackendIPTablesNFT, BackendIPTablesLegacy} {
		newFW := func(want string) Firewall {
			return New(Options{Backend: want, Config: uci.Dir{Path: conf}, ProcNet: "/proc/thread-self/net",
				Ubus: "-", LockFile: filepath.Join(conf, "lock"), FW4Include: filepath.Join(conf, "fw4.nft"),
				FW4Main: filepath.Join(conf, "no-fw4")})
		}
		run := func(name string, fn func(b *testing.B, fw Firewall) int) {
			b.Run(backend+"/"+name, func(b *testing.B) {
				inNamespace(b, ns, func() {
					fw := newFW(backend)
					if _, err := fw.Apply(context.Background(), on); err != nil {
						b.Fatal(err)
					}
					checkInNamespace(b, ns, backend, fw)
					b.ResetTimer()
					calls := 0
					for i := 0; i < b.N; i++ {
						calls += fn(b, fw)
					}
					b.StopTimer()
					b.ReportMetric(float64(calls)/float64(b.N), "calls/op")
					if _, err := fw.Remove(context.Background()); err != nil {
						b.Fatal(err)
					}
				})
			})
		}
		apply := func(b *testing.B, fw Firewall, s settings.Settings) int {
			ch, err := fw.Apply(context.Background(), s)
			if err != nil {
				b.Fatal(err)
			}
			return ch.Calls
		}
		run("clean", func(b *testing.B, fw Firewall) int {
			b.StopTimer()
			if _, err := fw.Remove(context.Background()); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
			return apply(b, fw, on)
		})
		flip := false
		run("toggle", func(b *testing.B, fw Firewall) int {
			flip = !flip
			if flip {
				return apply(b, fw, off)
			}
			return apply(b, fw, on)
		})
		run("converged", func(b *testing.B, fw Firewall) int { return apply(b, fw, on) })
		run("cli", func(b *testing.B, _ Firewall) int { return apply(b, newFW(backend), on) })
	}
}

// inNamespace runs fn on a thread inside the named network namespace; the
// iptables commands it starts run there too.
func inNamespace(b *testing.B, ns string, fn func()) {
	target, err := os.Open("/run/netns/" + ns)
	if err != nil {
		b.Fatal(err)
	}
	defer target.Close()
	runtime.LockOSThread()
	orig, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		b.Fatal(err)
	}
	defer orig.Close()
	if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
		runtime.UnlockOSThread()
		b.Fatal(err)
	}
	fn()
	if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err != nil {
		b.Fatal(err) // the thread stays locked and is discarded
	}
	runtime.UnlockOSThread()
}

// checkInNamespace makes sure the rules landed in the scratch namespace,
// not in the machine's own tables; if not, it takes them out again.
func checkInNamespace(b *testing.B, ns, backend string, fw Firewall) {
	cmd := exec.Command("ip", "netns", "exec", ns, backend, "-t", "nat", "-S", ChainNAT)
	if backend == BackendNFTables {
		cmd = exec.Command("ip", "netns", "exec", ns, "nft", "list", "table", "inet", nftTable)
	}
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(strings.ToUpper(string(out)), "REDIRECT") {
		fw.Remove(context.Background())
		b.Fatalf("the rules are not in namespace %s: %v %s", ns, err, out)
	}
}

// BenchmarkRealServiceTakesPort measures the time from a real service
// starting to listen on a port the router's firewall accepts (23) until a
// connection from the WAN reaches it instead of the fake, with no apply:
// the socket lookup in the rules (nft socket, iptables -m socket) sees
// the listener. ms-median is the median of b.N runs.
func BenchmarkRealServiceTakesPort(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("needs root: builds network namespaces")
	}
	for _, tool := range []string{"ip", "nft", "iptables-nft", "iptables-legacy"} {
		if _, err := exec.LookPath(tool); err != nil {
			b.Skipf("needs %s", tool)
		}
	}
	r, c := fmt.Sprintf("mpbenchr%d", os.Getpid()), fmt.Sprintf("mpbenchc%d", os.Getpid())
	for _, ns := range []string{r, c} {
		exec.Command("ip", "netns", "del", ns).Run()
		if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
			b.Fatalf("ip netns add: %v %s", err, out)
		}
		defer exec.Command("ip", "netns", "del", ns).Run()
	}
	for _, args := range [][]string{
		{"link", "add", "wan0", "netns", r, "type", "veth", "peer", "name", "eth0", "netns", c},
		{"-n", r, "addr", "add", "198.51.100.1/24", "dev", "wan0"},
		{"-n", c, "addr", "add", "198.51.100.2/24", "dev", "eth0"},
		{"-n", r, "link", "set", "wan0", "up"},
		{"-n", c, "link", "set", "eth0", "up"},
		{"-n", r, "link", "set", "lo", "up"},
	} {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			b.Fatalf("ip %v: %v %s", args, err, out)
		}
	}
	conf := b.TempDir()
	os.WriteFile(filepath.Join(conf, "firewall"), []byte("config zone\n\toption name 'wan'\n\toption device 'wan0'\n\toption input 'REJECT'\n"+
		"\nconfig rule\n\toption src 'wan'\n\toption proto 'tcp'\n\toption dest_port '23'\n\toption target 'ACCEPT'\n"), 0o644)
	s := settings.Defaults()
	s.Firewall.IPv6 = false
	dial := func() bool {
		ok := false
		inNamespace(b, c, func() {
			conn, err := net.DialTimeout("tcp", "198.51.100.1:23", time.Second)
			if err == nil {
				buf := make([]byte, 4)
				conn.SetReadDeadline(time.Now().Add(time.Second))
				n, _ := conn.Read(buf)
				ok = string(buf[:n]) == "REAL"
				conn.Close()
			}
		})
		return ok
	}
	for _, backend := range []string{BackendNFTables, BackendIPTablesNFT, BackendIPTablesLegacy} {
		b.Run(backend, func(b *testing.B) {
			var fw Firewall
			inNamespace(b, r, func() {
				fw = New(Options{Backend: backend, Config: uci.Dir{Path: conf}, ProcNet: "/proc/thread-self/net",
					Ubus: "-", LockFile: filepath.Join(conf, "lock"), FW4Include: filepath.Join(conf, "fw4.nft"),
					FW4Main: filepath.Join(conf, "no-fw4")})
				if _, err := fw.Apply(context.Background(), s); err != nil {
					b.Fatal(err)
				}
			})
			defer inNamespace(b, r, func() { fw.Remove(context.Background()) })
			var samples []time.Duration
			for i := 0; i < b.N; i++ {
				if dial() {
					b.Fatal("a connection reached a real service before it listened")
				}
				var ln net.Listener
				start := time.Now()
				inNamespace(b, r, func() {
					var err error
					if ln, err = net.Listen("tcp4", ":23"); err != nil {
						b.Fatal(err)
					}
				})
				go func() {
					for {
						conn, err := ln.Accept()
						if err != nil {
							return
						}
						conn.Write([]byte("REAL"))
						conn.Close()
					}
				}()
				for !dial() {
					if time.Since(start) > 10*time.Second {
						b.Fatal("the real service never got its port")
					}
				}
				samples = append(samples, time.Since(start))
				ln.Close()
			}
			slices.Sort(samples)
			b.ReportMetric(float64(samples[len(samples)/2])/1e6, "ms-median")
		})
	}
}

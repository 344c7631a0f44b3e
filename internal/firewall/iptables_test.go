package firewall

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/minipot/minipot/internal/settings"
	"github.com/minipot/minipot/internal/uci"
)

// memRouter is an IPTables over in-memory tables, with an OpenWrt
// configuration and /proc files of its own.
type memRouter struct {
	fw   *IPTables
	mem  [2]*memIPT
	base [2]string
	conf string
	proc string
}

func newMemRouter(t *testing.T, firewallConf string) *memRouter {
	t.Helper()
	r := &memRouter{conf: t.TempDir(), proc: t.TempDir()}
	for _, fam := range families {
		r.mem[fam] = baselineMem()
		r.base[fam] = r.mem[fam].dump()
	}
	write := func(dir, name, text string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(r.conf, "network", networkConf)
	write(r.conf, "firewall", firewallConf)
	r.listen(t)
	r.fw = NewIPTables(Options{
		Backend:  "nft",
		Config:   uci.Dir{Path: r.conf},
		ProcNet:  r.proc,
		Ubus:     "-",
		LockFile: filepath.Join(t.TempDir(), "lock"),
		lookPath: func(name string) (string, error) {
			if strings.HasSuffix(name, "-nft") {
				return "/fake/" + name, nil
			}
			return "", exec.ErrNotFound
		},
		newIPT: func(path string, fam Family) (ipt, error) { return r.mem[fam], nil },
	})
	return r
}

// listen writes /proc/net/tcp{,6} with the given IPv4 listeners.
func (r *memRouter) listen(t *testing.T, addrs ...netip.AddrPort) {
	t.Helper()
	const header = "  sl  local_address rem_address   st\n"
	var lines []string
	for _, a := range addrs {
		lines = append(lines, procLine(a.Addr(), int(a.Port()), "0A"))
	}
	os.WriteFile(filepath.Join(r.proc, "tcp"), []byte(header+strings.Join(lines, "\n")), 0o644)
	os.WriteFile(filepath.Join(r.proc, "tcp6"), []byte(header), 0o644)
}

func (r *memRouter) dumps() string { return r.mem[IPv4].dump() + r.mem[IPv6].dump() }

const wanAcceptsHTTP = openwrtDefaults + `
config rule
	option name 'Allow-HTTP'
	option src 'wan'
	option proto 'tcp'
	option dest_port '80'
	option target 'ACCEPT'
`

func TestIPTablesLifecycle(t *testing.T) {
	ctx := context.Background()
	r := newMemRouter(t, wanAcceptsHTTP)
	r.listen(t, netip.MustParseAddrPort("0.0.0.0:80"), netip.MustParseAddrPort("0.0.0.0:23"))
	s := settings.Defaults()

	ch, err := r.fw.Apply(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	if len(ch.Ops) == 0 || ch.Calls == 0 || ch.Backend != BackendIPTablesNFT {
		t.Fatalf("first apply: %+v", ch)
	}
	for _, d := range ch.Services {
		want := RedirectAll
		if d.Service == "80tcp" && d.Family == IPv4 {
			want = RedirectNone // listens on 80 and Allow-HTTP accepts it; 23 listens but is rejected
		}
		if d.Redirect != want {
			t.Errorf("%s %s: %s (%s)", d.Family, d.Service, d.Redirect, d.Reason)
		}
	}
	nat := strings.Join(r.mem[IPv4].tables["nat"][ChainNAT], "\n")
	// 80 is accepted: the socket lookup leaves it to the real service; 23
	// is not: redirected whatever listens.
	if !strings.Contains(nat, "-i eth1 -j CONNMARK") || !strings.Contains(nat, "--dport 80 -m socket --nowildcard -j RETURN") ||
		strings.Contains(nat, "--dport 23 -m socket") || !strings.Contains(nat, "--dport 23 -j REDIRECT --to-ports 1392") {
		t.Errorf("nat chain:\n%s", nat)
	}

	again, err := r.fw.Apply(ctx, s)
	if err != nil || len(again.Ops) != 0 {
		t.Fatalf("second apply changed %v (%v)", again.Ops, err)
	}
	if again.Calls > 8 {
		t.Errorf("a converged apply made %d iptables calls", again.Calls)
	}

	st, err := r.fw.Status(ctx, s)
	if err != nil || !st.InSync || len(st.Families) != 2 || !st.Families[0].Installed || st.Families[0].Redirected["23tcp"] != 7 {
		t.Fatalf("status %+v %v", st, err)
	}
	if st.WANSource == "" || !strings.Contains(strings.Join(st.WANDevices, ","), "eth1") {
		t.Errorf("status WAN %q from %q", st.WANDevices, st.WANSource)
	}

	s.Disabled = []string{"2323tcp"}
	toggle, err := r.fw.Apply(ctx, s)
	if err != nil || len(toggle.Ops) != 6 {
		t.Fatalf("toggling one service: %d ops (%v):\n%s", len(toggle.Ops), err, opsText(toggle.Ops))
	}
	if st, _ := r.fw.Status(ctx, settings.Defaults()); st.InSync || len(st.Pending) != 6 {
		t.Errorf("status against other settings: in sync %v, %d pending", st.InSync, len(st.Pending))
	}

	rm, err := r.fw.Remove(ctx)
	if err != nil || len(rm.Ops) == 0 {
		t.Fatalf("remove: %+v %v", rm, err)
	}
	if r.dumps() != r.base[IPv4]+r.base[IPv6] {
		t.Fatalf("after remove:\n%s", r.dumps())
	}
	if rm, err := r.fw.Remove(ctx); err != nil || len(rm.Ops) != 0 {
		t.Fatalf("second remove: %+v %v", rm, err)
	}
}

func TestIPTablesApplyFailures(t *testing.T) {
	ctx := context.Background()
	t.Run("v6 target missing rolls back v4 too", func(t *testing.T) {
		r := newMemRouter(t, openwrtDefaults)
		r.mem[IPv6].failOn = "REDIRECT --to-ports 1449"
		_, err := r.fw.Apply(ctx, settings.Defaults())
		if err == nil || !strings.Contains(err.Error(), "undone") || !strings.Contains(err.Error(), "ip6tables") {
			t.Fatalf("err %v", err)
		}
		if r.dumps() != r.base[IPv4]+r.base[IPv6] {
			t.Fatalf("left behind:\n%s", r.dumps())
		}
	})
	t.Run("no wan zone", func(t *testing.T) {
		r := newMemRouter(t, "")
		_, err := r.fw.Apply(ctx, settings.Defaults())
		if !errors.Is(err, ErrNoWAN) || !strings.Contains(err.Error(), "wan_devices") {
			t.Fatalf("err %v", err)
		}
		if r.dumps() != r.base[IPv4]+r.base[IPv6] {
			t.Fatal("changed the tables")
		}
		// Devices from the settings do without the zone; with no OpenWrt
		// firewall a listener counts as reachable.
		s := settings.Defaults()
		s.Firewall.WANDevices = []string{"enp1s0"}
		r.listen(t, netip.MustParseAddrPort("0.0.0.0:8080"))
		ch, err := r.fw.Apply(ctx, s)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range ch.Services {
			if (d.Service == "8080tcp" && d.Family == IPv4) != (d.Redirect == RedirectNone) {
				t.Errorf("%s %s: %s (%s)", d.Family, d.Service, d.Redirect, d.Reason)
			}
		}
	})
	t.Run("a device iptables refuses", func(t *testing.T) {
		r := newMemRouter(t, "config zone\n\toption name 'wan'\n\tlist device 'averyveryverylongname0'\n")
		_, err := r.fw.Apply(ctx, settings.Defaults())
		if err == nil || !strings.Contains(err.Error(), "averyveryverylongname0") {
			t.Fatalf("err %v", err)
		}
		if r.dumps() != r.base[IPv4]+r.base[IPv6] {
			t.Fatal("changed the tables")
		}
	})
	t.Run("feature off needs no WAN", func(t *testing.T) {
		r := newMemRouter(t, "")
		s := settings.Defaults()
		s.Enabled = false
		if ch, err := r.fw.Apply(ctx, s); err != nil || len(ch.Ops) != 0 {
			t.Fatalf("%+v %v", ch, err)
		}
	})
}

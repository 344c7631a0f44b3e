package firewall

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/minipot/minipot/internal/settings"
	"github.com/minipot/minipot/internal/uci"
)

// gatherFacts gathers what the rules depend on, with notes for Status:
// the WAN devices, what the router's firewall accepts and forwards, and
// the listening sockets. Every backend plans from the same facts.
func gatherFacts(ctx context.Context, opts Options, s settings.Settings) (Facts, []string, error) {
	var f Facts
	var notes []string
	fwPkg, err := opts.Config.Load("firewall")
	if err != nil {
		return f, nil, fmt.Errorf("read the OpenWrt firewall configuration: %w", err)
	}
	confDir := opts.Config.Path
	if confDir == "" {
		confDir = uci.DefaultDir
	}
	zone := FindZone(fwPkg, s.Firewall.WANZone)
	switch {
	case len(s.Firewall.WANDevices) > 0:
		f.WANDevices, f.WANSource = slices.Clone(s.Firewall.WANDevices), "ucollect.firewall.wan_devices"
	case zone == nil:
		return f, nil, fmt.Errorf("%w: there is no firewall zone %q in %s; set ucollect.firewall.wan_devices to the devices facing the internet",
			ErrNoWAN, s.Firewall.WANZone, filepath.Join(confDir, "firewall"))
	default:
		netPkg, err := opts.Config.Load("network")
		if err != nil {
			return f, nil, fmt.Errorf("read the OpenWrt network configuration: %w", err)
		}
		l3, how := ubusDevices(ctx, opts)
		var problems []string
		f.WANDevices, problems = ZoneDevices(zone, netPkg, func(n string) string { return l3[n] })
		notes = append(notes, problems...)
		f.WANSource = fmt.Sprintf("firewall zone %s (%s)", s.Firewall.WANZone, how)
		if len(f.WANDevices) == 0 {
			return f, notes, fmt.Errorf("%w: zone %q has no device that minipot can resolve (%s); set ucollect.firewall.wan_devices",
				ErrNoWAN, s.Firewall.WANZone, strings.Join(problems, "; "))
		}
	}
	for _, d := range f.WANDevices {
		if !settings.ValidDevice(d) {
			return f, notes, fmt.Errorf("WAN device %q (from %s) is not a name iptables accepts", d, f.WANSource)
		}
	}
	if zone != nil {
		f.Policy = OpenWrtPolicy(fwPkg, s.Firewall.WANZone)
	} else {
		f.Policy = AcceptAll("no OpenWrt firewall zone: every listening service counts as reachable from the WAN")
	}
	f.Listeners = Listeners{}
	for _, name := range []string{"tcp", "tcp6"} {
		data, err := os.ReadFile(filepath.Join(opts.ProcNet, name))
		if err != nil {
			if name == "tcp6" && errors.Is(err, os.ErrNotExist) {
				continue // a kernel without IPv6
			}
			return f, notes, fmt.Errorf("read listening sockets: %w", err)
		}
		if err := ParseProcNetTCP(data, name == "tcp6", f.Listeners); err != nil {
			return f, notes, fmt.Errorf("read %s: %w", name, err)
		}
	}
	return f, notes, nil
}

// ubusDevices asks netifd for the layer-3 devices of the interfaces that
// are up; how says where the devices came from.
func ubusDevices(ctx context.Context, opts Options) (map[string]string, string) {
	const fallback = "devices from /etc/config/network"
	cmd := opts.Ubus
	if cmd == "-" {
		return nil, fallback
	}
	if cmd == "" {
		p, err := opts.lookPath("ubus")
		if err != nil {
			return nil, fallback + ": no ubus"
		}
		cmd = p
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, cmd, "call", "network.interface", "dump").Output()
	if err != nil {
		return nil, fallback + ": ubus failed: " + err.Error()
	}
	m, err := ParseUbusDump(out)
	if err != nil {
		return nil, fallback + ": " + err.Error()
	}
	return m, "devices from ubus, else /etc/config/network"
}

// Options configure the Firewall New makes.
type Options struct {
	// Backend is "auto", "nftables", "iptables-nft" or "iptables-legacy"
	// ("nft" and "legacy" are the iptables ones' old names); "" takes the
	// settings' firewall.backend (and "auto" for Remove).
	Backend string
	// Config is the UCI directory with OpenWrt's firewall and network
	// packages (/etc/config).
	Config uci.Dir
	// ProcNet is where the listening sockets are read; "" is /proc/net.
	ProcNet string
	// Ubus is the ubus command; "" looks for "ubus", "-" never uses it.
	Ubus string
	// LockFile serializes minipot processes changing the rules (the fw3
	// include, the API, a person); "" is /var/run/minipot-firewall.lock.
	LockFile string
	// WaitLock is how long an iptables call waits for the xtables lock
	// (seconds; 0 is 10).
	WaitLock int

	// NFT is the nft command; "" looks for "nft".
	NFT string
	// FW4Include is the file the fw4 include of the package links to
	// (/usr/share/nftables.d/chain-pre/input_wan/30-minipot.nft): the
	// rule that lets redirected connections past fw4's input reject, kept
	// by fw4 across its reloads; "" is /var/run/minipot-fw4-input.nft.
	// It lives in RAM and is root's: whoever can write it adds rules to
	// the router's firewall.
	FW4Include string
	// FW4Main is firewall4's main template; its presence tells an fw4
	// router from an fw3 one (both have a /sbin/fw3). "" is
	// /usr/share/firewall4/main.uc.
	FW4Main string

	// newIPT makes the handle of one command; tests replace it.
	newIPT func(path string, fam Family) (ipt, error)
	// lookPath finds a command; tests replace it.
	lookPath func(string) (string, error)
}

// withDefaults fills in the documented defaults of the zero values.
func (o Options) withDefaults() Options {
	if o.ProcNet == "" {
		o.ProcNet = "/proc/net"
	}
	if o.LockFile == "" {
		o.LockFile = "/var/run/minipot-firewall.lock"
	}
	if o.WaitLock == 0 {
		o.WaitLock = 10
	}
	if o.FW4Include == "" {
		o.FW4Include = "/var/run/minipot-fw4-input.nft"
	}
	if o.FW4Main == "" {
		o.FW4Main = "/usr/share/firewall4/main.uc"
	}
	if o.lookPath == nil {
		o.lookPath = exec.LookPath
	}
	return o
}

// lock takes the lock file that serializes minipot processes.
func lockFile(path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open lock file: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return func() { f.Close() }, nil
}

package firewall

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"

	"github.com/minipot/minipot/internal/settings"
)

// Router is the Firewall New makes: it chooses the backend for each call
// (firewall.backend, or Options.Backend) and hands the call to it.
type Router struct {
	opts Options
	ipt  *IPTables            // auto resolution of the iptables flavour
	ipts map[string]*IPTables // by flavour
	nft  *NFTables

	mu     sync.Mutex
	chosen map[string]choice // by requested name
	swept  bool              // leftover iptables rules looked for (once)
}

type choice struct {
	backend string // BackendNFTables, BackendIPTablesNFT or BackendIPTablesLegacy
	reason  string
}

// New makes the Firewall of the router: nftables or iptables, as
// firewall.backend (or Options.Backend) says.
func New(opts Options) *Router {
	opts = opts.withDefaults()
	r := &Router{opts: opts, ipt: NewIPTables(opts), nft: NewNFTables(opts), chosen: map[string]choice{}, ipts: map[string]*IPTables{}}
	for _, flavour := range backends {
		o := opts
		o.Backend = flavour
		r.ipts[flavour] = NewIPTables(o)
	}
	return r
}

var _ Firewall = (*Router)(nil)

// NormalizeBackend returns the canonical name of a firewall.backend value:
// "" and "auto" are auto, "nft" and "legacy" the old names of the iptables
// ones.
func NormalizeBackend(want string) (string, error) {
	switch want {
	case "", BackendAuto:
		return BackendAuto, nil
	case "nft", BackendIPTablesNFT:
		return BackendIPTablesNFT, nil
	case "legacy", BackendIPTablesLegacy:
		return BackendIPTablesLegacy, nil
	case BackendNFTables:
		return BackendNFTables, nil
	}
	return "", fmt.Errorf("unknown firewall backend %q (auto, nftables, iptables-nft or iptables-legacy)", want)
}

// routerFirewall tells which firewall the router runs: fw4 when
// firewall4's template is installed (its package also installs a
// /sbin/fw3, so that name tells nothing), fw3 when /sbin/fw3 is, else
// none of OpenWrt's.
func (r *Router) routerFirewall() string {
	if _, err := os.Stat(r.opts.FW4Main); err == nil {
		return RouterFW4
	}
	if _, err := r.opts.lookPath("fw3"); err == nil {
		return RouterFW3
	}
	return RouterOther
}

// choose resolves the backend asked for. An iptables backend on an fw4
// router is refused for Apply (forRemove false): its nat rules hook in
// beside fw4's, where they can run before its port forwards, and fw4's
// input chain rejects what they redirect.
func (r *Router) choose(ctx context.Context, want string, forRemove bool) (choice, error) {
	name, err := NormalizeBackend(want)
	if err != nil {
		return choice{}, err
	}
	fw := r.routerFirewall()
	switch name {
	case BackendNFTables:
		return choice{BackendNFTables, "chosen in the settings or on the command line"}, nil
	case BackendIPTablesNFT, BackendIPTablesLegacy:
		if fw == RouterFW4 && !forRemove {
			return choice{}, fmt.Errorf("firewall backend %s on an fw4 router (%s is installed): iptables rules would hook in beside fw4's nftables table, could take port forwards and would be rejected by fw4's input chain; use nftables (or auto)", name, r.opts.FW4Main)
		}
		return choice{name, "chosen in the settings or on the command line"}, nil
	}
	if fw == RouterFW4 {
		return choice{BackendNFTables, "auto: fw4 holds the router's rules (" + r.opts.FW4Main + ")"}, nil
	}
	b, err := r.ipt.resolve(ctx, "auto")
	if err != nil {
		if _, nerr := r.opts.lookPath("nft"); nerr == nil && r.opts.NFT == "" || r.opts.NFT != "" {
			return choice{BackendNFTables, "auto: no iptables installed, nft is"}, nil
		}
		return choice{}, err
	}
	reason := b.Reason
	if fw == RouterFW3 {
		reason = "auto: fw3 holds the router's rules in iptables; " + strings.TrimPrefix(reason, "auto: ")
	}
	return choice{"iptables-" + b.Name, reason}, nil
}

func (r *Router) backend(ctx context.Context, want string, forRemove bool) (Firewall, choice, error) {
	r.mu.Lock()
	key := fmt.Sprintf("%s/%v", want, forRemove)
	c, ok := r.chosen[key]
	r.mu.Unlock()
	if !ok {
		var err error
		if c, err = r.choose(ctx, want, forRemove); err != nil {
			return nil, c, err
		}
		r.mu.Lock()
		r.chosen[key] = c
		r.mu.Unlock()
	}
	if c.backend == BackendNFTables {
		return r.nft, c, nil
	}
	return r.ipts[strings.TrimPrefix(c.backend, "iptables-")], c, nil
}

func (r *Router) want(s settings.Settings) string {
	if r.opts.Backend != "" {
		return r.opts.Backend
	}
	return s.Firewall.Backend
}

// Apply converges the rules of the chosen backend. The first Apply of
// nftables on an fw4 router also removes iptables rules an older minipot
// left there (an upgrade): their nat chain would take port forwards.
func (r *Router) Apply(ctx context.Context, s settings.Settings) (Changes, error) {
	fw, c, err := r.backend(ctx, r.want(s), false)
	if err != nil {
		return Changes{}, err
	}
	ch, err := fw.Apply(ctx, s)
	if err == nil && c.backend == BackendNFTables && r.routerFirewall() == RouterFW4 {
		r.mu.Lock()
		sweep := !r.swept
		r.swept = true
		r.mu.Unlock()
		if sweep {
			ch = merge(ch, r.sweepIPTables(ctx))
		}
	}
	return ch, err
}

// sweepIPTables removes minipot's iptables chains, in each flavour that
// has them; it looks only where a table exists, so that it creates none.
func (r *Router) sweepIPTables(ctx context.Context) Changes {
	var all Changes
	for _, flavour := range backends {
		b, err := r.ipts[flavour].resolve(ctx, flavour)
		if err != nil {
			continue
		}
		if rules, _ := countRules(ctx, flavour, b.Commands, r.opts.ProcNet); rules == 0 {
			continue // no table with a rule: nothing of minipot's either
		}
		ch, err := r.ipts[flavour].Remove(ctx)
		if err != nil {
			ch.Notes = append(ch.Notes, "removing old iptables rules: "+err.Error())
		}
		ch.Backend = ""
		all = merge(all, ch)
	}
	return all
}

// Remove deletes minipot's rules: with auto, those of every backend that
// holds some (an upgrade may leave iptables rules of an older minipot on
// an fw4 router).
func (r *Router) Remove(ctx context.Context) (Changes, error) {
	name, err := NormalizeBackend(r.opts.Backend)
	if err != nil {
		return Changes{}, err
	}
	if name != BackendAuto {
		fw, _, err := r.backend(ctx, name, true)
		if err != nil {
			return Changes{}, err
		}
		return fw.Remove(ctx)
	}
	var all Changes
	var errs []error
	if _, err := r.opts.lookPath("nft"); err == nil || r.opts.NFT != "" {
		ch, err := r.nft.Remove(ctx)
		all = merge(all, ch)
		errs = append(errs, err)
	}
	if b, err := r.ipt.resolve(ctx, "auto"); err == nil {
		ch, err := r.ipts[b.Name].Remove(ctx)
		all = merge(all, ch)
		errs = append(errs, err)
	} else if all.Backend == "" {
		errs = append(errs, err)
	}
	return all, errors.Join(errs...)
}

func merge(a, b Changes) Changes {
	if a.Backend == "" {
		a.Backend = b.Backend
	} else if b.Backend != "" && len(b.Ops) > 0 {
		a.Backend += "+" + b.Backend
	}
	a.Ops = append(a.Ops, b.Ops...)
	a.Calls += b.Calls
	a.Notes = append(a.Notes, b.Notes...)
	return a
}

// Status reports the chosen backend's rules, and why it was chosen.
func (r *Router) Status(ctx context.Context, s settings.Settings) (Status, error) {
	fw, c, err := r.backend(ctx, r.want(s), false)
	if err != nil {
		return Status{Enabled: s.Enabled, RouterFirewall: r.routerFirewall(), Problem: err.Error()}, err
	}
	st, err := fw.Status(ctx, s)
	st.Backend, st.BackendReason = c.backend, c.reason
	st.RouterFirewall = r.routerFirewall()
	for _, f := range st.Families {
		st.Managed = st.Managed || f.Installed || len(f.Hooks) > 0
	}
	if len(st.WANDevices) > 0 {
		st.FamilyWAN = map[Family][]string{IPv4: st.WANDevices}
		if s.Firewall.IPv6 {
			st.FamilyWAN[IPv6] = st.WANDevices
		}
	}
	return st, err
}

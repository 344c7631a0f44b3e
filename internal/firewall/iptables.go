package firewall

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/coreos/go-iptables/iptables"

	"github.com/minipot/minipot/internal/settings"
)

// ipt is the part of go-iptables the package uses: one iptables command of
// one family. Tests put an in-memory table behind it.
type ipt interface {
	List(table, chain string) ([]string, error)
	ListWithCounters(table, chain string) ([]string, error)
	NewChain(table, chain string) error
	DeleteChain(table, chain string) error
	ClearChain(table, chain string) error
	Insert(table, chain string, pos int, rulespec ...string) error
	Append(table, chain string, rulespec ...string) error
	Delete(table, chain string, rulespec ...string) error
	DeleteById(table, chain string, id int) error
}

// IPTables is the Firewall on iptables. It is safe for concurrent use, and
// it serializes with other minipot processes through a lock file.
type IPTables struct {
	opts Options

	mu       sync.Mutex
	backends map[string]Backend // resolved, by requested name
	handles  map[string]ipt     // by command path
}

// NewIPTables makes the Firewall on iptables alone (New chooses between
// it and nftables).
func NewIPTables(opts Options) *IPTables {
	opts = opts.withDefaults()
	if opts.newIPT == nil {
		wait := opts.WaitLock
		opts.newIPT = func(path string, fam Family) (ipt, error) {
			proto := iptables.ProtocolIPv4
			if fam == IPv6 {
				proto = iptables.ProtocolIPv6
			}
			return iptables.New(iptables.Path(path), iptables.IPFamily(proto), iptables.Timeout(wait))
		}
	}
	return &IPTables{opts: opts, backends: map[string]Backend{}, handles: map[string]ipt{}}
}

var _ Firewall = (*IPTables)(nil)

// counted counts the iptables invocations of a call. go-iptables runs one
// command per method, except ClearChain, which tries -N before -F.
type counted struct {
	ipt
	n *int
}

func (c counted) List(t, ch string) ([]string, error) { *c.n++; return c.ipt.List(t, ch) }
func (c counted) ListWithCounters(t, ch string) ([]string, error) {
	*c.n++
	return c.ipt.ListWithCounters(t, ch)
}
func (c counted) NewChain(t, ch string) error    { *c.n++; return c.ipt.NewChain(t, ch) }
func (c counted) DeleteChain(t, ch string) error { *c.n++; return c.ipt.DeleteChain(t, ch) }
func (c counted) ClearChain(t, ch string) error  { *c.n += 2; return c.ipt.ClearChain(t, ch) }
func (c counted) Insert(t, ch string, pos int, r ...string) error {
	*c.n++
	return c.ipt.Insert(t, ch, pos, r...)
}
func (c counted) Append(t, ch string, r ...string) error { *c.n++; return c.ipt.Append(t, ch, r...) }
func (c counted) Delete(t, ch string, r ...string) error { *c.n++; return c.ipt.Delete(t, ch, r...) }
func (c counted) DeleteById(t, ch string, id int) error  { *c.n++; return c.ipt.DeleteById(t, ch, id) }

// session is one Apply, Remove or Status: the backend and its handles.
type session struct {
	backend Backend
	h       [2]ipt // nil for a family without a command
	calls   int
}

// begin resolves the backend and opens its commands. need6 makes a missing
// ip6tables an error.
func (fw *IPTables) begin(ctx context.Context, want string, need6 bool) (*session, error) {
	want = flavour(want)
	if want == "" {
		want = "auto"
	}
	se := &session{}
	b, ok := fw.backends[want]
	if !ok {
		var err error
		if b, err = resolveBackend(ctx, want, fw.opts.ProcNet, fw.opts.lookPath); err != nil {
			return nil, err
		}
		se.calls += b.Calls
		fw.backends[want] = b
	}
	se.backend = b
	for _, fam := range families {
		path := b.Commands[fam]
		if path == "" {
			if fam == IPv6 && need6 {
				return nil, fmt.Errorf("ip6tables-%s not found: install it, or set ucollect.firewall.ipv6=0", b.Name)
			}
			continue
		}
		h, ok := fw.handles[path]
		if !ok {
			se.calls++ // go-iptables asks the command its version
			var err error
			if h, err = fw.opts.newIPT(path, fam); err != nil {
				return nil, fmt.Errorf("%s: %w", path, err)
			}
			fw.handles[path] = h
		}
		se.h[fam] = counted{h, &se.calls}
	}
	return se, nil
}

// resolve picks the iptables flavour for want ("auto", "nft" or
// "legacy"), once per IPTables.
func (fw *IPTables) resolve(ctx context.Context, want string) (Backend, error) {
	fw.mu.Lock()
	defer fw.mu.Unlock()
	if b, ok := fw.backends[want]; ok {
		return b, nil
	}
	b, err := resolveBackend(ctx, want, fw.opts.ProcNet, fw.opts.lookPath)
	if err == nil {
		fw.backends[want] = b
	}
	return b, err
}

// flavour turns a firewall.backend value into the flavour resolveBackend
// takes.
func flavour(want string) string {
	switch want {
	case BackendIPTablesNFT:
		return "nft"
	case BackendIPTablesLegacy:
		return "legacy"
	}
	return want
}

// lock takes the lock file that serializes minipot processes.
func (fw *IPTables) lock() (func(), error) { return lockFile(fw.opts.LockFile) }

// notFound reports an iptables error that says the chain does not exist:
// exit status 1 (iptables-nft words it "incompatible", legacy "No
// chain/target/match").
func notFound(err error) bool {
	var e interface{ ExitStatus() int }
	return errors.As(err, &e) && e.ExitStatus() == 1
}

// readState reads the chains minipot's rules live in. withCounters also
// returns the packet counts of minipot's chains, by chain and rule index.
// present says whether a table exists; one that does not is not read (with
// iptables-legacy reading a table creates it).
func readState(fam Family, h ipt, withCounters bool, present func(table string) bool) (State, map[string][]uint64, error) {
	list := h.List
	if withCounters {
		list = h.ListWithCounters
	}
	var st State
	counts := map[string][]uint64{}
	for _, c := range []struct {
		table, chain string
		dst          *chainState
		builtin      bool
	}{
		{"nat", "PREROUTING", &st.Prerouting, true},
		{"filter", "INPUT", &st.Input, true},
		{"nat", ChainNAT, &st.NAT, false},
		{"filter", ChainFilter, &st.Filter, false},
	} {
		if present != nil && !present(c.table) {
			if c.builtin {
				c.dst.Exists = true // as an empty table shows it
			}
			continue
		}
		lines, err := list(c.table, c.chain)
		if err != nil {
			if !c.builtin && notFound(err) {
				continue
			}
			return State{}, nil, explain(fam, fmt.Sprintf("read %s %s", c.table, c.chain), err)
		}
		c.dst.Exists = true
		c.dst.Rules, counts[c.chain] = parseList(c.chain, lines)
	}
	return st, counts, nil
}

// readOnly returns, for reads that must change nothing, which tables of a
// family exist: with iptables-legacy only those the kernel lists, since
// listing a table creates it. nil (all of them) for iptables-nft, where
// listing creates nothing.
func (fw *IPTables) readOnly(b Backend, fam Family) func(string) bool {
	if b.Name != "legacy" {
		return nil
	}
	names := "ip_tables_names"
	if fam == IPv6 {
		names = "ip6_tables_names"
	}
	data, _ := os.ReadFile(filepath.Join(fw.opts.ProcNet, names))
	return func(table string) bool { return containsLine(string(data), table) }
}

// explain wraps an iptables error with what was being done and, where the
// message points to it, what is missing.
func explain(fam Family, what string, err error) error {
	msg := err.Error()
	hint := ""
	switch {
	case strings.Contains(msg, "Table does not exist") || strings.Contains(msg, "can't initialize"):
		if fam == IPv6 && strings.Contains(what, "nat") {
			hint = " (the kernel has no IPv6 nat table: install kmod-ipt-nat6, or set ucollect.firewall.ipv6=0)"
		} else {
			hint = " (a kernel module for this table is missing)"
		}
	case strings.Contains(msg, "No chain/target/match") || strings.Contains(msg, "Couldn't load") ||
		strings.Contains(msg, "does not exist") || strings.Contains(msg, "unknown option"):
		hint = " (a kernel module or iptables extension is missing: minipot needs addrtype, connmark/CONNMARK, conntrack, comment, socket, REDIRECT and REJECT)"
	}
	return fmt.Errorf("%s: %s: %s%s", fam.command(), what, strings.TrimSpace(msg), hint)
}

// run performs one op.
func run(h ipt, o Op) error {
	args := splitRule(o.Rule)
	switch o.Kind {
	case OpNewChain:
		return h.NewChain(o.Table, o.Chain)
	case OpDeleteChain:
		return h.DeleteChain(o.Table, o.Chain)
	case OpFlushChain:
		return h.ClearChain(o.Table, o.Chain)
	case OpInsert:
		return h.Insert(o.Table, o.Chain, o.Pos, args...)
	case OpAppend:
		return h.Append(o.Table, o.Chain, args...)
	case OpDelete:
		// By content where possible: a built-in chain may have changed
		// under us (the router's firewall reloading), and deleting any
		// one of two identical rules leaves the same chain.
		if len(args) > 0 {
			return h.Delete(o.Table, o.Chain, args...)
		}
		return h.DeleteById(o.Table, o.Chain, o.Pos)
	}
	return fmt.Errorf("unknown op %q", o.Kind)
}

// execute runs ops in order. When one fails it undoes those done, last
// first, so that the tables are as they were.
func execute(ctx context.Context, se *session, ops []Op) error {
	var done []Op
	for _, o := range ops {
		err := ctx.Err()
		if err == nil {
			if err = run(se.h[o.Family], o); err != nil {
				err = explain(o.Family, o.String(), err)
			}
		}
		if err == nil {
			done = append(done, o)
			continue
		}
		var undoErrs []error
		for i := len(done) - 1; i >= 0; i-- {
			for _, u := range done[i].inverse() {
				if uerr := run(se.h[u.Family], u); uerr != nil {
					undoErrs = append(undoErrs, explain(u.Family, u.String(), uerr))
				}
			}
		}
		if len(undoErrs) > 0 {
			return fmt.Errorf("%w; undoing the %d changes made before failed too, so some of minipot's rules may be left (run `minipot firewall remove`): %w",
				err, len(done), errors.Join(undoErrs...))
		}
		return fmt.Errorf("%w (the %d changes made before were undone)", err, len(done))
	}
	return nil
}

// facts gathers what the rules depend on, with notes for Status.
func (fw *IPTables) facts(ctx context.Context, s settings.Settings) (Facts, []string, error) {
	return gatherFacts(ctx, fw.opts, s)
}

// plan gathers the facts and plans; facts are needed only when some
// service is on.
func (fw *IPTables) plan(ctx context.Context, s settings.Settings) (Plan, Facts, []string, error) {
	anyOn := slices.ContainsFunc(settings.Services(), func(svc settings.Service) bool { return s.ServiceEnabled(svc.Key) })
	var f Facts
	var notes []string
	if anyOn {
		var err error
		if f, notes, err = fw.facts(ctx, s); err != nil {
			return Plan{}, f, notes, err
		}
	}
	p, err := MakePlan(s, f)
	return p, f, notes, err
}

// Apply converges the rules to s and the router's state. It is cheap when
// nothing changed (a few iptables reads), so it can run periodically to
// follow services that start or stop listening.
func (fw *IPTables) Apply(ctx context.Context, s settings.Settings) (Changes, error) {
	fw.mu.Lock()
	defer fw.mu.Unlock()
	unlock, err := fw.lock()
	if err != nil {
		return Changes{}, err
	}
	defer unlock()
	want := fw.opts.Backend
	if want == "" {
		want = s.Firewall.Backend
	}
	p, _, notes, err := fw.plan(ctx, s)
	if err != nil {
		return Changes{Notes: notes}, err
	}
	se, err := fw.begin(ctx, want, !p.Rules[IPv6].Empty())
	if err != nil {
		return Changes{Notes: notes}, err
	}
	ch := Changes{Backend: "iptables-" + se.backend.Name, Services: p.Decisions, Notes: notes}
	var ops []Op
	for _, fam := range families {
		h := se.h[fam]
		if h == nil {
			continue
		}
		var present func(string) bool
		if p.Rules[fam].Empty() {
			present = fw.readOnly(se.backend, fam)
		}
		st, _, err := readState(fam, h, false, present)
		if err != nil {
			if p.Rules[fam].Empty() {
				// Only looking for leftovers, and there can be none in a
				// table that cannot be read.
				ch.Notes = append(ch.Notes, fam.String()+" skipped: "+err.Error())
				continue
			}
			ch.Calls = se.calls
			return ch, err
		}
		ops = append(ops, diff(fam, st, p.Rules[fam], p.marks)...)
	}
	err = execute(ctx, se, ops)
	ch.Calls = se.calls
	if err != nil {
		return ch, err
	}
	ch.Ops = ops
	return ch, nil
}

// Remove deletes minipot's jumps and chains in both families. It goes on
// past a failure, so that as much as possible is removed, and reports
// every failure.
func (fw *IPTables) Remove(ctx context.Context) (Changes, error) {
	fw.mu.Lock()
	defer fw.mu.Unlock()
	unlock, err := fw.lock()
	if err != nil {
		return Changes{}, err
	}
	defer unlock()
	se, err := fw.begin(ctx, fw.opts.Backend, false)
	if err != nil {
		return Changes{}, err
	}
	ch := Changes{Backend: "iptables-" + se.backend.Name}
	var errs []error
	for _, fam := range families {
		h := se.h[fam]
		if h == nil {
			continue
		}
		st, _, err := readState(fam, h, false, fw.readOnly(se.backend, fam))
		if err != nil {
			if fam == IPv6 {
				ch.Notes = append(ch.Notes, "ipv6 skipped: "+err.Error())
			} else {
				errs = append(errs, err)
			}
			continue
		}
		for _, o := range diff(fam, st, Ruleset{}, marks{}) {
			if err := run(h, o); err != nil {
				errs = append(errs, explain(fam, o.String(), err))
				continue
			}
			ch.Ops = append(ch.Ops, o)
		}
	}
	ch.Calls = se.calls
	if se.backend.Name == "nft" && len(ch.Ops) > 0 {
		ch.Notes = append(ch.Notes, fw.dropEmptyTables(ctx, &ch)...)
	}
	return ch, errors.Join(errs...)
}

// dropEmptyTables deletes the nftables tables ip/ip6 nat and filter when
// they hold no rule at all: iptables-nft creates them with minipot's first
// chain and leaves them behind when the last rule goes, so that `nft list
// ruleset` would differ from before minipot. A table with any rule (or
// set) of someone else stays.
func (fw *IPTables) dropEmptyTables(ctx context.Context, ch *Changes) (notes []string) {
	nft, err := fw.opts.lookPath("nft")
	if err != nil {
		return []string{"nft not found: empty iptables-nft tables may be left (nft list ruleset shows them)"}
	}
	for _, fam := range []string{"ip", "ip6"} {
		for _, table := range []string{"nat", "filter"} {
			ch.Calls++
			out, err := exec.CommandContext(ctx, nft, "list", "table", fam, table).Output()
			if err != nil || !emptyNFTTable(string(out)) {
				continue
			}
			ch.Calls++
			if out, err := exec.CommandContext(ctx, nft, "delete", "table", fam, table).CombinedOutput(); err != nil {
				notes = append(notes, fmt.Sprintf("nft delete table %s %s: %v: %s", fam, table, err, strings.TrimSpace(string(out))))
				continue
			}
			ch.Ops = append(ch.Ops, Op{Kind: OpDeleteTable, Table: fam + " " + table, Cmd: "nft delete table " + fam + " " + table})
		}
	}
	return notes
}

// emptyNFTTable says whether nft's listing of a table holds chains and
// nothing else.
func emptyNFTTable(listing string) bool {
	for _, line := range strings.Split(listing, "\n") {
		l := strings.TrimSpace(line)
		switch {
		case l == "", l == "}", strings.HasPrefix(l, "table "), strings.HasPrefix(l, "chain "), strings.HasPrefix(l, "type "), strings.HasPrefix(l, "policy "):
		default:
			return false
		}
	}
	return true
}

// Status reads what is installed and compares it with what s calls for.
func (fw *IPTables) Status(ctx context.Context, s settings.Settings) (Status, error) {
	fw.mu.Lock()
	defer fw.mu.Unlock()
	want := fw.opts.Backend
	if want == "" {
		want = s.Firewall.Backend
	}
	st := Status{Enabled: s.Enabled}
	p, f, notes, planErr := fw.plan(ctx, s)
	st.WANDevices, st.WANSource, st.PolicySource, st.Notes = f.WANDevices, f.WANSource, f.Policy.Source, notes
	st.Services = p.Decisions
	if planErr != nil {
		st.Problem = planErr.Error()
	}
	se, err := fw.begin(ctx, want, false)
	if err != nil {
		return st, err
	}
	st.Backend, st.BackendReason = "iptables-"+se.backend.Name, se.backend.Reason
	for _, c := range se.backend.Commands {
		if c != "" {
			st.Commands = append(st.Commands, c)
		}
	}
	for _, fam := range families {
		h := se.h[fam]
		if h == nil {
			continue
		}
		state, counts, err := readState(fam, h, true, fw.readOnly(se.backend, fam))
		if err != nil {
			if p.Rules[fam].Empty() {
				st.Notes = append(st.Notes, fam.String()+" skipped: "+err.Error())
				continue
			}
			return st, err
		}
		fs := FamilyStatus{Family: fam, Redirected: map[string]uint64{}}
		for _, c := range []chainState{state.Prerouting, state.Input} {
			for _, r := range c.Rules {
				if jumpsToUs(r) {
					fs.Hooks = append(fs.Hooks, r)
				}
			}
		}
		fs.Installed = state.NAT.Exists && state.Filter.Exists && len(fs.Hooks) >= 2
		for i, r := range state.NAT.Rules {
			if port, ok := ruleDport(r, "REDIRECT"); ok {
				for _, svc := range settings.Services() {
					if svc.Port == port {
						fs.Redirected[svc.Key] += counts[ChainNAT][i]
					}
				}
			}
		}
		for i, r := range state.Filter.Rules {
			if _, ok := ruleDport(r, "REJECT"); ok {
				fs.Refused += counts[ChainFilter][i]
			}
		}
		st.Families = append(st.Families, fs)
		if planErr == nil {
			st.Pending = append(st.Pending, diff(fam, state, p.Rules[fam], p.marks)...)
		}
	}
	st.InSync = planErr == nil && len(st.Pending) == 0
	return st, nil
}

// ruleDport returns the --dport of a rule with the given target.
func ruleDport(rule, target string) (int, bool) {
	f := strings.Fields(rule)
	port, tgt := -1, ""
	for i := 0; i+1 < len(f); i++ {
		switch f[i] {
		case "--dport":
			port, _ = strconv.Atoi(f[i+1])
		case "-j":
			tgt = f[i+1]
		}
	}
	return port, port >= 0 && tgt == target
}

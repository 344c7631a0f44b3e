package firewall

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/minipot/minipot/internal/atomicfile"
	"github.com/minipot/minipot/internal/settings"
)

// The nftables backend owns one table, inet minipot, and replaces it as a
// whole in one `nft -f` transaction, so that an apply is atomic and a
// remove is deleting the table. Its layout (docs/firewall.md says why):
//
//	table inet minipot {
//		comment "minipot DIGEST"            what was rendered: in sync when equal
//		chain dstnat {
//			type nat hook prerouting priority dstnat + 10; policy accept;
//			meta l4proto != tcp return
//			iifname != WAN return
//			fib daddr type != local return           routed traffic
//			[meta nfproto != ipv4 return]           IPv6 off
//			<fam> tcp dport P [saddr S] [daddr D] socket transparent { 0, 1 } return   real service (accepted by the router's firewall)
//			<fam> tcp dport P ct mark set ct mark | R counter redirect to :P+offset comment "KEY FAM"
//		}
//		chain input {
//			type filter hook input priority filter - 1; policy accept;
//			meta l4proto != tcp return
//			iifname != WAN return
//			ct status dnat ct mark & R == R return   redirected by minipot
//			<fam> tcp dport { fake ports } counter reject with tcp reset comment "direct FAM"
//		}
//	}
//
// and, in fw4's own table, at the top of chain input_ZONE (fw4 puts it
// back on every reload from the file Options.FW4Include, which the package
// links into /usr/share/nftables.d/chain-pre/input_wan/):
//
//	ct status dnat ct mark & R == R accept comment "minipot: redirected to a fake service"
//
// A nat chain runs only until one of the hook's nat chains has set up the
// connection's translation: fw4's port forwards (dstnat, priority -100)
// come first and win. The socket lookup follows listeners at once, with no
// apply: a service that starts listening takes its port on the next
// connection.

const (
	nftTable         = "minipot"
	fw4AcceptComment = "minipot: redirected to a fake service"
)

// NFTables is the Firewall on nftables, through the nft command.
type NFTables struct {
	opts Options
	mu   sync.Mutex
}

// NewNFTables makes the Firewall on nftables alone (New chooses between it
// and iptables).
func NewNFTables(opts Options) *NFTables { return &NFTables{opts: opts.withDefaults()} }

var _ Firewall = (*NFTables)(nil)

// nftPlan is the wanted state of the nftables backend.
type nftPlan struct {
	table     string // the whole table as nft -f takes it; "" for none
	digest    string
	fw4Rule   string // the rule in fw4's input chain, as nft prints it; "" for none
	fw4Chain  string
	decisions []Decision
}

// nftFamily is how nft names a family in a match.
func (f Family) nft() string { return f.String() }

func (f Family) addrKeyword() string {
	if f == IPv6 {
		return "ip6"
	}
	return "ip"
}

// nftDevice writes a device name as nft matches it: iptables' "wg+"
// wildcard is nft's "wg*".
func nftDevice(d string) string {
	if strings.HasSuffix(d, "+") {
		d = strings.TrimSuffix(d, "+") + "*"
	}
	return strconv.Quote(d)
}

func nftDevices(devs []string) string {
	if len(devs) == 1 {
		return nftDevice(devs[0])
	}
	q := make([]string, len(devs))
	for i, d := range devs {
		q[i] = nftDevice(d)
	}
	return "{ " + strings.Join(q, ", ") + " }"
}

// makeNFTPlan renders the table for the settings and facts. Its rules
// depend on the policy and the WAN devices, not on the listeners: the
// kernel's socket lookup decides at each new connection.
func makeNFTPlan(s settings.Settings, f Facts) (nftPlan, error) {
	p, err := MakePlan(s, f)
	np := nftPlan{decisions: p.Decisions, fw4Chain: "input_" + s.Firewall.WANZone}
	if err != nil || len(p.Rules) == 0 {
		return np, err
	}
	m := p.marks
	fams := []Family{IPv4}
	if s.Firewall.IPv6 {
		fams = append(fams, IPv6)
	}
	var enabled []settings.Service
	for _, svc := range settings.Services() {
		if s.ServiceEnabled(svc.Key) {
			enabled = append(enabled, svc)
		}
	}
	var b strings.Builder
	w := func(format string, a ...any) { fmt.Fprintf(&b, "\t\t"+format+"\n", a...) }
	b.WriteString("\tchain dstnat {\n")
	w("type nat hook prerouting priority dstnat + 10; policy accept;")
	w("meta l4proto != tcp return")
	w("iifname != %s return", nftDevices(f.WANDevices))
	w("fib daddr type != local return")
	if !s.Firewall.IPv6 {
		w("meta nfproto != ipv4 return")
	}
	for _, fam := range fams {
		for _, svc := range enabled {
			pairs, _ := acceptPairs(fam, svc.Port, f.Policy, true, nil)
			if slices.Contains(pairs, Exception{}) || len(pairs) > maxExceptions {
				pairs = []Exception{{}}
			}
			for _, e := range pairs {
				match := ""
				if e.Src != "" {
					match += " " + fam.addrKeyword() + " saddr " + e.Src
				}
				if e.Dst != "" {
					match += " " + fam.addrKeyword() + " daddr " + e.Dst
				}
				w("meta nfproto %s tcp dport %d%s socket transparent { 0, 1 } return comment %q", fam.nft(), svc.Port, match, svc.Key+" "+fam.String()+" real service")
			}
			w("meta nfproto %s tcp dport %d ct mark set ct mark | 0x%08x counter redirect to :%d comment %q",
				fam.nft(), svc.Port, m.redir, s.FakePort(svc), svc.Key+" "+fam.String())
		}
	}
	b.WriteString("\t}\n\n\tchain input {\n")
	w("type filter hook input priority filter - 1; policy accept;")
	w("meta l4proto != tcp return")
	w("iifname != %s return", nftDevices(f.WANDevices))
	w("ct status dnat ct mark & 0x%08x == 0x%08x return", m.redir, m.redir)
	fakes := make([]string, len(enabled))
	for i, svc := range enabled {
		fakes[i] = strconv.Itoa(s.FakePort(svc))
	}
	for _, fam := range fams {
		w("meta nfproto %s tcp dport { %s } counter reject with tcp reset comment %q", fam.nft(), strings.Join(fakes, ", "), "direct "+fam.String())
	}
	b.WriteString("\t}\n")
	sum := sha256.Sum256([]byte(b.String()))
	np.digest = hex.EncodeToString(sum[:8])
	np.table = fmt.Sprintf("table inet %s {\n\tcomment \"minipot %s\"\n%s}\n", nftTable, np.digest, b.String())
	np.fw4Rule = fmt.Sprintf("ct status dnat ct mark & 0x%08x == 0x%08x accept comment %q", m.redir, m.redir, fw4AcceptComment)
	return np, nil
}

// nftState is what nft lists of minipot's table and fw4's input chain.
type nftState struct {
	table      bool
	digest     string
	redirected map[Family]map[string]uint64 // counter of each redirect rule
	refused    map[Family]uint64
	fw4Chain   bool     // fw4's input chain of the WAN zone exists
	fw4Rules   []string // minipot's rules in it, as nft prints them
	fw4Handles []int
}

var (
	nftDigest  = regexp.MustCompile(`(?m)^\s*comment "minipot ([0-9a-f]+)"$`)
	nftCounter = regexp.MustCompile(`counter packets (\d+) bytes \d+ .*comment "([^"]+)"`)
	nftHandle  = regexp.MustCompile(`^\s*(.*?) # handle (\d+)$`)
)

// nftRun runs nft with args and stdin; notFound is true when nft says the
// object does not exist.
func (n *NFTables) nftRun(ctx context.Context, calls *int, stdin string, args ...string) (out string, notFound bool, err error) {
	cmd := n.opts.NFT
	if cmd == "" {
		p, err := n.opts.lookPath("nft")
		if err != nil {
			return "", false, errors.New("nft not found: install nftables (OpenWrt: nftables-json or nftables-nojson), or choose an iptables backend")
		}
		cmd = p
	}
	*calls++
	c := exec.CommandContext(ctx, cmd, args...)
	if stdin != "" {
		c.Stdin = strings.NewReader(stdin)
	}
	stdout, stderr := &capped{max: maxNFTOutput}, &capped{max: 64 << 10}
	c.Stdout, c.Stderr = stdout, stderr
	err = c.Run()
	if err != nil {
		msg := strings.TrimSpace(stderr.String())
		if strings.Contains(msg, "No such file or directory") {
			return stdout.String(), true, err
		}
		return stdout.String(), false, fmt.Errorf("nft %s: %w: %s", strings.Join(args, " "), err, msg)
	}
	return stdout.String(), false, nil
}

// maxNFTOutput bounds what is read of one nft listing: minipot's table
// and one fw4 chain are a few KiB.
const maxNFTOutput = 4 << 20

// capped keeps the first max bytes written to it and drops the rest.
type capped struct {
	bytes.Buffer
	max int
}

func (c *capped) Write(p []byte) (int, error) {
	if room := c.max - c.Len(); room > 0 {
		c.Buffer.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

// read lists minipot's table and fw4's input chain of the WAN zone.
func (n *NFTables) read(ctx context.Context, calls *int, fw4Chain string) (nftState, error) {
	st := nftState{redirected: map[Family]map[string]uint64{}, refused: map[Family]uint64{}}
	out, missing, err := n.nftRun(ctx, calls, "", "list", "table", "inet", nftTable)
	switch {
	case missing:
	case err != nil:
		return st, err
	default:
		st.table = true
		st.digest, st.redirected, st.refused = parseNFTTable(out)
	}
	out, missing, err = n.nftRun(ctx, calls, "", "-a", "list", "chain", "inet", "fw4", fw4Chain)
	switch {
	case missing:
	case err != nil:
		return st, err
	default:
		st.fw4Chain = true
		st.fw4Rules, st.fw4Handles = parseFW4Chain(out)
	}
	return st, nil
}

// parseNFTTable reads `nft list table inet minipot`: the digest in the
// table's comment, and the counters of the redirect and refuse rules by
// their comments ("23tcp ipv4", "direct ipv6").
func parseNFTTable(out string) (digest string, redirected map[Family]map[string]uint64, refused map[Family]uint64) {
	redirected, refused = map[Family]map[string]uint64{}, map[Family]uint64{}
	if m := nftDigest.FindStringSubmatch(out); m != nil {
		digest = m[1]
	}
	for _, m := range nftCounter.FindAllStringSubmatch(out, -1) {
		v, err := strconv.ParseUint(m[1], 10, 64)
		if err != nil {
			continue
		}
		what, fs, _ := strings.Cut(m[2], " ")
		var fam Family
		if fam.UnmarshalText([]byte(fs)) != nil {
			continue
		}
		if what == "direct" {
			refused[fam] += v
			continue
		}
		if redirected[fam] == nil {
			redirected[fam] = map[string]uint64{}
		}
		redirected[fam][what] += v
	}
	return digest, redirected, refused
}

// parseFW4Chain reads `nft -a list chain inet fw4 CHAIN`: minipot's rules
// in it (by their comment), as nft prints them, and their handles.
func parseFW4Chain(out string) (rules []string, handles []int) {
	for _, line := range strings.Split(out, "\n") {
		m := nftHandle.FindStringSubmatch(line)
		if m == nil || !strings.Contains(m[1], `comment "`+fw4AcceptComment+`"`) {
			continue
		}
		h, err := strconv.Atoi(m[2])
		if err != nil || h <= 0 {
			continue
		}
		rules, handles = append(rules, m[1]), append(handles, h)
	}
	return rules, handles
}

// nftOps is the transaction that turns st into p: its script and the ops
// it holds, for Changes and Status.
func nftOps(st nftState, p nftPlan) (script string, ops []Op) {
	var b strings.Builder
	add := func(kind OpKind, table, chain, cmd string) {
		ops = append(ops, Op{Kind: kind, Table: table, Chain: chain, Cmd: cmd})
	}
	switch {
	case p.table != "" && (!st.table || st.digest != p.digest):
		// Creating the table first makes the delete valid when it is
		// absent: the whole replacement is one transaction.
		b.WriteString("table inet " + nftTable + " {}\ndelete table inet " + nftTable + "\n" + p.table)
		add(OpReplaceTable, "inet "+nftTable, "", "nft -f: table inet "+nftTable+" (comment \"minipot "+p.digest+"\")")
	case p.table == "" && st.table:
		b.WriteString("delete table inet " + nftTable + "\n")
		add(OpDeleteTable, "inet "+nftTable, "", "nft delete table inet "+nftTable)
	}
	keep := p.table != "" && st.fw4Chain && len(st.fw4Rules) == 1 && st.fw4Rules[0] == p.fw4Rule
	if !keep {
		for _, h := range st.fw4Handles {
			cmd := fmt.Sprintf("delete rule inet fw4 %s handle %d", p.fw4Chain, h)
			b.WriteString(cmd + "\n")
			add(OpDelete, "inet fw4", p.fw4Chain, "nft "+cmd)
		}
		if p.table != "" && st.fw4Chain {
			cmd := fmt.Sprintf("insert rule inet fw4 %s %s", p.fw4Chain, p.fw4Rule)
			b.WriteString(cmd + "\n")
			add(OpInsert, "inet fw4", p.fw4Chain, "nft "+cmd)
		}
	}
	return b.String(), ops
}

// includeWanted is the content of Options.FW4Include: fw4 includes it at
// the top of input_wan whenever it renders its table.
func includeWanted(p nftPlan) string {
	if p.table == "" {
		return ""
	}
	return "# minipot: written by `minipot firewall apply`, included by fw4 through\n" +
		"# /usr/share/nftables.d/chain-pre/input_wan/30-minipot.nft\n" + p.fw4Rule + "\n"
}

// fw4Installed says whether firewall4 is installed: only then is the
// include file written (on other routers nothing would read it).
func (n *NFTables) fw4Installed() bool {
	_, err := os.Stat(n.opts.FW4Main)
	return err == nil
}

// syncInclude writes or removes the include file; changed says whether it
// did anything.
func (n *NFTables) syncInclude(p nftPlan) (changed bool, err error) {
	want := includeWanted(p)
	if !n.fw4Installed() {
		want = ""
	}
	have, rerr := os.ReadFile(n.opts.FW4Include)
	if want == "" {
		if rerr != nil {
			return false, nil
		}
		if err := os.Remove(n.opts.FW4Include); err != nil {
			return false, fmt.Errorf("remove %s: %w", n.opts.FW4Include, err)
		}
		return true, nil
	}
	if rerr == nil && string(have) == want {
		return false, nil
	}
	if err := atomicfile.Write(n.opts.FW4Include, []byte(want), 0o644); err != nil {
		return false, fmt.Errorf("write the fw4 include: %w", err)
	}
	return true, nil
}

func (n *NFTables) plan(ctx context.Context, s settings.Settings) (nftPlan, Facts, []string, error) {
	anyOn := slices.ContainsFunc(settings.Services(), func(svc settings.Service) bool { return s.ServiceEnabled(svc.Key) })
	var f Facts
	var notes []string
	if anyOn {
		var err error
		if f, notes, err = gatherFacts(ctx, n.opts, s); err != nil {
			return nftPlan{fw4Chain: "input_" + s.Firewall.WANZone}, f, notes, err
		}
	}
	p, err := makeNFTPlan(s, f)
	return p, f, notes, err
}

// Apply replaces minipot's table when it differs from what s calls for,
// in one transaction with minipot's rule in fw4's input chain.
func (n *NFTables) Apply(ctx context.Context, s settings.Settings) (Changes, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	unlock, err := lockFile(n.opts.LockFile)
	if err != nil {
		return Changes{}, err
	}
	defer unlock()
	ch := Changes{Backend: BackendNFTables}
	p, _, notes, err := n.plan(ctx, s)
	ch.Notes, ch.Services = notes, p.decisions
	if err != nil {
		return ch, err
	}
	st, err := n.read(ctx, &ch.Calls, p.fw4Chain)
	if err != nil {
		return ch, err
	}
	if p.table != "" && !st.fw4Chain {
		ch.Notes = append(ch.Notes, fmt.Sprintf("fw4's chain %s is not loaded: the router's own firewall must accept connections with ct status dnat and ct mark & 0x%x", p.fw4Chain, marksMust(s).redir))
	}
	script, ops := nftOps(st, p)
	// The include first: a fw4 reload between the two then renders the
	// rule the table needs. It is put back as it was when nft fails.
	old, oldErr := os.ReadFile(n.opts.FW4Include)
	changed, err := n.syncInclude(p)
	if err != nil {
		return ch, err
	}
	if changed {
		ch.Ops = append(ch.Ops, Op{Kind: OpWriteFile, Table: n.opts.FW4Include, Cmd: "write " + n.opts.FW4Include})
	}
	if script != "" {
		if _, _, err := n.nftRun(ctx, &ch.Calls, script, "-f", "-"); err != nil {
			if changed && oldErr == nil {
				atomicfile.Write(n.opts.FW4Include, old, 0o644)
			} else if changed {
				os.Remove(n.opts.FW4Include)
			}
			ch.Ops = nil
			return ch, fmt.Errorf("%w (nothing was changed: nft applies a file as one transaction; a missing kernel module is the usual cause: minipot needs nat, fib, conntrack and socket, on OpenWrt kmod-nft-nat, kmod-nft-fib and kmod-nft-socket)", err)
		}
	}
	ch.Ops = append(ch.Ops, ops...)
	return ch, nil
}

// marksMust is the marks of s; MakePlan has checked the mask already.
func marksMust(s settings.Settings) marks {
	m, _ := marksOf(s.MarkMask)
	return m
}

// Remove deletes minipot's table, its rule in fw4's input chain and the
// include file.
func (n *NFTables) Remove(ctx context.Context) (Changes, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	unlock, err := lockFile(n.opts.LockFile)
	if err != nil {
		return Changes{}, err
	}
	defer unlock()
	ch := Changes{Backend: BackendNFTables}
	var errs []error
	// Whatever zone the settings name: every input chain of fw4 may hold a
	// rule minipot inserted.
	chains := []string{"input_wan"}
	if s, err := settings.Load(n.opts.Config); err == nil && s.Firewall.WANZone != "wan" {
		chains = append(chains, "input_"+s.Firewall.WANZone)
	}
	for i, chain := range chains {
		st, err := n.read(ctx, &ch.Calls, chain)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if i > 0 {
			st.table = false
		}
		script, ops := nftOps(st, nftPlan{fw4Chain: chain})
		if script == "" {
			continue
		}
		if _, _, err := n.nftRun(ctx, &ch.Calls, script, "-f", "-"); err != nil {
			errs = append(errs, err)
			continue
		}
		ch.Ops = append(ch.Ops, ops...)
	}
	if changed, err := n.syncInclude(nftPlan{}); err != nil {
		errs = append(errs, err)
	} else if changed {
		ch.Ops = append(ch.Ops, Op{Kind: OpRemoveFile, Table: n.opts.FW4Include, Cmd: "rm " + n.opts.FW4Include})
	}
	return ch, errors.Join(errs...)
}

// Status reads minipot's table and fw4's chain and compares them with what
// s calls for.
func (n *NFTables) Status(ctx context.Context, s settings.Settings) (Status, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	st := Status{Enabled: s.Enabled, Backend: BackendNFTables}
	p, f, notes, planErr := n.plan(ctx, s)
	st.WANDevices, st.WANSource, st.PolicySource, st.Notes = f.WANDevices, f.WANSource, f.Policy.Source, notes
	st.Services = p.decisions
	if planErr != nil {
		st.Problem = planErr.Error()
	}
	calls := 0
	ns, err := n.read(ctx, &calls, p.fw4Chain)
	if err != nil {
		return st, err
	}
	if n.opts.NFT != "" {
		st.Commands = []string{n.opts.NFT}
	} else if path, err := n.opts.lookPath("nft"); err == nil {
		st.Commands = []string{path}
	}
	for _, fam := range families {
		if fam == IPv6 && !s.Firewall.IPv6 {
			continue
		}
		fs := FamilyStatus{Family: fam, Redirected: map[string]uint64{}, Refused: ns.refused[fam]}
		if ns.table {
			fs.Hooks = append(fs.Hooks, "table inet "+nftTable)
		}
		for _, r := range ns.fw4Rules {
			fs.Hooks = append(fs.Hooks, "inet fw4 "+p.fw4Chain+": "+r)
		}
		fs.Installed = ns.table && ns.digest != "" && (!ns.fw4Chain || len(ns.fw4Rules) > 0)
		for k, v := range ns.redirected[fam] {
			fs.Redirected[k] = v
		}
		st.Families = append(st.Families, fs)
	}
	if planErr == nil {
		_, st.Pending = nftOps(ns, p)
		if have, _ := os.ReadFile(n.opts.FW4Include); n.fw4Installed() && string(have) != includeWanted(p) {
			st.Pending = append(st.Pending, Op{Kind: OpWriteFile, Table: n.opts.FW4Include, Cmd: "write " + n.opts.FW4Include})
		}
		if p.table != "" && !ns.fw4Chain {
			st.Notes = append(st.Notes, fmt.Sprintf("fw4's chain %s is not loaded: unless the router's own firewall accepts them, redirected connections are rejected", p.fw4Chain))
		}
	}
	st.InSync = planErr == nil && len(st.Pending) == 0
	return st, nil
}

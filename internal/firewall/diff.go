package firewall

import (
	"regexp"
	"strconv"
	"strings"
)

// chainState is one chain as read: whether it exists, and its rules in the
// form iptables -S prints them, without "-A CHAIN".
type chainState struct {
	Exists bool
	Rules  []string
}

// State is what minipot's rules depend on in one family's tables.
type State struct {
	Prerouting chainState // nat PREROUTING (built in)
	Input      chainState // filter INPUT (built in)
	NAT        chainState // nat MINIPOT_PREROUTING
	Filter     chainState // filter MINIPOT_INPUT
}

// jumpsToUs reports whether a rule of a built-in chain jumps into one of
// minipot's chains.
func jumpsToUs(rule string) bool {
	f := strings.Fields(rule)
	for i := 0; i+1 < len(f); i++ {
		if (f[i] == "-j" || f[i] == "-g") && (f[i+1] == ChainNAT || f[i+1] == ChainFilter) {
			return true
		}
	}
	return false
}

// diff returns the operations that turn the present state of family fam
// into want, in an order that never leaves a jump to a missing chain and
// never redirects to a fake before its connections are accepted. An empty
// want removes everything minipot added, and nothing else.
func diff(fam Family, st State, want Ruleset, m marks) []Op {
	var ops []Op
	if want.Empty() {
		ops = append(ops, dropHooks(fam, "nat", "PREROUTING", st.Prerouting.Rules)...)
		ops = append(ops, dropHooks(fam, "filter", "INPUT", st.Input.Rules)...)
		ops = append(ops, dropChain(fam, "nat", ChainNAT, st.NAT)...)
		ops = append(ops, dropChain(fam, "filter", ChainFilter, st.Filter)...)
		return ops
	}
	if !st.Filter.Exists {
		ops = append(ops, Op{Family: fam, Kind: OpNewChain, Table: "filter", Chain: ChainFilter})
	}
	if !st.NAT.Exists {
		ops = append(ops, Op{Family: fam, Kind: OpNewChain, Table: "nat", Chain: ChainNAT})
	}
	ops = append(ops, chainDiff(fam, "filter", ChainFilter, st.Filter.Rules, want.Filter)...)
	ops = append(ops, chainDiff(fam, "nat", ChainNAT, st.NAT.Rules, want.NAT)...)
	ops = append(ops, hookFirst(fam, "filter", "INPUT", st.Input.Rules, m.filterHook())...)
	ops = append(ops, hookLast(fam, "nat", "PREROUTING", st.Prerouting.Rules, m.natHook())...)
	return ops
}

// dropHooks deletes every jump into minipot's chains, last first so that
// the positions of the others stay right.
func dropHooks(fam Family, table, chain string, rules []string) []Op {
	var ops []Op
	for i := len(rules) - 1; i >= 0; i-- {
		if jumpsToUs(rules[i]) {
			ops = append(ops, Op{Family: fam, Kind: OpDelete, Table: table, Chain: chain, Pos: i + 1, Rule: rules[i]})
		}
	}
	return ops
}

func dropChain(fam Family, table, chain string, st chainState) []Op {
	if !st.Exists {
		return nil
	}
	var ops []Op
	if len(st.Rules) > 0 {
		ops = append(ops, Op{Family: fam, Kind: OpFlushChain, Table: table, Chain: chain, Flushed: st.Rules})
	}
	return append(ops, Op{Family: fam, Kind: OpDeleteChain, Table: table, Chain: chain})
}

// hookFirst keeps one exact jump wherever it is (the router's firewall
// appends its own rules after it on reload, and rules another program put
// in front on purpose stay there), and inserts it first when missing.
func hookFirst(fam Family, table, chain string, rules []string, hook string) []Op {
	keep := -1
	for i, r := range rules {
		if r == hook {
			keep = i
			break
		}
	}
	var ops []Op
	for i := len(rules) - 1; i >= 0; i-- {
		if i != keep && jumpsToUs(rules[i]) {
			ops = append(ops, Op{Family: fam, Kind: OpDelete, Table: table, Chain: chain, Pos: i + 1, Rule: rules[i]})
		}
	}
	if keep < 0 {
		ops = append(ops, Op{Family: fam, Kind: OpInsert, Table: table, Chain: chain, Pos: 1, Rule: hook})
	}
	return ops
}

// hookLast makes the jump the chain's last rule: in nat PREROUTING every
// port forward (DNAT) before it ends the traversal, so minipot only sees
// what no forward took. A reload of the router's firewall appends its rules
// after the jump, so the next Apply moves it back to the end.
func hookLast(fam Family, table, chain string, rules []string, hook string) []Op {
	var ours []int
	for i, r := range rules {
		if jumpsToUs(r) {
			ours = append(ours, i)
		}
	}
	if len(ours) == 1 && ours[0] == len(rules)-1 && rules[ours[0]] == hook {
		return nil
	}
	var ops []Op
	for k := len(ours) - 1; k >= 0; k-- {
		i := ours[k]
		ops = append(ops, Op{Family: fam, Kind: OpDelete, Table: table, Chain: chain, Pos: i + 1, Rule: rules[i]})
	}
	return append(ops, Op{Family: fam, Kind: OpAppend, Table: table, Chain: chain, Pos: len(rules) - len(ours) + 1, Rule: hook})
}

// chainDiff turns the rules of one of minipot's chains from have into want
// with the fewest deletions and insertions: the rules of their longest
// common subsequence stay, so toggling one service touches only its rules.
func chainDiff(fam Family, table, chain string, have, want []string) []Op {
	keepH, keepW := lcs(have, want)
	var ops []Op
	n := len(have)
	for i := len(have) - 1; i >= 0; i-- {
		if !keepH[i] {
			ops = append(ops, Op{Family: fam, Kind: OpDelete, Table: table, Chain: chain, Pos: i + 1, Rule: have[i]})
			n--
		}
	}
	for j, r := range want {
		if keepW[j] {
			continue
		}
		kind := OpInsert
		if j == n {
			kind = OpAppend
		}
		ops = append(ops, Op{Family: fam, Kind: kind, Table: table, Chain: chain, Pos: j + 1, Rule: r})
		n++
	}
	return ops
}

// lcs marks the elements of a and b that belong to one longest common
// subsequence.
func lcs(a, b []string) (inA, inB []bool) {
	// l[i][j] is the LCS length of a[i:] and b[j:].
	l := make([][]int, len(a)+1)
	for i := range l {
		l[i] = make([]int, len(b)+1)
	}
	for i := len(a) - 1; i >= 0; i-- {
		for j := len(b) - 1; j >= 0; j-- {
			if a[i] == b[j] {
				l[i][j] = l[i+1][j+1] + 1
			} else {
				l[i][j] = max(l[i+1][j], l[i][j+1])
			}
		}
	}
	inA, inB = make([]bool, len(a)), make([]bool, len(b))
	for i, j := 0, 0; i < len(a) && j < len(b); {
		switch {
		case a[i] == b[j]:
			inA[i], inB[j] = true, true
			i++
			j++
		case l[i+1][j] >= l[i][j+1]:
			i++
		default:
			j++
		}
	}
	return inA, inB
}

// parseList reads the output of iptables -S CHAIN (with or without -v):
// the chain's rules without "-A CHAIN", and each rule's packet counter.
// Comment lines (iptables-nft's warning about legacy tables) are skipped.
func parseList(chain string, lines []string) (rules []string, packets []uint64) {
	prefix := "-A " + chain
	for _, line := range lines {
		line = strings.TrimSpace(line)
		if line != prefix && !strings.HasPrefix(line, prefix+" ") {
			continue
		}
		rule := strings.TrimSpace(line[len(prefix):])
		var n uint64
		if m := counters.FindStringSubmatchIndex(rule); m != nil {
			n, _ = strconv.ParseUint(rule[m[2]:m[3]], 10, 64)
			rule = strings.TrimSpace(rule[:m[0]] + " " + rule[m[1]:])
			rule = strings.Join(strings.Fields(rule), " ")
		}
		rules = append(rules, rule)
		packets = append(packets, n)
	}
	return rules, packets
}

// counters is how iptables -v -S shows a rule's packet and byte counts.
var counters = regexp.MustCompile(`(?:^| )-c (\d+) \d+(?: |$)`)

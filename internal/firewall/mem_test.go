package firewall

import (
	"fmt"
	"slices"
	"sort"
	"strings"
)

// memIPT is an in-memory iptables of one family with the semantics the
// package relies on (rule numbers, -C/-D by content, chains that cannot be
// deleted while referenced or not empty). failAt makes the n-th change
// fail, to test rollback.
type memIPT struct {
	tables  map[string]map[string][]string // table → chain → rules
	builtin map[string]bool                // "table chain"
	changes int
	failAt  int
	failOn  string // fail a change whose rule contains this
}

type memError struct {
	status int
	msg    string
}

func (e *memError) Error() string   { return e.msg }
func (e *memError) ExitStatus() int { return e.status }

func newMem() *memIPT {
	m := &memIPT{tables: map[string]map[string][]string{}, builtin: map[string]bool{}}
	for table, chains := range map[string][]string{
		"filter": {"INPUT", "FORWARD", "OUTPUT"},
		"nat":    {"PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"},
	} {
		m.tables[table] = map[string][]string{}
		for _, c := range chains {
			m.tables[table][c] = nil
			m.builtin[table+" "+c] = true
		}
	}
	return m
}

func (m *memIPT) clone() *memIPT {
	c := &memIPT{tables: map[string]map[string][]string{}, builtin: m.builtin}
	for t, chains := range m.tables {
		c.tables[t] = map[string][]string{}
		for ch, rules := range chains {
			c.tables[t][ch] = slices.Clone(rules)
		}
	}
	return c
}

// dump is the whole content, like iptables-save without counters.
func (m *memIPT) dump() string {
	var b strings.Builder
	tables := make([]string, 0, len(m.tables))
	for t := range m.tables {
		tables = append(tables, t)
	}
	sort.Strings(tables)
	for _, t := range tables {
		chains := make([]string, 0)
		for c := range m.tables[t] {
			chains = append(chains, c)
		}
		sort.Strings(chains)
		fmt.Fprintf(&b, "*%s\n", t)
		for _, c := range chains {
			fmt.Fprintf(&b, ":%s\n", c)
			for _, r := range m.tables[t][c] {
				fmt.Fprintf(&b, "-A %s %s\n", c, r)
			}
		}
	}
	return b.String()
}

func (m *memIPT) change(rule string) error {
	m.changes++
	if m.failAt > 0 && m.changes == m.failAt || m.failOn != "" && strings.Contains(rule, m.failOn) {
		return &memError{2, "injected failure: Couldn't load target"}
	}
	return nil
}

func (m *memIPT) chain(table, chain string) ([]string, error) {
	rules, ok := m.tables[table][chain]
	if !ok {
		return nil, &memError{1, "iptables: No chain/target/match by that name."}
	}
	return rules, nil
}

func (m *memIPT) List(table, chain string) ([]string, error) {
	rules, err := m.chain(table, chain)
	if err != nil {
		return nil, err
	}
	out := []string{"-N " + chain}
	if m.builtin[table+" "+chain] {
		out[0] = "-P " + chain + " ACCEPT"
	}
	for _, r := range rules {
		out = append(out, strings.TrimSpace("-A "+chain+" "+r))
	}
	return out, nil
}

func (m *memIPT) ListWithCounters(table, chain string) ([]string, error) {
	out, err := m.List(table, chain)
	for i := range out {
		if strings.HasPrefix(out[i], "-A ") {
			out[i] = strings.Replace(out[i], " -j ", " -c 7 420 -j ", 1)
		}
	}
	return out, err
}

func (m *memIPT) NewChain(table, chain string) error {
	if _, ok := m.tables[table][chain]; ok {
		return &memError{1, "iptables: Chain already exists."}
	}
	if err := m.change("-N " + chain); err != nil {
		return err
	}
	m.tables[table][chain] = []string{}
	return nil
}

func (m *memIPT) DeleteChain(table, chain string) error {
	rules, err := m.chain(table, chain)
	if err != nil {
		return err
	}
	if len(rules) > 0 || m.builtin[table+" "+chain] {
		return &memError{1, "iptables: Directory not empty."}
	}
	for _, rs := range m.tables[table] {
		for _, r := range rs {
			if slices.Contains(strings.Fields(r), chain) {
				return &memError{1, "iptables: Too many links."}
			}
		}
	}
	if err := m.change("-X " + chain); err != nil {
		return err
	}
	delete(m.tables[table], chain)
	return nil
}

func (m *memIPT) ClearChain(table, chain string) error {
	if _, ok := m.tables[table][chain]; !ok {
		return m.NewChain(table, chain)
	}
	if err := m.change("-F " + chain); err != nil {
		return err
	}
	m.tables[table][chain] = []string{}
	return nil
}

func (m *memIPT) target(table, rule string) error {
	f := strings.Fields(rule)
	for i := 0; i+1 < len(f); i++ {
		if f[i] == "-j" && strings.HasPrefix(f[i+1], "MINIPOT") {
			if _, ok := m.tables[table][f[i+1]]; !ok {
				return &memError{2, "iptables: No chain/target/match by that name."}
			}
		}
	}
	return nil
}

func (m *memIPT) Insert(table, chain string, pos int, spec ...string) error {
	rules, err := m.chain(table, chain)
	if err != nil {
		return err
	}
	rule := strings.Join(spec, " ")
	if pos < 1 || pos > len(rules)+1 {
		return &memError{1, "iptables: Index of insertion too big."}
	}
	if err := m.target(table, rule); err != nil {
		return err
	}
	if err := m.change(rule); err != nil {
		return err
	}
	m.tables[table][chain] = slices.Insert(rules, pos-1, rule)
	return nil
}

func (m *memIPT) Append(table, chain string, spec ...string) error {
	rules, err := m.chain(table, chain)
	if err != nil {
		return err
	}
	return m.Insert(table, chain, len(rules)+1, spec...)
}

func (m *memIPT) Delete(table, chain string, spec ...string) error {
	rules, err := m.chain(table, chain)
	if err != nil {
		return err
	}
	i := slices.Index(rules, strings.Join(spec, " "))
	if i < 0 {
		return &memError{1, "iptables: Bad rule (does a matching rule exist in that chain?)."}
	}
	return m.DeleteById(table, chain, i+1)
}

func (m *memIPT) DeleteById(table, chain string, id int) error {
	rules, err := m.chain(table, chain)
	if err != nil {
		return err
	}
	if id < 1 || id > len(rules) {
		return &memError{1, "iptables: Index of deletion too big."}
	}
	if err := m.change(rules[id-1]); err != nil {
		return err
	}
	m.tables[table][chain] = slices.Delete(rules, id-1, id)
	return nil
}

package firewall

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/minipot/minipot/internal/settings"
)

// applyToMem runs ops on m as execute would, without rollback.
func applyToMem(t *testing.T, m *memIPT, ops []Op) {
	t.Helper()
	for _, o := range ops {
		if err := run(m, o); err != nil {
			t.Fatalf("%s: %v", o, err)
		}
	}
}

func stateOf(t *testing.T, m *memIPT) State {
	t.Helper()
	st, _, err := readState(IPv4, m, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func TestChainDiff(t *testing.T) {
	cases := []struct {
		name       string
		have, want []string
		ops        int
	}{
		{"empty to three", nil, []string{"a", "b", "c"}, 3},
		{"same", []string{"a", "b"}, []string{"a", "b"}, 0},
		{"drop middle pair", []string{"w", "r", "a1", "a2", "b1", "b2"}, []string{"w", "r", "b1", "b2"}, 2},
		{"add middle pair", []string{"w", "r", "b1", "b2"}, []string{"w", "r", "a1", "a2", "b1", "b2"}, 2},
		{"replace one", []string{"a", "b", "c"}, []string{"a", "x", "c"}, 2},
		{"duplicates removed", []string{"a", "a", "b", "b"}, []string{"a", "b"}, 2},
		{"reorder", []string{"c", "b", "a"}, []string{"a", "b", "c"}, 4},
		{"to empty", []string{"a", "b"}, nil, 2},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := newMem()
			m.tables["nat"][ChainNAT] = append([]string{}, c.have...)
			ops := chainDiff(IPv4, "nat", ChainNAT, c.have, c.want)
			if len(ops) != c.ops {
				t.Errorf("%d ops, want %d: %v", len(ops), c.ops, ops)
			}
			applyToMem(t, m, ops)
			if got := m.tables["nat"][ChainNAT]; !reflect.DeepEqual(got, c.want) && len(got)+len(c.want) > 0 {
				t.Fatalf("after ops %v, want %v", got, c.want)
			}
		})
	}
}

func TestHooks(t *testing.T) {
	m, _ := marksOf(0xC0000)
	nh, fh := m.natHook(), m.filterHook()
	stale := "-j " + ChainNAT
	cases := []struct {
		name            string
		prerouting      []string
		input           []string
		wantPre, wantIn []string
		ops             int
	}{
		{"missing", []string{"-j prerouting_rule", "-i eth1 -j zone_wan_prerouting"}, []string{"-i lo -j ACCEPT"},
			[]string{"-j prerouting_rule", "-i eth1 -j zone_wan_prerouting", nh}, []string{fh, "-i lo -j ACCEPT"}, 2},
		{"in place", []string{"-j a", nh}, []string{"-j b", fh, "-j c"},
			[]string{"-j a", nh}, []string{"-j b", fh, "-j c"}, 0},
		{"fw3 reload appended after ours", []string{nh, "-i eth1 -j zone_wan_prerouting"}, []string{fh},
			[]string{"-i eth1 -j zone_wan_prerouting", nh}, []string{fh}, 2},
		{"duplicates and stale forms", []string{nh, stale, "-j x", nh}, []string{fh, "-j " + ChainFilter, fh},
			[]string{"-j x", nh}, []string{fh}, 6},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			mem := newMem()
			mem.tables["nat"]["PREROUTING"] = append([]string{}, c.prerouting...)
			mem.tables["filter"]["INPUT"] = append([]string{}, c.input...)
			mem.tables["nat"][ChainNAT] = []string{}
			mem.tables["filter"][ChainFilter] = []string{}
			ops := append(hookLast(IPv4, "nat", "PREROUTING", c.prerouting, nh), hookFirst(IPv4, "filter", "INPUT", c.input, fh)...)
			if len(ops) != c.ops {
				t.Errorf("%d ops, want %d: %v", len(ops), c.ops, ops)
			}
			applyToMem(t, mem, ops)
			if got := mem.tables["nat"]["PREROUTING"]; !reflect.DeepEqual(got, c.wantPre) {
				t.Errorf("PREROUTING %q, want %q", got, c.wantPre)
			}
			if got := mem.tables["filter"]["INPUT"]; !reflect.DeepEqual(got, c.wantIn) {
				t.Errorf("INPUT %q, want %q", got, c.wantIn)
			}
		})
	}
}

// baselineMem is a small fw3-like ruleset with another program's rules.
func baselineMem() *memIPT {
	m := newMem()
	m.tables["nat"]["PREROUTING"] = []string{"-m comment --comment \"!fw3: Custom prerouting rule chain\" -j prerouting_rule", "-i eth1 -j zone_wan_prerouting"}
	m.tables["nat"]["prerouting_rule"] = []string{}
	m.tables["nat"]["zone_wan_prerouting"] = []string{"-p tcp -m tcp --dport 8022 -j DNAT --to-destination 192.168.1.2:22"}
	m.tables["filter"]["INPUT"] = []string{"-i lo -j ACCEPT", "-m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT", "-i eth1 -j reject"}
	m.tables["filter"]["reject"] = []string{"-p tcp -j REJECT --reject-with tcp-reset"}
	return m
}

// TestDiffConverges runs plans over a baseline: applying the ops gives the
// plan, a second diff is empty, and the empty plan restores the baseline.
func TestDiffConverges(t *testing.T) {
	base := baselineMem()
	one := settings.Defaults()
	one.Disabled = []string{"8080tcp"}
	mask := settings.Defaults()
	mask.MarkMask = 0x30
	l := Listeners{}
	l.Add(IPv4, ip("192.0.2.1"), 80)
	steps := []struct {
		name  string
		s     settings.Settings
		facts Facts
		max   int // most ops expected
	}{
		{"first apply", settings.Defaults(), wanFacts(nil, Policy{}), 100},
		{"toggle one service", one, wanFacts(nil, Policy{}), 3},
		{"toggle it back", settings.Defaults(), wanFacts(nil, Policy{}), 3},
		{"the firewall accepts every port", settings.Defaults(), wanFacts(nil, AcceptAll("x")), len(settings.Services())},
		// The socket match decides per connection: no change at all.
		{"a listener appears", settings.Defaults(), wanFacts(l, AcceptAll("x")), 0},
		{"wan device changes", settings.Defaults(), Facts{WANDevices: []string{"eth2"}, Listeners: l, Policy: AcceptAll("x")}, 2},
		{"other mask", mask, wanFacts(nil, Policy{}), 100},
		{"off", settings.Settings{Enabled: false, MarkMask: 0xC0000}, Facts{}, 100},
	}
	m := base.clone()
	for _, step := range steps {
		p, err := MakePlan(step.s, step.facts)
		if err != nil {
			t.Fatalf("%s: %v", step.name, err)
		}
		ops := diff(IPv4, stateOf(t, m), p.Rules[IPv4], p.marks)
		if len(ops) > step.max {
			t.Errorf("%s: %d ops, want at most %d:\n%s", step.name, len(ops), step.max, opsText(ops))
		}
		applyToMem(t, m, ops)
		st := stateOf(t, m)
		if again := diff(IPv4, st, p.Rules[IPv4], p.marks); len(again) != 0 {
			t.Fatalf("%s: not converged, still %s", step.name, opsText(again))
		}
		if !p.Rules[IPv4].Empty() {
			if !reflect.DeepEqual(st.NAT.Rules, p.Rules[IPv4].NAT) || !reflect.DeepEqual(st.Filter.Rules, p.Rules[IPv4].Filter) {
				t.Fatalf("%s: chains differ from the plan", step.name)
			}
			if last := st.Prerouting.Rules[len(st.Prerouting.Rules)-1]; last != p.marks.natHook() {
				t.Errorf("%s: nat hook not last: %s", step.name, last)
			}
		}
	}
	if m.dump() != base.dump() {
		t.Fatalf("after switching off:\n%s\nwant the baseline\n%s", m.dump(), base.dump())
	}
}

func opsText(ops []Op) string {
	var b strings.Builder
	for _, o := range ops {
		fmt.Fprintln(&b, o)
	}
	return b.String()
}

// TestExecuteRollsBack fails each change of a first apply in turn: the
// tables must end as they were, whichever change failed.
func TestExecuteRollsBack(t *testing.T) {
	p, err := MakePlan(settings.Defaults(), wanFacts(nil, Policy{}))
	if err != nil {
		t.Fatal(err)
	}
	for _, start := range []struct {
		name string
		m    *memIPT
	}{{"from the baseline", baselineMem()}, {"from an older apply", older(t)}} {
		ops := diff(IPv4, stateOf(t, start.m), p.Rules[IPv4], p.marks)
		for k := 1; k <= len(ops); k++ {
			m := start.m.clone()
			m.failAt = k
			se := &session{h: [2]ipt{m, nil}}
			err := execute(context.Background(), se, ops)
			if err == nil || !strings.Contains(err.Error(), "undone") {
				t.Fatalf("%s: failing change %d: err %v", start.name, k, err)
			}
			if m.dump() != start.m.dump() {
				t.Fatalf("%s: failing change %d of %d left\n%s\nwant\n%s", start.name, k, len(ops), m.dump(), start.m.dump())
			}
		}
	}
}

// older is the baseline with the rules of other settings applied.
func older(t *testing.T) *memIPT {
	m := baselineMem()
	s := settings.Defaults()
	s.Disabled = []string{"23tcp", "80tcp"}
	p, err := MakePlan(s, Facts{WANDevices: []string{"eth0"}})
	if err != nil {
		t.Fatal(err)
	}
	applyToMem(t, m, diff(IPv4, stateOf(t, m), p.Rules[IPv4], p.marks))
	return m
}

func TestParseList(t *testing.T) {
	lines := []string{
		"# Warning: iptables-legacy tables present, use iptables-legacy to see them",
		"-N MINIPOT_PREROUTING",
		"-A MINIPOT_PREROUTING -i eth1 -c 3 180 -j CONNMARK --set-xmark 0x40000/0x40000",
		"-A MINIPOT_PREROUTING -m comment --comment \"a b\" -c 0 0",
		"-A MINIPOT_PREROUTINGX -j RETURN",
	}
	rules, n := parseList(ChainNAT, lines)
	want := []string{"-i eth1 -j CONNMARK --set-xmark 0x40000/0x40000", `-m comment --comment "a b"`}
	if !reflect.DeepEqual(rules, want) || !reflect.DeepEqual(n, []uint64{3, 0}) {
		t.Fatalf("got %q %v", rules, n)
	}
	if got := splitRule(rules[1]); !reflect.DeepEqual(got, []string{"-m", "comment", "--comment", "a b"}) {
		t.Errorf("split %q", got)
	}
	if got := splitRule(`-m comment --comment "say \"hi\""`); got[3] != `say "hi"` {
		t.Errorf("split escaped %q", got)
	}
}

// TestReadStateSkipsAbsentTables: a table the kernel does not have is not
// read (iptables-legacy would create it) and holds nothing of minipot's.
func TestReadStateSkipsAbsentTables(t *testing.T) {
	m := baselineMem()
	m.tables["filter"][ChainFilter] = []string{"-j ACCEPT"}
	st, _, err := readState(IPv4, m, false, func(table string) bool { return table == "filter" })
	if err != nil {
		t.Fatal(err)
	}
	if !st.Prerouting.Exists || len(st.Prerouting.Rules) != 0 || st.NAT.Exists || !st.Filter.Exists {
		t.Fatalf("state %+v", st)
	}
	if ops := diff(IPv4, st, Ruleset{}, marks{}); len(ops) != 2 || ops[0].Table != "filter" {
		t.Fatalf("remove would do %v", ops)
	}
}

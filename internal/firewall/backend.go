package firewall

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Backend is the iptables flavour that holds the rules.
type Backend struct {
	Name     string    // "nft" or "legacy"
	Reason   string    // why this one, for Status
	Commands [2]string // iptables and ip6tables paths by Family; "" when missing
	Calls    int       // iptables invocations spent choosing
}

// backends are the flavours, in the order auto prefers on a tie.
var backends = [...]string{"nft", "legacy"}

// commandMode runs `cmd --version` and returns the flavour it reports:
// "nft" for "(nf_tables)", "legacy" for "(legacy)" or no mode at all
// (iptables before 1.8 knew only the legacy way).
func commandMode(ctx context.Context, path string) (string, error) {
	out, err := exec.CommandContext(ctx, path, "--version").Output()
	if err != nil {
		return "", fmt.Errorf("%s --version: %w", path, err)
	}
	if bytes.Contains(out, []byte("nf_tables")) {
		return "nft", nil
	}
	return "legacy", nil
}

// findCommands locates the iptables and ip6tables commands of a flavour:
// "iptables-nft" (or "iptables" when it is the nft one), and so on. lookPath
// finds a command by name. plain caches the flavour of the unsuffixed
// commands.
func findCommands(ctx context.Context, flavour string, lookPath func(string) (string, error), plain map[string]string) (cmds [2]string, calls int) {
	for _, fam := range families {
		base := fam.command()
		if p, err := lookPath(base + "-" + flavour); err == nil {
			cmds[fam] = p
			continue
		}
		p, err := lookPath(base)
		if err != nil {
			continue
		}
		mode, ok := plain[p]
		if !ok {
			calls++
			if mode, err = commandMode(ctx, p); err != nil {
				continue
			}
			plain[p] = mode
		}
		if mode == flavour {
			cmds[fam] = p
		}
	}
	return cmds, calls
}

// resolveBackend picks the flavour: the one asked for, or with "auto" (or
// "") the one that already holds the router's rules; on a tie, the one the
// plain iptables command is, since the router's tools use that.
func resolveBackend(ctx context.Context, want, procNet string, lookPath func(string) (string, error)) (Backend, error) {
	plain := map[string]string{}
	if want != "" && want != "auto" {
		if want != "nft" && want != "legacy" {
			return Backend{}, fmt.Errorf("unknown firewall backend %q (auto, nft or legacy)", want)
		}
		cmds, calls := findCommands(ctx, want, lookPath, plain)
		if cmds[IPv4] == "" {
			return Backend{}, fmt.Errorf("iptables-%s not found: install it, or choose another backend (--backend, ucollect.firewall.backend)", want)
		}
		return Backend{Name: want, Reason: "chosen in the settings or on the command line", Commands: cmds, Calls: calls}, nil
	}
	type cand struct {
		b     Backend
		rules int
	}
	var cands []cand
	calls := 0
	for _, name := range backends {
		cmds, n := findCommands(ctx, name, lookPath, plain)
		calls += n
		if cmds[IPv4] == "" {
			continue
		}
		rules, n := countRules(ctx, name, cmds, procNet)
		calls += n
		cands = append(cands, cand{Backend{Name: name, Commands: cmds}, rules})
	}
	switch len(cands) {
	case 0:
		return Backend{}, errors.New("no iptables command found (iptables-nft, iptables-legacy or iptables): install iptables")
	case 1:
		c := cands[0]
		c.b.Reason, c.b.Calls = "auto: the only iptables installed", calls
		return c.b, nil
	}
	a, b := cands[0], cands[1]
	var pick cand
	switch {
	case a.rules > 0 && b.rules == 0:
		pick = a
		pick.b.Reason = fmt.Sprintf("auto: the router's rules are in iptables-%s (%d rules; none in iptables-%s)", a.b.Name, a.rules, b.b.Name)
	case b.rules > 0 && a.rules == 0:
		pick = b
		pick.b.Reason = fmt.Sprintf("auto: the router's rules are in iptables-%s (%d rules; none in iptables-%s)", b.b.Name, b.rules, a.b.Name)
	default:
		pick = a
		mode := ""
		if p, err := lookPath("iptables"); err == nil {
			if m, ok := plain[p]; ok {
				mode = m
			} else if m, err := commandMode(ctx, p); err == nil {
				calls++
				mode = m
			}
		}
		if mode == b.b.Name {
			pick = b
		}
		pick.b.Reason = fmt.Sprintf("auto: iptables-nft has %d rules and iptables-legacy %d; the iptables command is iptables-%s", cands[0].rules, cands[1].rules, pick.b.Name)
	}
	pick.b.Calls = calls
	return pick.b, nil
}

// countRules counts the rules of a flavour's filter and nat tables, IPv4
// and IPv6. For legacy it reads only tables the kernel already has (listed
// in /proc/net/ip{,6}_tables_names): listing one would create it, and a
// table that exists only because minipot looked would show in
// iptables-legacy-save.
func countRules(ctx context.Context, flavour string, cmds [2]string, procNet string) (rules, calls int) {
	for _, fam := range families {
		if cmds[fam] == "" {
			continue
		}
		tables := []string{"filter", "nat"}
		if flavour == "legacy" {
			names := "ip_tables_names"
			if fam == IPv6 {
				names = "ip6_tables_names"
			}
			data, _ := os.ReadFile(filepath.Join(procNet, names))
			var have []string
			for _, t := range tables {
				if containsLine(string(data), t) {
					have = append(have, t)
				}
			}
			tables = have
		}
		for _, t := range tables {
			calls++
			out, err := exec.CommandContext(ctx, cmds[fam], "-w", "5", "-t", t, "-S").Output()
			if err != nil {
				continue
			}
			for _, line := range strings.Split(string(out), "\n") {
				if strings.HasPrefix(line, "-A ") {
					rules++
				}
			}
		}
	}
	return rules, calls
}

func containsLine(s, line string) bool {
	for _, l := range strings.Split(s, "\n") {
		if strings.TrimSpace(l) == line {
			return true
		}
	}
	return false
}

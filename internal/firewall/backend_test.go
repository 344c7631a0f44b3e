package firewall

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// fakeCommands writes stand-in iptables commands into a directory: each
// prints its version and, for -S, as many rules as given.
func fakeCommands(t *testing.T, cmds map[string]struct {
	mode  string
	rules int
}) func(string) (string, error) {
	t.Helper()
	dir := t.TempDir()
	for name, c := range cmds {
		script := "#!/bin/sh\nif [ \"$1\" = --version ]; then echo \"" + name + " v1.8.9 " + c.mode + "\"; exit 0; fi\n" +
			"i=0; while [ $i -lt " + strconv.Itoa(c.rules) + " ]; do echo \"-A INPUT -j ACCEPT\"; i=$((i+1)); done\n"
		if err := os.WriteFile(filepath.Join(dir, name), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return func(name string) (string, error) {
		p := filepath.Join(dir, name)
		if _, err := os.Stat(p); err != nil {
			return "", exec.ErrNotFound
		}
		return p, nil
	}
}

func TestResolveBackend(t *testing.T) {
	if _, err := exec.LookPath("sh"); err != nil {
		t.Skip("needs sh")
	}
	type cmd = struct {
		mode  string
		rules int
	}
	procWith := func(tables string) string {
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, "ip_tables_names"), []byte(tables), 0o644)
		return dir
	}
	cases := []struct {
		name    string
		cmds    map[string]cmd
		want    string
		proc    string
		backend string
		reason  string
		err     string
	}{
		{name: "forced nft", want: "nft", backend: "nft", cmds: map[string]cmd{"iptables-nft": {"(nf_tables)", 0}, "ip6tables-nft": {"(nf_tables)", 0}}},
		{name: "forced, missing", want: "legacy", cmds: map[string]cmd{"iptables-nft": {"(nf_tables)", 0}}, err: "iptables-legacy not found"},
		{name: "plain iptables is legacy", want: "legacy", backend: "legacy",
			cmds: map[string]cmd{"iptables": {"", 0}}},
		{name: "auto: rules in legacy", want: "auto", backend: "legacy", proc: "filter\nnat\n", reason: "in iptables-legacy",
			cmds: map[string]cmd{"iptables-nft": {"(nf_tables)", 0}, "iptables-legacy": {"(legacy)", 5}, "iptables": {"(nf_tables)", 0}}},
		{name: "auto: legacy tables not loaded are not read", want: "auto", backend: "nft", proc: "",
			cmds: map[string]cmd{"iptables-nft": {"(nf_tables)", 0}, "iptables-legacy": {"(legacy)", 5}, "iptables": {"(nf_tables)", 0}}},
		{name: "auto: rules in nft", want: "", backend: "nft", proc: "filter\n", reason: "in iptables-nft",
			cmds: map[string]cmd{"iptables-nft": {"(nf_tables)", 3}, "iptables-legacy": {"(legacy)", 0}, "iptables": {"(legacy)", 0}}},
		{name: "auto: tie follows plain iptables", want: "auto", backend: "legacy", proc: "filter\n", reason: "the iptables command is iptables-legacy",
			cmds: map[string]cmd{"iptables-nft": {"(nf_tables)", 2}, "iptables-legacy": {"(legacy)", 2}, "iptables": {"(legacy)", 0}}},
		{name: "auto: only one", want: "auto", backend: "nft", reason: "only",
			cmds: map[string]cmd{"iptables-nft": {"(nf_tables)", 0}}},
		{name: "nothing", want: "auto", cmds: map[string]cmd{}, err: "no iptables"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b, err := resolveBackend(context.Background(), c.want, procWith(c.proc), fakeCommands(t, c.cmds))
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("err %v, want %q", err, c.err)
				}
				return
			}
			if err != nil || b.Name != c.backend || !strings.Contains(b.Reason, c.reason) {
				t.Fatalf("got %+v, %v; want %s (%q)", b, err, c.backend, c.reason)
			}
			if b.Commands[IPv4] == "" || (b.Commands[IPv6] == "") != (c.cmds["ip6tables-"+c.backend].mode == "") {
				t.Errorf("commands %q", b.Commands)
			}
		})
	}
}

package tests

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The fw3 include and the uci-defaults snippet of firewall-scripts/: valid
// sh, clean under shellcheck, and doing what they say when run the way
// OpenWrt runs them.

var firewallScripts = []string{
	"../firewall-scripts/firewall.include",
	"../firewall-scripts/uci-defaults/90-minipot-firewall",
}

func TestFirewallScriptsLint(t *testing.T) {
	shellcheck := need(t, "shellcheck")
	for _, s := range firewallScripts {
		t.Run(filepath.Base(s), func(t *testing.T) {
			if out, err := exec.Command("sh", "-n", s).CombinedOutput(); err != nil {
				t.Errorf("sh -n: %v\n%s", err, out)
			}
			// BusyBox ash is a POSIX sh; check for that.
			if out, err := exec.Command(shellcheck, "--shell=sh", s).CombinedOutput(); err != nil {
				t.Errorf("shellcheck: %v\n%s", err, out)
			}
		})
	}
}

// stubBin writes small commands into a directory to put first in PATH.
func stubBin(t *testing.T, scripts map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range scripts {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("#!/bin/sh\n"+body), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestUCIDefaultsRegistersInclude runs the uci-defaults snippet with
// `minipot uci` standing in for OpenWrt's uci: it adds the include once,
// leaves the file alone when it is there, and does nothing without fw3.
func TestUCIDefaultsRegistersInclude(t *testing.T) {
	conf := t.TempDir()
	firewallFile := filepath.Join(conf, "firewall")
	original := "config defaults\n\toption input 'ACCEPT'\n\nconfig zone\n\toption name 'wan'\n"
	if err := os.WriteFile(firewallFile, []byte(original), 0o644); err != nil {
		t.Fatal(err)
	}
	uci := "exec " + minipotBin + " uci -c " + conf + " -t " + filepath.Join(conf, ".uci") + " \"$@\"\n"
	script, _ := filepath.Abs(firewallScripts[1])
	runScript := func(withFW3 bool) {
		t.Helper()
		stubs := map[string]string{"uci": uci}
		if withFW3 {
			stubs["fw3"] = "exit 0\n"
		}
		cmd := exec.Command("sh", script)
		cmd.Env = append(os.Environ(), "PATH="+stubBin(t, stubs)+":/usr/bin:/bin")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("uci-defaults script: %v\n%s", err, out)
		}
	}

	runScript(false)
	if got, _ := os.ReadFile(firewallFile); string(got) != original {
		t.Fatalf("without fw3 the script changed the firewall config:\n%s", got)
	}
	runScript(true)
	got, _ := os.ReadFile(firewallFile)
	want := "\nconfig include 'minipot'\n\toption type 'script'\n\toption path '/usr/share/minipot/firewall.include'\n\toption reload '1'\n"
	if !strings.Contains(string(got), want) || !strings.Contains(string(got), "option name 'wan'") {
		t.Fatalf("after the script:\n%s\nwant it to contain\n%s", got, want)
	}
	fi, _ := os.Stat(firewallFile)
	runScript(true)
	again, _ := os.ReadFile(firewallFile)
	fi2, _ := os.Stat(firewallFile)
	if string(again) != string(got) || !fi2.ModTime().Equal(fi.ModTime()) {
		t.Fatalf("a second run rewrote the file:\n%s", again)
	}
}

// TestFirewallIncludeRunsApply sources the include as fw3 does (with
// config() defined to refuse UCI) and checks that it runs `minipot
// firewall apply` and logs the outcome at the right priority.
func TestFirewallIncludeRunsApply(t *testing.T) {
	src, err := os.ReadFile(firewallScripts[0])
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, exit, priority string
	}{{"success", "0", "daemon.info"}, {"failure", "1", "daemon.err"}} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			log := filepath.Join(dir, "log")
			bin := stubBin(t, map[string]string{
				"minipot": "echo \"ran $*\"\nexit " + c.exit + "\n",
				"logger":  "echo \"$*\" >> " + log + "\n",
			})
			// The include names the installed binary; point it at the stub.
			include := filepath.Join(dir, "firewall.include")
			text := strings.Replace(string(src), "/usr/bin/minipot", filepath.Join(bin, "minipot"), 1)
			if err := os.WriteFile(include, []byte(text), 0o644); err != nil {
				t.Fatal(err)
			}
			// What fw3 runs: config() { ...; exit 1; }; . PATH
			cmd := exec.Command("sh", "-c", `config() { echo "You cannot use UCI in firewall includes!" >&2; exit 1; }; . `+include)
			cmd.Env = append(os.Environ(), "PATH="+bin+":/usr/bin:/bin")
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("include: %v\n%s", err, out)
			}
			got, _ := os.ReadFile(log)
			if want := "-t minipot-firewall -p " + c.priority + " ran firewall apply"; !strings.Contains(string(got), want) {
				t.Fatalf("logged %q, want %q", got, want)
			}
		})
	}
}

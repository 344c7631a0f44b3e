package tests

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// The package for both of OpenWrt's package managers: opkg (up to 24.10)
// and apk (25.12 on). What can be checked without OpenWrt's build system:
// the version is one both accept, and the maintainer scripts, as each
// manager runs them, lint clean and do what they must against recording
// stubs of the router's commands.

// apkVersion is apk-tools' version grammar: numbers separated by dots, an
// optional letter, optional _suffix[N] parts, an optional ~hash and the
// -rN release OpenWrt appends (apk refuses a package whose version does not
// parse). OpenWrt's apk builds name a package's version
// $(PKG_VERSION)-r$(PKG_RELEASE), its opkg builds $(PKG_VERSION)-$(PKG_RELEASE).
var apkVersion = regexp.MustCompile(`^[0-9]+(\.[0-9]+)*[a-z]?(_(alpha|beta|pre|rc|cvs|svn|git|hg|p)[0-9]*)*(~[0-9a-f]+)?(-r[0-9]+)?$`)

func TestOpenWrtPackageVersion(t *testing.T) {
	mk := readFile(t, owPkgDir+"/Makefile")
	get := func(name string) string {
		m := regexp.MustCompile(`(?m)^` + name + `:=(.*)$`).FindStringSubmatch(mk)
		if m == nil {
			t.Fatalf("the Makefile sets no %s", name)
		}
		return strings.TrimSpace(m[1])
	}
	version, release := get("PKG_VERSION"), get("PKG_RELEASE")
	if !regexp.MustCompile(`^[0-9]+$`).MatchString(release) {
		t.Errorf("PKG_RELEASE %q: apk wants a number (-rN)", release)
	}
	if v := version + "-r" + release; !apkVersion.MatchString(v) {
		t.Errorf("apk version %q does not parse", v)
	}
	// The grammar itself, on versions apk accepts and refuses.
	for v, ok := range map[string]bool{"0.1.0-r1": true, "2025.12.01~0a1b2c3d-r2": true, "1.2_rc3-r0": true, "1.0a": true,
		"0.1.0-1": false, "2025-12-01-0a1b2c3d-r1": false, "v1.0-r1": false, "1.0-beta-r1": false, "1.0-rx": false} {
		if apkVersion.MatchString(v) != ok {
			t.Errorf("apk version grammar: %q accepted %v, want %v", v, !ok, ok)
		}
	}
}

// owScriptRun is one run of a maintainer script as a package manager runs
// it on the router.
type owScriptRun struct {
	name    string
	script  string // which of postinst, prerm, postrm
	upgrade bool
}

// owAssemble writes the script as the manager runs it. opkg runs the
// package's script by itself (default_postinst/default_prerm call it) with
// PKG_UPGRADE=1 in the environment on an upgrade. apk runs one script per
// event, which OpenWrt's include/package-pack.mk builds: post-install is
// base-files' functions (add_group_and_user, default_postinst) followed by
// the package's postinst without its #! line; post-upgrade is
// `export PKG_UPGRADE=1` and then post-install; pre-deinstall is
// default_prerm followed by prerm; post-deinstall is postrm as it is. apk
// runs neither of the last two on an upgrade. base-files' functions are
// recording stubs here.
func owAssemble(t *testing.T, scripts, dir, manager string, r owScriptRun) (path string, env []string) {
	t.Helper()
	body := readFile(t, filepath.Join(scripts, r.script))
	noShebang := regexp.MustCompile(`(?m)^\s*#!.*\n`).ReplaceAllString(body, "")
	var text string
	switch manager {
	case "opkg":
		text = body
		if r.upgrade {
			env = append(env, "PKG_UPGRADE=1")
		}
	case "apk":
		stub := func(fn string) string { return fn + `() { echo "` + fn + `" >>"$LOG"; }` + "\n" }
		switch r.script {
		case "postinst":
			text = "#!/bin/sh\n"
			if r.upgrade {
				text += "export PKG_UPGRADE=1\n"
			}
			text += stub("add_group_and_user") + stub("default_postinst") +
				"add_group_and_user\ndefault_postinst\n" + noShebang
		case "prerm":
			text = "#!/bin/sh\n" + stub("default_prerm") + "default_prerm\n" + noShebang
		case "postrm":
			text = body
		}
	}
	path = filepath.Join(dir, fmt.Sprintf("%s-%s-%s", manager, r.name, r.script))
	if err := os.WriteFile(path, []byte(text), 0o755); err != nil {
		t.Fatal(err)
	}
	return path, env
}

// TestOpenWrtMaintainerScripts runs postinst, prerm and postrm as opkg and
// as apk run them, at install, upgrade and removal, in a private mount
// namespace where /etc/init.d/*, /usr/bin/minipot, uci, logger and lock
// are stubs that record their calls, /etc/passwd, /etc/shadow and
// /etc/group hold the package's user, and /var/run is a tmpfs.
func TestOpenWrtMaintainerScripts(t *testing.T) {
	needRoot(t)
	shellcheck := need(t, "shellcheck")
	_, scripts := owBuild(t, need(t, "make"), true)
	top := t.TempDir()
	etc, bin, path := filepath.Join(top, "etc"), filepath.Join(top, "usrbin"), filepath.Join(top, "path")
	for _, d := range []string{etc + "/init.d", bin, path} {
		os.MkdirAll(d, 0o755)
	}
	record := "#!/bin/sh\necho \"$0 $*\" >>\"$LOG\"\n"
	stubs := map[string]string{
		etc + "/init.d/minipot":  record + "exit 0\n", // `enabled` too
		etc + "/init.d/rpcd":     record,
		etc + "/init.d/firewall": record + "exit 0\n",
		bin + "/minipot":         record + "echo removed\n",
		path + "/uci":            record + "[ \"$2\" = get ] && echo include\nexit 0\n",
		path + "/logger":         record + "cat >/dev/null\n",
		path + "/lock":           record,
		path + "/sleep":          record,
	}
	for p, text := range stubs {
		if err := os.WriteFile(p, []byte(text), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{"passwd", "shadow", "group"} {
		host, _ := os.ReadFile("/etc/" + f)
		user := map[string]string{"passwd": "minipot:x:392:392:minipot:/var/run/minipot:/bin/false",
			"shadow": "minipot:*:0:0:99999:7:::", "group": "minipot:x:392:"}[f]
		if err := os.WriteFile(filepath.Join(etc, f), append(host, []byte(user+"\n")...), 0o640); err != nil {
			t.Fatal(err)
		}
	}
	// The script runs in its own mount namespace; what it leaves is
	// reported into $OUT.
	const router = `set -e
mount -t tmpfs tmpfs "$W"
mkdir "$W/u" "$W/w"
mount -t overlay overlay -o "lowerdir=$ETC:/etc,upperdir=$W/u,workdir=$W/w" /etc
mount -t overlay overlay -o "lowerdir=$BIN:/usr/bin" /usr/bin
mount -t tmpfs tmpfs /run
mkdir -p /run/minipot
set +e
PATH="$STUBS:$PATH" sh "$SCRIPT"
echo "exit $?" >"$OUT"
grep -c '^minipot:' /etc/passwd /etc/shadow /etc/group >>"$OUT"
[ -e /run/minipot ] && echo "run dir kept" >>"$OUT"
exit 0
`
	runs := []owScriptRun{
		{"install", "postinst", false},
		{"upgrade", "postinst", true},
		{"upgrade", "prerm", true},
		{"upgrade", "postrm", true},
		{"remove", "prerm", false},
		{"remove", "postrm", false},
	}
	for _, manager := range []string{"opkg", "apk"} {
		for _, r := range runs {
			if manager == "apk" && r.upgrade && r.script != "postinst" {
				continue // apk runs neither on an upgrade
			}
			t.Run(manager+"/"+r.name+"/"+r.script, func(t *testing.T) {
				dir := t.TempDir()
				script, env := owAssemble(t, scripts, dir, manager, r)
				owLint(t, shellcheck, script)
				log, out := filepath.Join(dir, "log"), filepath.Join(dir, "out")
				os.WriteFile(log, nil, 0o644)
				w := filepath.Join(dir, "w")
				os.Mkdir(w, 0o755)
				cmd := exec.Command("unshare", "-m", "--propagation", "private", "sh", "-c", router)
				cmd.Env = append(append(os.Environ(), env...), "W="+w, "ETC="+etc, "BIN="+bin, "STUBS="+path,
					"SCRIPT="+script, "LOG="+log, "OUT="+out)
				if b, err := cmd.CombinedOutput(); err != nil {
					t.Fatalf("%v\n%s", err, b)
				}
				calls, result := readFile(t, log), readFile(t, out)
				t.Logf("calls:\n%sresult:\n%s", calls, result)
				if !strings.HasPrefix(result, "exit 0\n") {
					t.Errorf("the script failed: %s", result)
				}
				has := func(s string) bool { return strings.Contains(calls, s) }
				userKept := strings.Contains(result, "/etc/passwd:1")
				runKept := strings.Contains(result, "run dir kept")
				switch r.name + "/" + r.script {
				case "install/postinst":
					if !has("/etc/init.d/rpcd reload") || has("minipot restart") {
						t.Error("a fresh install must reload rpcd (and restart nothing)")
					}
				case "upgrade/postinst":
					if !has("/etc/init.d/minipot restart") || !has("/etc/init.d/rpcd reload") {
						t.Error("an upgrade must restart the running service onto the new binary and reload rpcd")
					}
				case "upgrade/prerm", "upgrade/postrm":
					if has("/etc/init.d/") || has("firewall") || has("uci") || !userKept || !runKept {
						t.Error("an upgrade must leave the service, the rules, the user and the run folder alone")
					}
				case "remove/prerm":
					stop, fw := strings.Index(calls, "/etc/init.d/minipot stop"), strings.Index(calls, "minipot firewall remove")
					if stop < 0 || fw < stop || !has("uci -q delete firewall.minipot") || !has("/etc/init.d/firewall reload") {
						t.Error("removal must stop the service, then remove the rules and the fw3 include, and reload the firewall")
					}
				case "remove/postrm":
					if !has("/etc/init.d/rpcd reload") || userKept || runKept {
						t.Error("removal must leave no ubus object (rpcd reload), no user and no run folder")
					}
				}
			})
		}
	}
}

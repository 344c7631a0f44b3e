package tests

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/minipot/minipot/internal/settings"
	"github.com/minipot/minipot/internal/uci"
)

// The OpenWrt package under openwrt/minipot: its shell scripts, its default
// settings, what its Makefile installs, the procd init script run against a
// recording procd, and the uci-defaults script run twice with `minipot uci`
// standing in for OpenWrt's uci.

const (
	owPkgDir   = "../openwrt/minipot"
	owFilesDir = owPkgDir + "/files"
)

// owShellScripts lists every shell script under openwrt/ and
// firewall-scripts/: files that start with a #!/bin/sh line or declare
// `# shellcheck shell=sh`.
func owShellScripts(t *testing.T) []string {
	t.Helper()
	var scripts []string
	for _, root := range []string{"../openwrt", "../firewall-scripts"} {
		err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			data, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			first, _, _ := strings.Cut(string(data), "\n")
			if strings.HasPrefix(first, "#!/bin/sh") || strings.Contains(string(data), "# shellcheck shell=sh") {
				scripts = append(scripts, path)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, want := range []string{owFilesDir + "/minipot.init", owFilesDir + "/minipot.defaults"} {
		if !slices.Contains(scripts, want) {
			t.Fatalf("%s is not found as a shell script (found %v)", want, scripts)
		}
	}
	return scripts
}

// owLint runs `sh -n` and `shellcheck -s sh` (BusyBox ash is a POSIX sh)
// on a script.
func owLint(t *testing.T, shellcheck, path string) {
	t.Helper()
	if out, err := exec.Command("sh", "-n", path).CombinedOutput(); err != nil {
		t.Errorf("sh -n %s: %v\n%s", path, err, out)
	}
	if out, err := exec.Command(shellcheck, "-s", "sh", path).CombinedOutput(); err != nil {
		t.Errorf("shellcheck -s sh %s: %v\n%s", path, err, out)
	}
}

func TestOpenWrtShellScriptsLint(t *testing.T) {
	shellcheck := need(t, "shellcheck")
	for _, s := range owShellScripts(t) {
		t.Run(strings.TrimPrefix(s, "../"), func(t *testing.T) { owLint(t, shellcheck, s) })
	}
}

// owLoadSettings parses a ucollect file with internal/uci and loads it with
// internal/settings, failing on any error.
func owLoadSettings(t *testing.T, path string) settings.Settings {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	p, err := uci.Parse(settings.Package, data)
	if err != nil {
		t.Fatalf("%s does not parse: %v", path, err)
	}
	s, err := settings.FromPackage(p)
	if err != nil {
		t.Fatalf("%s does not load: %v", path, err)
	}
	return s
}

func TestOpenWrtDefaultConfig(t *testing.T) {
	path := owFilesDir + "/ucollect.config"
	s := owLoadSettings(t, path)
	def := settings.Defaults()
	if !s.Enabled || s.LogCredentials || len(s.Disabled) != 0 {
		t.Errorf("want the fakes on, every service enabled and credentials off; got enabled=%v log_credentials=%v disable=%v",
			s.Enabled, s.LogCredentials, s.Disabled)
	}
	if s.Store.Path != "/var/lib/minipot/events.db" {
		t.Errorf("store.path = %q, want /var/lib/minipot/events.db (the init script prepares that folder)", s.Store.Path)
	}
	// The hostname stays the stock OpenWrt one: see the file's comment.
	if s.Agent.Hostname != def.Agent.Hostname {
		t.Errorf("agent.hostname = %q, want the default %q", s.Agent.Hostname, def.Agent.Hostname)
	}
	if !s.Firewall.IPv6 {
		t.Error("firewall.ipv6 is off; the Makefile turns it off when the package is built without IPv6")
	}
	// Every section is one minipot reads, so that `uci set` on it works
	// and none is a typo that would be ignored.
	data, _ := os.ReadFile(path)
	p, _ := uci.Parse(settings.Package, data)
	var names []string
	for _, sec := range p.Sections {
		names = append(names, sec.Name)
		if sec.Name != sec.Type {
			t.Errorf("section %q has type %q: minipot reads named sections of their own type", sec.Name, sec.Type)
		}
	}
	if want := []string{"fakes", "agent", "limits", "store", "firewall", "export"}; !slices.Equal(names, want) {
		t.Errorf("sections %v, want %v", names, want)
	}
}

// owInstallRE matches an $(INSTALL_BIN|DATA|CONF) SOURCE DEST line.
var owInstallRE = regexp.MustCompile(`\$\(INSTALL_(?:BIN|DATA|CONF)\)\s+(\S+)\s+\S+`)

// TestOpenWrtMakefileSources checks, without make, that every file the
// Makefile installs exists: ./ is the package folder, $(PKG_BUILD_DIR) the
// unpacked source tree, which is this repository.
func TestOpenWrtMakefileSources(t *testing.T) {
	data, err := os.ReadFile(owPkgDir + "/Makefile")
	if err != nil {
		t.Fatal(err)
	}
	var n int
	for _, m := range owInstallRE.FindAllStringSubmatch(string(data), -1) {
		src := m[1]
		switch {
		case strings.HasPrefix(src, "./"):
			src = filepath.Join(owPkgDir, src)
		case strings.HasPrefix(src, "$(PKG_BUILD_DIR)/"):
			src = filepath.Join("..", strings.TrimPrefix(src, "$(PKG_BUILD_DIR)/"))
		default:
			t.Errorf("install source %q is neither ./ nor $(PKG_BUILD_DIR)/", src)
			continue
		}
		if fi, err := os.Stat(src); err != nil || !fi.Mode().IsRegular() {
			t.Errorf("the Makefile installs %s, which is not a file in the repository: %v", m[1], err)
		}
		n++
	}
	if n < 5 {
		t.Fatalf("found only %d install lines in the Makefile", n)
	}
}

// owStubRules is as much of the OpenWrt build system as the package
// Makefile uses, written into a fake TOPDIR. BuildPackage records the
// package's metadata and maintainer scripts into $(OUT) and makes target
// `install` run the package's install recipe into $(DEST).
var owStubRules = map[string]string{
	"rules.mk": `INCLUDE_DIR:=$(TOPDIR)/include
INSTALL_DIR:=install -d -m0755
INSTALL_BIN:=install -m0755
INSTALL_DATA:=install -m0644
INSTALL_CONF:=install -m0600
LN:=ln -sf
SED:=sed -i -e
CP:=cp -fpR
`,
	"include/package.mk": `PKG_BUILD_DIR?=$(TOPDIR)/build/$(PKG_NAME)-$(PKG_VERSION)
OW_VARS:=DEPENDS USERID SECTION CATEGORY TITLE PKG_SOURCE PKG_SOURCE_URL PKG_HASH PKG_CONFIG_DEPENDS \
	GO_PKG GO_PKG_BUILD_PKG GO_PKG_LDFLAGS_X
define BuildPackage
$(eval $(Package/$(1)))
$(foreach v,$(OW_VARS),$(file >$(OUT)/var.$(v),$($(v))))
$(foreach s,conffiles config postinst prerm postrm,$(file >$(OUT)/$(s),$(Package/$(1)/$(s))))
install:
	$$(call Package/$(1)/install,$$(DEST))
endef
`,
	"feeds/packages/lang/golang/golang-package.mk": `GO_ARCH_DEPENDS:=@(aarch64||arm||i386||i686||loongarch64||mips||mips64||mips64el||mipsel||riscv64||x86_64)
define GoPackage/Package/Install/Bin
	$(INSTALL_DIR) $(1)/usr/bin
	$(INSTALL_BIN) $(GO_TEST_BIN) $(1)/usr/bin/minipot
endef
define GoBinPackage
endef
`,
}

// owBuild runs the package Makefile's install against the stub build
// system and returns the installed root and the recorded metadata folder.
func owBuild(t *testing.T, mk string, ipv6 bool) (root, out string) {
	t.Helper()
	top := t.TempDir()
	for name, text := range owStubRules {
		p := filepath.Join(top, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	root, out = filepath.Join(top, "root"), filepath.Join(top, "out")
	os.MkdirAll(out, 0o755)
	repo, _ := filepath.Abs("..")
	args := []string{"-r", "-s", "-C", owPkgDir, "install",
		"TOPDIR=" + top, "OUT=" + out, "DEST=" + root, "GO_TEST_BIN=" + minipotBin, "PKG_BUILD_DIR=" + repo}
	if ipv6 {
		args = append(args, "CONFIG_MINIPOT_IPV6=y")
	}
	cmd := exec.Command(mk, args...)
	cmd.Env = append(os.Environ(), "MAKEFLAGS=")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make %s: %v\n%s", strings.Join(args, " "), err, b)
	}
	return root, out
}

func owVar(t *testing.T, out, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(out, "var."+name))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

func TestOpenWrtPackageInstall(t *testing.T) {
	mk := need(t, "make")
	root, out := owBuild(t, mk, true)

	same := func(installed, source string, mode os.FileMode) {
		t.Helper()
		fi, err := os.Lstat(filepath.Join(root, installed))
		if err != nil {
			t.Errorf("not installed: %s", installed)
			return
		}
		if fi.Mode() != mode {
			t.Errorf("%s has mode %v, want %v", installed, fi.Mode(), mode)
		}
		if source == "" {
			return
		}
		got, _ := os.ReadFile(filepath.Join(root, installed))
		want, _ := os.ReadFile(source)
		if string(got) != string(want) {
			t.Errorf("%s differs from %s", installed, source)
		}
	}
	same("usr/bin/minipot", "", 0o755)
	same("etc/init.d/minipot", owFilesDir+"/minipot.init", 0o755)
	// Readable by the agent's user: see the Makefile.
	same("etc/config/ucollect", owFilesDir+"/ucollect.config", 0o644)
	same("etc/uci-defaults/80-minipot", owFilesDir+"/minipot.defaults", 0o755)
	same("etc/uci-defaults/90-minipot-firewall", "../firewall-scripts/uci-defaults/90-minipot-firewall", 0o755)
	same("usr/share/minipot/firewall.include", "../firewall-scripts/firewall.include", 0o644)
	if dest, err := os.Readlink(filepath.Join(root, "usr/share/nftables.d/chain-pre/input_wan/30-minipot.nft")); err != nil || dest != "/var/run/minipot-fw4-input.nft" {
		t.Errorf("the fw4 include: want a symlink to the file apply writes, got %q (%v)", dest, err)
	}
	if dest, err := os.Readlink(filepath.Join(root, "usr/libexec/rpcd/minipot")); err != nil || dest != "/usr/bin/minipot" {
		t.Errorf("usr/libexec/rpcd/minipot: want a symlink to /usr/bin/minipot, got %q (%v)", dest, err)
	}
	owLoadSettings(t, filepath.Join(root, "etc/config/ucollect"))

	if c, _ := os.ReadFile(filepath.Join(out, "conffiles")); strings.TrimSpace(string(c)) != "/etc/config/ucollect" {
		t.Errorf("conffiles = %q, want /etc/config/ucollect", c)
	}
	if u := owVar(t, out, "USERID"); !regexp.MustCompile(`^minipot=\d+:minipot=\d+$`).MatchString(u) {
		t.Errorf("USERID = %q, want minipot=UID:minipot=GID", u)
	}

	deps := strings.Fields(owVar(t, out, "DEPENDS"))
	// Per firewall: nftables modules with firewall4, iptables with fw3.
	for _, d := range []string{"+PACKAGE_firewall4:nftables", "+PACKAGE_firewall4:kmod-nft-nat", "+PACKAGE_firewall4:kmod-nft-socket",
		"+PACKAGE_firewall4:kmod-nft-fib",
		"+PACKAGE_firewall:iptables", "+PACKAGE_firewall:kmod-ipt-nat", "+PACKAGE_firewall:kmod-ipt-conntrack", "+PACKAGE_firewall:kmod-ipt-conntrack-extra",
		"+PACKAGE_firewall:iptables-mod-conntrack-extra", "+PACKAGE_firewall:kmod-ipt-extra", "+PACKAGE_firewall:iptables-mod-extra",
		"+PACKAGE_firewall:kmod-ipt-socket", "+PACKAGE_firewall:iptables-mod-socket",
		"+(PACKAGE_firewall&&MINIPOT_IPV6):kmod-ipt-nat6", "+(PACKAGE_firewall&&MINIPOT_IPV6):ip6tables"} {
		if !slices.Contains(deps, d) {
			t.Errorf("DEPENDS lacks %s: %v", d, deps)
		}
	}
	// The architectures are Go's (GO_ARCH_DEPENDS), MIPS included: no
	// @(...) term may leave out the MIPS routers, which the store's SQLite
	// now builds for (docs/architectures.md).
	for _, d := range deps {
		if !strings.HasPrefix(d, "@(") {
			continue
		}
		archs := strings.Split(strings.Trim(d, "@()"), "||")
		for _, a := range []string{"mips", "mipsel", "arm", "aarch64", "x86_64"} {
			if !slices.Contains(archs, a) {
				t.Errorf("DEPENDS term %s leaves out %s", d, a)
			}
		}
	}
	if d := owVar(t, out, "PKG_CONFIG_DEPENDS"); !strings.Contains(d, "CONFIG_MINIPOT_IPV6") {
		t.Errorf("PKG_CONFIG_DEPENDS = %q: a change of MINIPOT_IPV6 must rebuild the package", d)
	}
	if c, _ := os.ReadFile(filepath.Join(out, "config")); !strings.Contains(string(c), "config MINIPOT_IPV6") {
		t.Errorf("no MINIPOT_IPV6 option in Package/minipot/config:\n%s", c)
	}

	modPath := owModulePath(t)
	if v := owVar(t, out, "GO_PKG"); v != modPath {
		t.Errorf("GO_PKG = %q, want the module path %q", v, modPath)
	}
	if v := owVar(t, out, "GO_PKG_BUILD_PKG"); v != modPath+"/cmd/minipot" {
		t.Errorf("GO_PKG_BUILD_PKG = %q, want %s/cmd/minipot", v, modPath)
	}
	if v := owVar(t, out, "GO_PKG_LDFLAGS_X"); !strings.HasPrefix(v, "main.version=") {
		t.Errorf("GO_PKG_LDFLAGS_X = %q, want main.version=...", v)
	}

	// The maintainer scripts, as the build system writes them out.
	shellcheck := need(t, "shellcheck")
	for _, s := range []string{"postinst", "prerm", "postrm"} {
		t.Run(s, func(t *testing.T) {
			p := filepath.Join(out, s)
			if b, _ := os.ReadFile(p); !strings.HasPrefix(string(b), "#!/bin/sh\n") {
				t.Fatalf("Package/minipot/%s does not start with #!/bin/sh:\n%s", s, b)
			}
			owLint(t, shellcheck, p)
		})
	}
	prerm, _ := os.ReadFile(filepath.Join(out, "prerm"))
	for _, want := range []string{"minipot firewall remove", "uci -q delete firewall.minipot", "/etc/init.d/firewall reload"} {
		if !strings.Contains(string(prerm), want) {
			t.Errorf("prerm does not run %q", want)
		}
	}
	// Stopping the API comes before removing the rules, which it would
	// otherwise put back.
	if i, j := strings.Index(string(prerm), "/etc/init.d/minipot stop"), strings.Index(string(prerm), "firewall remove"); i < 0 || i > j {
		t.Error("prerm must stop the service before it removes the rules")
	}
}

func TestOpenWrtPackageWithoutIPv6(t *testing.T) {
	mk := need(t, "make")
	root, _ := owBuild(t, mk, false)
	s := owLoadSettings(t, filepath.Join(root, "etc/config/ucollect"))
	if s.Firewall.IPv6 {
		t.Error("built without MINIPOT_IPV6, the shipped settings still redirect IPv6: every apply would fail for want of the ip6tables nat table")
	}
}

func owModulePath(t *testing.T) string {
	t.Helper()
	f, err := os.Open("../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if p, ok := strings.CutPrefix(sc.Text(), "module "); ok {
			return strings.TrimSpace(p)
		}
	}
	t.Fatal("no module line in go.mod")
	return ""
}

// owProcdHarness writes a shell script that defines a recording stand-in
// for procd's shell API and for rc.common and /lib/functions.sh, sources
// the init script, and runs the function named by its arguments. Every
// call lands in LOG, one line each.
const owProcdHarness = `LOG=$1; INIT=$2; shift 2
rec() { echo "$*" >>"$LOG"; }
procd_open_instance() { rec "open_instance $*"; }
procd_set_param() { rec "set_param $*"; }
procd_append_param() { rec "append_param $*"; }
procd_close_instance() { rec "close_instance"; }
procd_add_reload_trigger() { rec "reload_trigger $*"; }
procd_add_config_trigger() { rec "config_trigger $*"; }
procd_add_interface_trigger() { rec "interface_trigger $*"; }
procd_send_signal() { rec "send_signal $*"; }
procd_kill() { rec "procd_kill $*"; }
start() { rec "start"; }
stop() { rec "stop"; }
restart() { rec "restart"; }
config_load() { :; }
config_get() {
	_v=$(uci -q get "$_pkg.$2.$3") || _v=$4
	eval "$1=\$_v"
}
_pkg=ucollect
. "$INIT"
"$@"
`

type owInitEnv struct {
	t                *testing.T
	conf, run, lib   string
	log, init, stubs string
	harness, cwd     string
	minipotStub      string
	instances        map[string][]string // instance name → its set_param lines
	instanceOrder    []string
	lines            []string // the log of the last call
}

// newOwInitEnv copies the init script with every path constant pointed
// into a temporary folder, and stubs for minipot, chown and logger.
func newOwInitEnv(t *testing.T, withFW3 bool) *owInitEnv {
	t.Helper()
	dir := t.TempDir()
	e := &owInitEnv{t: t, conf: filepath.Join(dir, "config"), run: filepath.Join(dir, "run/minipot"),
		lib: filepath.Join(dir, "lib/minipot"), log: filepath.Join(dir, "log")}
	os.MkdirAll(e.conf, 0o755)
	logQ := shellQuote(e.log)
	stubs := map[string]string{
		"chown":  `echo "chown $*" >>` + logQ + "\n",
		"logger": `echo "logger $*" >>` + logQ + "\n",
		"uci":    "exec " + minipotBin + " uci -c " + shellQuote(e.conf) + " -t " + shellQuote(filepath.Join(dir, "uci-delta")) + " \"$@\"\n",
		// The stand-in for /usr/bin/minipot only says what it was asked.
		"minipot": `echo "minipot $*" >>` + logQ + "\necho applied\n",
	}
	if withFW3 {
		stubs["fw3"] = "exit 0\n"
	}
	e.stubs = stubBin(t, stubs)
	e.minipotStub = filepath.Join(e.stubs, "minipot")

	include, err := os.ReadFile("../firewall-scripts/firewall.include")
	if err != nil {
		t.Fatal(err)
	}
	fwInclude := filepath.Join(dir, "firewall.include")
	os.WriteFile(fwInclude, []byte(strings.Replace(string(include), "/usr/bin/minipot", e.minipotStub, 1)), 0o644)

	src, err := os.ReadFile(owFilesDir + "/minipot.init")
	if err != nil {
		t.Fatal(err)
	}
	text := string(src)
	for _, r := range [][2]string{
		{"PROG=/usr/bin/minipot\n", "PROG=" + e.minipotStub + "\n"},
		{"CONF_DIR=/etc/config\n", "CONF_DIR=" + e.conf + "\n"},
		{"RUN_DIR=/var/run/minipot\n", "RUN_DIR=" + e.run + "\n"},
		{"API_SOCKET=/var/run/minipot-api.sock\n", "API_SOCKET=" + filepath.Join(dir, "api.sock") + "\n"},
		{"STORE_DEFAULT=/var/lib/minipot/events.db\n", "STORE_DEFAULT=" + e.lib + "/events.db\n"},
		{"FW_INCLUDE=/usr/share/minipot/firewall.include\n", "FW_INCLUDE=" + fwInclude + "\n"},
	} {
		if !strings.Contains(text, r[0]) {
			t.Fatalf("the init script no longer has the line %q the test rewrites", strings.TrimSpace(r[0]))
		}
		text = strings.Replace(text, r[0], r[1], 1)
	}
	e.init = filepath.Join(dir, "minipot.init")
	os.WriteFile(e.init, []byte(text), 0o755)
	e.harness = filepath.Join(dir, "harness.sh")
	os.WriteFile(e.harness, []byte(owProcdHarness), 0o644)
	// procd runs init scripts from /; here, from a folder of their own.
	e.cwd = filepath.Join(dir, "cwd")
	os.MkdirAll(e.cwd, 0o755)
	return e
}

// writeConfig writes package ucollect into the fake /etc/config.
func (e *owInitEnv) writeConfig(text string, mode os.FileMode) {
	p := filepath.Join(e.conf, "ucollect")
	if err := os.WriteFile(p, []byte(text), mode); err != nil {
		e.t.Fatal(err)
	}
	os.Chmod(p, mode)
}

// call runs init script functions (each one a separate run, as rc.common
// does) and parses the log.
func (e *owInitEnv) call(fn string) {
	e.t.Helper()
	os.Remove(e.log)
	cmd := exec.Command("sh", e.harness, e.log, e.init, fn)
	cmd.Dir = e.cwd
	cmd.Env = append(os.Environ(), "PATH="+e.stubs+":/usr/sbin:/usr/bin:/sbin:/bin")
	if out, err := cmd.CombinedOutput(); err != nil {
		e.t.Fatalf("%s: %v\n%s", fn, err, out)
	}
	data, _ := os.ReadFile(e.log)
	e.lines = strings.Split(strings.TrimSpace(string(data)), "\n")
	e.instances, e.instanceOrder = map[string][]string{}, nil
	cur := ""
	for _, l := range e.lines {
		switch {
		case strings.HasPrefix(l, "open_instance "):
			cur = strings.TrimPrefix(l, "open_instance ")
			e.instanceOrder = append(e.instanceOrder, cur)
		case l == "close_instance":
			cur = ""
		case strings.HasPrefix(l, "set_param ") && cur != "":
			e.instances[cur] = append(e.instances[cur], strings.TrimPrefix(l, "set_param "))
		}
	}
}

// param returns an instance's set_param value for a type ("" and false if
// not set).
func (e *owInitEnv) param(instance, typ string) (string, bool) {
	for _, p := range e.instances[instance] {
		if p == typ || strings.HasPrefix(p, typ+" ") {
			return strings.TrimSpace(strings.TrimPrefix(p, typ)), true
		}
	}
	return "", false
}

// index is the position of the first log line with this prefix, or -1.
func (e *owInitEnv) index(prefix string) int {
	return slices.IndexFunc(e.lines, func(l string) bool { return strings.HasPrefix(l, prefix) })
}

func TestOpenWrtInitStart(t *testing.T) {
	e := newOwInitEnv(t, true)
	// As a Turris ucollect-era file might be: root-only.
	e.writeConfig("config fakes 'fakes'\n\toption enabled '1'\n", 0o600)
	e.call("start_service")

	if !slices.Equal(e.instanceOrder, []string{"agent", "export", "api"}) {
		t.Fatalf("instances %v, want agent, export and api\n%s", e.instanceOrder, strings.Join(e.lines, "\n"))
	}
	cmd, _ := e.param("agent", "command")
	if want := e.minipotStub + " agent -c " + e.conf + " --run-dir " + e.run; cmd != want {
		t.Errorf("agent command %q, want %q", cmd, want)
	}
	if u, _ := e.param("agent", "user"); u != "minipot" {
		t.Errorf("the agent runs as %q, want the unprivileged user minipot", u)
	}
	if v, _ := e.param("agent", "no_new_privs"); v != "1" {
		t.Error("the agent lacks no_new_privs")
	}
	// The exporter talks to the internet too: unprivileged, like the agent.
	cmd, _ = e.param("export", "command")
	if want := e.minipotStub + " export -c " + e.conf + " --run-dir " + e.run; cmd != want {
		t.Errorf("export command %q, want %q", cmd, want)
	}
	if u, _ := e.param("export", "user"); u != "minipot" {
		t.Errorf("the exporter runs as %q, want the unprivileged user minipot", u)
	}
	if v, _ := e.param("export", "no_new_privs"); v != "1" {
		t.Error("the exporter lacks no_new_privs")
	}
	cmd, _ = e.param("api", "command")
	if !strings.HasPrefix(cmd, e.minipotStub+" api ") || !strings.Contains(cmd, " --firewall") ||
		!strings.Contains(cmd, " -c "+e.conf) || !strings.Contains(cmd, " --run-dir "+e.run) || !strings.Contains(cmd, " --socket ") {
		t.Errorf("api command %q: want minipot api -c CONF --run-dir RUN --socket ... --firewall", cmd)
	}
	if u, ok := e.param("api", "user"); ok {
		t.Errorf("the API runs as %q; it must be root (it rewrites UCI and iptables)", u)
	}
	for _, inst := range []string{"agent", "export", "api"} {
		if v, ok := e.param(inst, "respawn"); !ok || v != "" {
			t.Errorf("%s: respawn %q/%v, want respawn with procd's defaults", inst, v, ok)
		}
		for _, p := range []string{"stdout", "stderr"} {
			if v, _ := e.param(inst, p); v != "1" {
				t.Errorf("%s: %s not sent to syslog", inst, p)
			}
		}
		if _, ok := e.param(inst, "file"); ok {
			t.Errorf("%s: a `file` param makes procd restart it on every settings change instead of reloading", inst)
		}
	}

	for _, d := range []string{e.run, e.lib} {
		if fi, err := os.Stat(d); err != nil || !fi.IsDir() {
			t.Errorf("%s not created: %v", d, err)
		}
		if !slices.Contains(e.lines, "chown minipot:minipot "+d) {
			t.Errorf("%s not given to minipot\n%s", d, strings.Join(e.lines, "\n"))
		}
	}
	if fi, _ := os.Stat(filepath.Join(e.conf, "ucollect")); fi.Mode().Perm()&0o004 == 0 {
		t.Errorf("/etc/config/ucollect has mode %v: the agent (user minipot) cannot read it", fi.Mode().Perm())
	}
	// Nothing at start touches the rules: the API converges them.
	if e.index("minipot firewall") >= 0 {
		t.Errorf("start_service ran the firewall:\n%s", strings.Join(e.lines, "\n"))
	}
}

func TestOpenWrtInitStoreFolder(t *testing.T) {
	e := newOwInitEnv(t, true)
	usb := filepath.Join(t.TempDir(), "usb")
	missing := filepath.Join(usb, "minipot")
	e.writeConfig("config store 'store'\n\toption path '"+missing+"/events.db'\n", 0o644)
	e.call("start_service")
	if fi, err := os.Stat(missing); err != nil || !fi.IsDir() || !slices.Contains(e.lines, "chown minipot:minipot "+missing) {
		t.Errorf("a missing store folder must be created for minipot (%v)\n%s", err, strings.Join(e.lines, "\n"))
	}

	// An existing folder is the owner's: never chowned.
	existing := t.TempDir()
	e.writeConfig("config store 'store'\n\toption path '"+existing+"/events.db'\n", 0o644)
	e.call("start_service")
	if slices.ContainsFunc(e.lines, func(l string) bool { return strings.HasPrefix(l, "chown") && strings.HasSuffix(l, existing) }) {
		t.Errorf("start_service chowned the existing folder %s\n%s", existing, strings.Join(e.lines, "\n"))
	}

	// A relative path (the agent refuses it) creates nothing anywhere.
	e.writeConfig("config store 'store'\n\toption path 'minipot/events.db'\n", 0o644)
	e.call("start_service")
	if _, err := os.Stat(filepath.Join(e.cwd, "minipot")); err == nil || e.index("chown minipot:minipot minipot") >= 0 {
		t.Errorf("a relative store path made the script create a folder\n%s", strings.Join(e.lines, "\n"))
	}
	if e.index("open_instance agent") < 0 {
		t.Error("with a bad store path the instances must still be defined: the agent reports the error")
	}
}

func TestOpenWrtInitReload(t *testing.T) {
	e := newOwInitEnv(t, true)
	e.writeConfig("config fakes 'fakes'\n", 0o644)
	e.call("reload_service")
	apply, hup, start := e.index("minipot firewall apply"), e.index("send_signal minipot agent HUP"), e.index("start")
	if xhup := e.index("send_signal minipot export HUP"); xhup < 0 || xhup > start {
		t.Errorf("reload must send SIGHUP to the exporter before `start`:\n%s", strings.Join(e.lines, "\n"))
	}
	if apply < 0 || hup < 0 || start < 0 || !(apply < hup && hup < start) {
		t.Errorf("reload must apply the firewall, then send SIGHUP to the agent, then `start` (which keeps running instances); got\n%s",
			strings.Join(e.lines, "\n"))
	}
	if e.index("logger -t minipot-firewall") < 0 {
		t.Errorf("the firewall outcome is not logged:\n%s", strings.Join(e.lines, "\n"))
	}
	for _, bad := range []string{"stop", "restart", "procd_kill", "open_instance"} {
		if e.index(bad) >= 0 {
			t.Errorf("reload ran %q: it must not restart anything\n%s", bad, strings.Join(e.lines, "\n"))
		}
	}
}

func TestOpenWrtInitTriggers(t *testing.T) {
	e := newOwInitEnv(t, true)
	e.call("service_triggers")
	if !slices.Contains(e.lines, "reload_trigger ucollect") {
		t.Errorf("no reload trigger on package ucollect:\n%s", strings.Join(e.lines, "\n"))
	}
	// Under fw3 its include re-applies the rules: no trigger of our own.
	if e.index("config_trigger") >= 0 {
		t.Errorf("with fw3 a firewall trigger is redundant:\n%s", strings.Join(e.lines, "\n"))
	}

	e = newOwInitEnv(t, false)
	e.call("service_triggers")
	if !slices.ContainsFunc(e.lines, func(l string) bool {
		return strings.HasPrefix(l, "config_trigger config.change firewall /bin/sh ") && strings.HasSuffix(l, "firewall.include")
	}) {
		t.Errorf("without fw3, a change of the firewall config must re-apply the rules:\n%s", strings.Join(e.lines, "\n"))
	}
}

// TestOpenWrtUCIDefaults runs the uci-defaults script the way OpenWrt does
// (sourced in a subshell, from its folder), twice, with `minipot uci` as
// uci: the first run adds what is missing and keeps every value set, the
// second changes nothing, not even the file's time.
func TestOpenWrtUCIDefaults(t *testing.T) {
	src, err := os.ReadFile(owFilesDir + "/minipot.defaults")
	if err != nil {
		t.Fatal(err)
	}
	shipped, err := os.ReadFile(owFilesDir + "/ucollect.config")
	if err != nil {
		t.Fatal(err)
	}
	const confLine = "minipot_conf=/etc/config/ucollect\n"
	if !strings.Contains(string(src), confLine) {
		t.Fatalf("the script no longer has the line %q the test rewrites", strings.TrimSpace(confLine))
	}

	for _, c := range []struct {
		name    string
		initial *string
		want    map[string]string // uci get → value after the runs
		check   func(t *testing.T, s settings.Settings)
	}{
		{name: "no file", want: map[string]string{
			"ucollect.fakes": "fakes", "ucollect.fakes.enabled": "1", "ucollect.fakes.log_credentials": "0",
			"ucollect.agent": "agent", "ucollect.limits": "limits", "ucollect.firewall": "firewall",
			"ucollect.store.path": "/var/lib/minipot/events.db"}},
		{name: "shipped file", initial: ptr(string(shipped))},
		{name: "turris ucollect era", initial: ptr(`
config fakes
	option log_credentials '1'
	list disable '2323tcp'
	list disable '8123tcp'

config agent 'agent'
	option hostname 'turris'

config store 'store'
	option path '/srv/minipot/events.db'

config plugin
	option libname 'libplugin_count.so'
`), want: map[string]string{
			"ucollect.fakes.log_credentials": "1", "ucollect.fakes.disable": "2323tcp 8123tcp", "ucollect.fakes.enabled": "1",
			"ucollect.agent.hostname": "turris", "ucollect.store.path": "/srv/minipot/events.db",
			"ucollect.@plugin[0].libname": "libplugin_count.so", "ucollect.limits": "limits", "ucollect.firewall": "firewall"},
			check: func(t *testing.T, s settings.Settings) {
				if !s.LogCredentials || !slices.Equal(s.Disabled, []string{"2323tcp", "8123tcp"}) {
					t.Errorf("the owner's fakes settings were lost: %+v", s)
				}
			}},
		{name: "switched off", initial: ptr("config fakes 'fakes'\n\toption enabled '0'\n"),
			want: map[string]string{"ucollect.fakes.enabled": "0", "ucollect.fakes.log_credentials": "0"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			conf := filepath.Join(dir, "config")
			os.MkdirAll(conf, 0o755)
			file := filepath.Join(conf, "ucollect")
			if c.initial != nil {
				os.WriteFile(file, []byte(*c.initial), 0o644)
			}
			uciCmd := minipotBin + " uci -c " + shellQuote(conf) + " -t " + shellQuote(filepath.Join(dir, "delta"))
			bin := stubBin(t, map[string]string{"uci": "exec " + uciCmd + " \"$@\"\n"})
			defaults := filepath.Join(dir, "uci-defaults", "80-minipot")
			os.MkdirAll(filepath.Dir(defaults), 0o755)
			os.WriteFile(defaults, []byte(strings.Replace(string(src), confLine, "minipot_conf="+file+"\n", 1)), 0o755)
			run := func() {
				t.Helper()
				// As /etc/init.d/boot and default_postinst do.
				cmd := exec.Command("sh", "-c", `cd "$(dirname "$1")" && ( . "./$(basename "$1")" )`, "sh", defaults)
				cmd.Env = append(os.Environ(), "PATH="+bin+":/usr/bin:/bin")
				if out, err := cmd.CombinedOutput(); err != nil {
					t.Fatalf("uci-defaults script: %v\n%s", err, out)
				}
			}

			run()
			first, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			fi1, _ := os.Stat(file)
			if c.initial != nil && *c.initial == string(shipped) && string(first) != string(shipped) {
				t.Errorf("the shipped file was rewritten:\n%s", first)
			}
			s := owLoadSettings(t, file)
			if c.check != nil {
				c.check(t, s)
			}
			for ref, want := range c.want {
				out, err := exec.Command("sh", "-c", uciCmd+" get "+shellQuote(ref)).Output()
				if got := strings.TrimSpace(string(out)); err != nil || got != want {
					t.Errorf("uci get %s = %q (%v), want %q\n%s", ref, got, err, want, first)
				}
			}

			run()
			second, _ := os.ReadFile(file)
			fi2, _ := os.Stat(file)
			if string(second) != string(first) || !fi2.ModTime().Equal(fi1.ModTime()) {
				t.Errorf("the second run changed the file:\n%s\n-- after the first run:\n%s", second, first)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

// shellQuote quotes a string for sh.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

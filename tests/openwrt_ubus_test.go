package tests

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// OpenWrt's real ubusd and rpcd (built in /opt/openwrt-host from
// ../shared/openwrt), run as on a router: rpcd in a private mount namespace
// where /usr/libexec/rpcd, /usr/share/rpcd/acl.d, /usr/bin/minipot and
// /etc/config/rpcd are the packages' files as they install them (the
// minipot package through its Makefile, luci-app-minipot's root/), and
// /var/run/minipot-api.sock is a real `minipot api`.

const owHost = "/opt/openwrt-host"

// The logins of the test's /etc/config/rpcd: one with luci-app-minipot's
// ACL for reading and writing (a LuCI admin limited to this app), one
// with its read half only; luci-admin and luci-viewer are the same with
// the groups of luci-base's ACL (installed with owUbusOpts.extraACLs),
// which every LuCI login has. Password hashes as rpcd checks them (crypt).
const (
	owPassword  = "secret"
	owCryptHash = "$1$minipot$O7NH8jh7U1WKBiXPK48Nx." // openssl passwd -1 -salt minipot secret
	owRPCDConf  = `config login
	option username 'admin'
	option password '` + owCryptHash + `'
	list read 'luci-app-minipot'
	list write 'luci-app-minipot'

config login
	option username 'viewer'
	option password '` + owCryptHash + `'
	list read 'luci-app-minipot'

config login
	option username 'luci-admin'
	option password '` + owCryptHash + `'
	list read 'unauthenticated'
	list read 'luci-base'
	list read 'luci-app-minipot'
	list write 'luci-app-minipot'

config login
	option username 'luci-viewer'
	option password '` + owCryptHash + `'
	list read 'unauthenticated'
	list read 'luci-base'
	list read 'luci-app-minipot'
`
)

// owUbus is one running ubusd and rpcd.
type owUbus struct {
	t          *testing.T
	socket     string // ubusd's
	root       string // the installed package files
	rpcd       *exec.Cmd
	noResponse atomic.Int32 // calls answered "No response" (see call)
}

// maxNoResponse is how many "No response" answers of rpcd one world
// tolerates, each retried once.
const maxNoResponse = 3

// owUbusOpts: what the world starts with.
type owUbusOpts struct {
	apiSocket string // bound to /var/run/minipot-api.sock; "" for none
	// noPlugin starts rpcd before the plugin is in /usr/libexec/rpcd, as
	// when the package is installed on a running router.
	noPlugin bool
	// extraACLs are further acl.d files to install (luci-base's).
	extraACLs []string
	// configs are further files of /etc/config, by name.
	configs map[string]string
}

func needOpenWrtHost(t *testing.T, what ...string) {
	t.Helper()
	needRoot(t)
	for _, p := range what {
		if _, err := os.Stat(filepath.Join(owHost, p)); err != nil {
			if inCI() {
				t.Fatalf("%s is required (CI=true; .ci/run builds it): %v", p, err)
			}
			t.Skipf("needs OpenWrt's userland in %s (../shared/openwrt/build.sh): %v", owHost, err)
		}
	}
}

// startOpenWrtUbus runs ubusd and rpcd with the packages installed.
func startOpenWrtUbus(t *testing.T, o owUbusOpts) *owUbus {
	t.Helper()
	needOpenWrtHost(t, "sbin/ubusd", "sbin/rpcd", "bin/ubus")
	mk := need(t, "make")
	root, _ := owBuild(t, mk, true)
	// luci-app-minipot's files: luci.mk installs root/ as it is.
	acl := filepath.Join(root, "usr/share/rpcd/acl.d")
	if err := os.MkdirAll(acl, 0o755); err != nil {
		t.Fatal(err)
	}
	copyFile(t, luciACL, filepath.Join(acl, filepath.Base(luciACL)))
	for _, f := range o.extraACLs {
		copyFile(t, f, filepath.Join(acl, filepath.Base(f)))
	}
	if o.noPlugin {
		os.Remove(filepath.Join(root, "usr/libexec/rpcd/minipot"))
	}
	etc := filepath.Join(t.TempDir(), "etc")
	os.MkdirAll(filepath.Join(etc, "config"), 0o755)
	os.MkdirAll(filepath.Join(etc, "init.d"), 0o755)
	if err := os.WriteFile(filepath.Join(etc, "config/rpcd"), []byte(owRPCDConf), 0o600); err != nil {
		t.Fatal(err)
	}
	for name, content := range o.configs {
		if err := os.WriteFile(filepath.Join(etc, "config", name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	dir := t.TempDir()
	u := &owUbus{t: t, socket: filepath.Join(dir, "ubus.sock"), root: root}
	// What OpenWrt's /etc/init.d/rpcd reload does (procd sends SIGHUP).
	pidFile := filepath.Join(dir, "rpcd.pid")
	initRPCD := "#!/bin/sh\n[ \"$1\" = reload ] && kill -HUP \"$(cat " + pidFile + ")\"\n"
	if err := os.WriteFile(filepath.Join(etc, "init.d/rpcd"), []byte(initRPCD), 0o755); err != nil {
		t.Fatal(err)
	}

	ubusd := exec.Command(owHost+"/sbin/ubusd", "-s", u.socket)
	ubusdErr := &syncBuffer{}
	ubusd.Stderr = ubusdErr
	if err := ubusd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ubusd.Process.Kill(); ubusd.Wait() })
	eventually(t, 5*time.Second, "ubusd listens", func() (bool, string) {
		_, err := os.Stat(u.socket)
		return err == nil, ubusdErr.String()
	})

	// /usr/libexec is the package's (writable: a package may be installed
	// while rpcd runs); /usr/share, /usr/bin and /etc are the host's with
	// the packages' files over them; /run is a tmpfs of rpcd's own.
	script := `set -e
mount --bind "$ROOT/usr/libexec" /usr/libexec
mount -t overlay overlay -o "lowerdir=$ROOT/usr/share:/usr/share" /usr/share
mount -t overlay overlay -o "lowerdir=$ROOT/usr/bin:/usr/bin" /usr/bin
mount -t overlay overlay -o "lowerdir=$ETC:/etc" /etc
mount -t tmpfs -o mode=0755 tmpfs /run
if [ -S "$API" ]; then
	: >/run/minipot-api.sock
	mount --bind "$API" /run/minipot-api.sock
fi
echo $$ >"$PIDFILE"
exec "$RPCD" -s "$UBUS" -t 30
`
	u.rpcd = exec.Command("unshare", "-m", "--propagation", "private", "sh", "-c", script)
	u.rpcd.Env = append(os.Environ(), "ROOT="+root, "ETC="+etc, "API="+o.apiSocket, "PIDFILE="+pidFile,
		"RPCD="+owHost+"/sbin/rpcd", "UBUS="+u.socket)
	rpcdErr := &syncBuffer{}
	u.rpcd.Stdout, u.rpcd.Stderr = rpcdErr, rpcdErr
	if err := u.rpcd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- u.rpcd.Wait() }()
	t.Cleanup(func() {
		select {
		case err := <-exited:
			t.Errorf("rpcd exited before the test ended: %v %s", err, rpcdErr.String())
			return
		default:
		}
		u.rpcd.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("rpcd: %s", rpcdErr.String())
		}
	})
	eventually(t, 10*time.Second, "rpcd registers the session object", func() (bool, string) {
		out, err := u.ubus("list", "session")
		return err == nil, out + rpcdErr.String()
	})
	return u
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	data, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// ubus runs OpenWrt's ubus command on this ubusd.
func (u *owUbus) ubus(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, owHost+"/bin/ubus", append([]string{"-s", u.socket, "-t", "35"}, args...)...)
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	err := cmd.Run()
	if err != nil {
		return out.String() + stderr.String(), err
	}
	return out.String(), nil
}

// inNS runs a command in rpcd's mount namespace (the router's paths).
func (u *owUbus) inNS(name string, args ...string) (string, error) {
	cmd := exec.Command("nsenter", append([]string{"-t", strconv.Itoa(u.rpcd.Process.Pid), "-m", "--", name}, args...)...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// login opens an rpcd session as LuCI's login does.
func (u *owUbus) login(user string) string {
	u.t.Helper()
	out, err := u.ubus("call", "session", "login", jsonString(map[string]string{"username": user, "password": owPassword}))
	var reply struct {
		Session string `json:"ubus_rpc_session"`
	}
	if err != nil || json.Unmarshal([]byte(out), &reply) != nil || reply.Session == "" {
		u.t.Fatalf("login as %s: %v %s", user, err, out)
	}
	return reply.Session
}

// ubus status codes (libubus).
const (
	ubusOK               = 0
	ubusInvalidArgument  = 2
	ubusNotFound         = 4
	ubusPermissionDenied = 6
)

// call is what uhttpd's /ubus endpoint does for LuCI: `session access`
// for the caller's session, then the call with ubus_rpc_session added.
// It returns the ubus status and the reply.
func (u *owUbus) call(sid, object, method string, args map[string]any) (int, map[string]any) {
	u.t.Helper()
	out, err := u.ubus("call", "session", "access", jsonString(map[string]string{
		"ubus_rpc_session": sid, "scope": "ubus", "object": object, "function": method}))
	var access struct {
		Access bool `json:"access"`
	}
	if err != nil || json.Unmarshal([]byte(out), &access) != nil {
		u.t.Fatalf("session access: %v %s", err, out)
	}
	if !access.Access {
		return ubusPermissionDenied, nil
	}
	in := map[string]any{}
	for k, v := range args {
		in[k] = v
	}
	in["ubus_rpc_session"] = sid
	out, err = u.ubus("call", object, method, jsonString(in))
	if err != nil && strings.Contains(out, "(No response)") && u.noResponse.Add(1) <= maxNoResponse {
		// rpcd corrupts its memory under concurrent exec-plugin calls
		// (docs/openwrt.md, ubus, "Known problem"): a call is retried
		// once, and more than maxNoResponse in one rpcd fail.
		u.t.Logf("ubus call %s %s: %s; retrying once", object, method, strings.TrimSpace(out))
		out, err = u.ubus("call", object, method, jsonString(in))
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		// ubus exits with the status code; the message names it.
		switch {
		case strings.Contains(out, "Not found"):
			return ubusNotFound, nil
		case strings.Contains(out, "Invalid argument"):
			return ubusInvalidArgument, nil
		case strings.Contains(out, "Permission denied"):
			return ubusPermissionDenied, nil
		}
		u.t.Fatalf("ubus call %s %s: %v %s", object, method, err, out)
	} else if err != nil {
		u.t.Fatalf("ubus call %s %s: %v %s", object, method, err, out)
	}
	var reply map[string]any
	if err := json.Unmarshal([]byte(out), &reply); err != nil || reply == nil {
		u.t.Fatalf("ubus call %s %s: not one JSON object: %v\n%.500s", object, method, err, out)
	}
	return ubusOK, reply
}

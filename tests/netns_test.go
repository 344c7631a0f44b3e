package tests

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// This file holds the network-namespace plumbing of the firewall tests:
// namespaces that clean up after themselves, and sockets opened inside a
// namespace by the test process itself (a thread enters the namespace,
// opens the socket, and leaves; the socket stays in the namespace).

// nsPrefix starts the name of every namespace these tests create; the pid
// that follows lets a later run find and delete the leftovers of a run
// that crashed.
const nsPrefix = "mpfw"

// needRoot skips without root, except under CI, where it fails.
func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if inCI() {
		t.Fatal("the firewall tests need root (CI=true)")
	}
	t.Skip("the firewall tests need root: they build network namespaces and change their iptables rules")
}

// removeStaleNamespaces deletes namespaces of earlier runs whose process is
// gone, and ends what still runs in them (the agents those runs started).
func removeStaleNamespaces(t *testing.T) {
	entries, _ := os.ReadDir("/run/netns")
	for _, e := range entries {
		rest, ok := strings.CutPrefix(e.Name(), nsPrefix)
		if !ok {
			continue
		}
		digits := rest[:len(rest)-len(strings.TrimLeft(rest, "0123456789"))]
		pid, err := strconv.Atoi(digits)
		if err != nil || pid == os.Getpid() || syscall.Kill(pid, 0) == nil {
			continue
		}
		deleteNamespace(e.Name())
		t.Logf("removed namespace %s left by an earlier run", e.Name())
	}
}

// deleteNamespace kills what runs inside ns and deletes it.
func deleteNamespace(ns string) {
	out, _ := exec.Command("ip", "netns", "pids", ns).Output()
	for _, f := range strings.Fields(string(out)) {
		if pid, err := strconv.Atoi(f); err == nil {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	exec.Command("ip", "netns", "del", ns).Run()
}

// routerWorld builds the three namespaces of a router test, named after
// this process's pid and tag (so that tests running at once never share
// one), wired as
//
//	attacker ──eth0──wan0── router ──lan0──eth0── LAN host
//
// with the addresses of worldFamilies, forwarding on in the router, the
// attacker reaching the LAN through the router (routed traffic, which
// minipot must leave alone) and the router as the LAN host's way out.
func routerWorld(t *testing.T, tag string) (attacker, router, lan string) {
	t.Helper()
	name := func(role string) string { return fmt.Sprintf("%s%d%s%s", nsPrefix, os.Getpid(), tag, role) }
	attacker, router, lan = name("a"), name("r"), name("l")
	for _, ns := range []string{attacker, router, lan} {
		addNamespace(t, ns)
	}
	mustRun(t, "ip", "link", "add", "wan0", "netns", router, "type", "veth", "peer", "name", "eth0", "netns", attacker)
	mustRun(t, "ip", "link", "add", "lan0", "netns", router, "type", "veth", "peer", "name", "eth0", "netns", lan)
	setSysctl(t, router, "net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1")
	for _, a := range worldFamilies {
		ip := "-4"
		if a.fam == "ipv6" {
			ip = "-6"
		}
		addr := func(ns, dev, address, plen string) {
			mustRun(t, "ip", "-n", ns, ip, "addr", "add", address+"/"+plen, "dev", dev, "nodad")
		}
		addr(attacker, "eth0", a.attacker, a.wanNet)
		addr(router, "wan0", a.routerWAN, a.wanNet)
		addr(router, "lan0", a.routerLAN, a.lanNet)
		addr(lan, "eth0", a.lanHost, a.lanNet)
	}
	for _, l := range [][2]string{{attacker, "eth0"}, {router, "wan0"}, {router, "lan0"}, {lan, "eth0"}} {
		mustRun(t, "ip", "-n", l[0], "link", "set", l[1], "up")
	}
	for _, a := range worldFamilies {
		ip := "-4"
		if a.fam == "ipv6" {
			ip = "-6"
		}
		lanNet := netip.MustParsePrefix(a.lanHost + "/" + a.lanNet).Masked().String()
		mustRun(t, "ip", "-n", attacker, ip, "route", "add", lanNet, "via", a.routerWAN)
		mustRun(t, "ip", "-n", lan, ip, "route", "add", "default", "via", a.routerLAN)
	}
	return attacker, router, lan
}

// addNamespace creates a namespace that is deleted when the test ends,
// with loopback up and IPv6 duplicate address detection off, so that
// addresses work at once.
func addNamespace(t *testing.T, name string) {
	t.Helper()
	deleteNamespace(name)
	mustRun(t, "ip", "netns", "add", name)
	t.Cleanup(func() { deleteNamespace(name) })
	mustRun(t, "ip", "-n", name, "link", "set", "lo", "up")
	setSysctl(t, name, "net.ipv6.conf.all.accept_dad=0", "net.ipv6.conf.default.accept_dad=0")
}

// setSysctl sets kernel parameters of a namespace (key=value, as sysctl
// takes them) through /proc/sys, which needs no procps.
func setSysctl(t *testing.T, ns string, settings ...string) {
	t.Helper()
	var script strings.Builder
	for _, kv := range settings {
		k, v, _ := strings.Cut(kv, "=")
		fmt.Fprintf(&script, "echo %s > /proc/sys/%s\n", v, strings.ReplaceAll(k, ".", "/"))
	}
	mustRun(t, "ip", "netns", "exec", ns, "sh", "-ec", script.String())
}

// mustRun runs a command and fails the test when it fails.
func mustRun(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := runIn(nil, name, args...)
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return out
}

// runIn runs a command with stdin and a timeout; the output is stdout and
// stderr together.
func runIn(stdin []byte, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// inNetns runs fn on an OS thread that has entered the network namespace
// ns. Sockets fn opens belong to ns for their whole life.
func inNetns(ns string, fn func() error) error {
	target, err := os.Open("/run/netns/" + ns)
	if err != nil {
		return err
	}
	defer target.Close()
	runtime.LockOSThread()
	orig, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		runtime.UnlockOSThread()
		return err
	}
	defer orig.Close()
	if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("enter %s: %w", ns, err)
	}
	ferr := fn()
	if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err != nil {
		// The thread stays locked and dies with this goroutine rather
		// than run other code in the wrong namespace.
		return errors.Join(ferr, fmt.Errorf("leave %s: %w", ns, err))
	}
	runtime.UnlockOSThread()
	return ferr
}

// dialIn connects from namespace ns.
func dialIn(ns, host string, port int) (net.Conn, error) {
	var c net.Conn
	err := inNetns(ns, func() error {
		var err error
		c, err = net.DialTimeout("tcp", net.JoinHostPort(host, strconv.Itoa(port)), 3*time.Second)
		return err
	})
	return c, err
}

// bannerServer is a stand-in real service in a namespace: it greets every
// connection with its banner and closes it.
type bannerServer struct{ ln net.Listener }

// serveBanner listens on port, every address, IPv4 and IPv6, in ns.
func serveBanner(t *testing.T, ns string, port int, banner string) *bannerServer {
	t.Helper()
	var ln net.Listener
	if err := inNetns(ns, func() error {
		var err error
		ln, err = net.Listen("tcp", fmt.Sprintf(":%d", port))
		return err
	}); err != nil {
		t.Fatalf("listen on %d in %s: %v", port, ns, err)
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Write([]byte(banner + "\r\n"))
			c.Close()
		}
	}()
	s := &bannerServer{ln}
	t.Cleanup(s.Close)
	return s
}

func (s *bannerServer) Close() { s.ln.Close() }

// What answered a connection.
const (
	gotRefused = "refused"     // a TCP reset: nothing listens, or the firewall rejected it
	gotTelnet  = "fake telnet" // the minipot's login prompt
	gotHTTP    = "fake http"   // the minipot's 401
	gotProxy   = "fake proxy"  // the minipot's 407
)

// reach connects from ns to host:port and says what answered: one of the
// constants above, or the banner of a stand-in service.
func reach(ns, host string, port int) string {
	c, err := dialIn(ns, host, port)
	if err != nil {
		if errors.Is(err, syscall.ECONNREFUSED) {
			return gotRefused
		}
		return "error: " + err.Error()
	}
	defer c.Close()
	switch port {
	case 23, 2323, 1392, 3692:
	default: // an HTTP fake says nothing before a request; a banner ignores it
		fmt.Fprintf(c, "GET http://example.test/ HTTP/1.1\r\nHost: example.test\r\n\r\n")
	}
	c.SetDeadline(time.Now().Add(3 * time.Second))
	var got []byte
	buf := make([]byte, 4096)
	for {
		n, err := c.Read(buf)
		got = append(got, buf[:n]...)
		s := string(got)
		switch {
		case strings.Contains(s, "login: "):
			return gotTelnet
		case strings.HasPrefix(s, "HTTP/1.1 401"):
			return gotHTTP
		case strings.HasPrefix(s, "HTTP/1.1 407"):
			return gotProxy
		case strings.HasSuffix(s, "\r\n") && !strings.HasPrefix(s, "HTTP/") && !strings.HasPrefix(s, "\xff"):
			return strings.TrimSpace(s)
		}
		if err != nil {
			if errors.Is(err, syscall.ECONNRESET) && len(got) == 0 {
				return gotRefused
			}
			if err == io.EOF {
				return fmt.Sprintf("closed after %q", s)
			}
			return fmt.Sprintf("%v after %q", err, s)
		}
	}
}

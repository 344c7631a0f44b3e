package tests

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/minipot/minipot/internal/servicestate"
)

// TestServiceStateOnRouter: the state /status gives is what an attacker
// meets, on a router with real iptables (the world of TestFirewall): the
// real API manages the rules, and for each case the test connects from the
// attacker's namespace and reads the state of the same service.
func TestServiceStateOnRouter(t *testing.T) {
	needRoot(t)
	for _, tool := range []string{"ip", "setpriv", "iptables-nft", "ip6tables-nft", "iptables-nft-restore", "ip6tables-nft-restore"} {
		need(t, tool)
	}
	removeStaleNamespaces(t)
	w := newFwWorld(t, "nft")
	sock := filepath.Join(w.dir, "api.sock")
	api := startRouterAPI(t, w, sock)

	type famState struct{ v4, v6 servicestate.Reason }
	state := func(key string) famState {
		t.Helper()
		var doc struct {
			Services []struct {
				Key   string
				State servicestate.State
			}
		}
		resp, err := api.Get("http://localhost/api/v1/status")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
			t.Fatal(err)
		}
		for _, s := range doc.Services {
			if s.Key == key && len(s.State.Families) == 2 {
				return famState{s.State.Families[0].Reason, s.State.Families[1].Reason}
			}
		}
		t.Fatalf("no state of %s in %+v", key, doc.Services)
		return famState{}
	}
	waitState := func(key string, want famState) {
		t.Helper()
		eventually(t, 15*time.Second, key+" state", func() (bool, string) {
			got := state(key)
			return got == want, fmt.Sprintf("%s: %+v, want %+v", key, got, want)
		})
	}
	redirected := famState{servicestate.Redirected, servicestate.Redirected}

	// The API applied the rules as it started: the fakes are reachable,
	// and they are what an attacker meets.
	waitState("23tcp", redirected)
	for _, a := range worldFamilies {
		expect(t, w.attacker, a.routerWAN, 23, gotTelnet)
	}

	// A real service the router accepts from the WAN owns the port.
	real := serveBanner(t, w.router, 23, "REAL-23")
	for _, a := range worldFamilies { // what fw3 makes of the rule Allow-Telnet
		w.ipt(a.fam, "-I", "zone_wan_input", "1", "-p", "tcp", "--dport", "23", "-j", "ACCEPT")
	}
	w.writeConfig(routerConfig{acceptTelnet: true})
	applyThroughAPI(t, api)
	waitState("23tcp", famState{servicestate.RealServiceAccepted, servicestate.RealServiceAccepted})
	for _, a := range worldFamilies {
		expect(t, w.attacker, a.routerWAN, 23, "REAL-23")
	}
	real.Close()
	for _, a := range worldFamilies {
		w.ipt(a.fam, "-D", "zone_wan_input", "-p", "tcp", "--dport", "23", "-j", "ACCEPT")
	}

	// A port forward of 23 (IPv4, as fw3 makes it) to the LAN host.
	lanSvc := serveBanner(t, w.lan, 23, "LAN-23")
	defer lanSvc.Close()
	w.ipt("ipv4", "-t", "nat", "-A", "zone_wan_prerouting", "-p", "tcp", "--dport", "23", "-j", "DNAT", "--to-destination", "192.168.50.2:23")
	w.writeConfig(routerConfig{forward: true})
	applyThroughAPI(t, api)
	waitState("23tcp", famState{servicestate.PortForwarded, servicestate.Redirected})
	expect(t, w.attacker, "203.0.113.1", 23, "LAN-23")
	expect(t, w.attacker, "2001:db8:100::1", 23, gotTelnet)
	w.ipt("ipv4", "-t", "nat", "-F", "zone_wan_prerouting")

	// Rules removed behind the API's back: out of sync, and an attacker
	// is refused; the next apply brings them back.
	w.writeConfig(routerConfig{})
	applyThroughAPI(t, api)
	waitState("23tcp", redirected)
	if out, err := w.minipot(nil, "remove"); err != nil {
		t.Fatalf("minipot firewall remove: %v\n%s", err, out)
	}
	waitState("23tcp", famState{servicestate.FirewallOutOfSync, servicestate.FirewallOutOfSync})
	for _, a := range worldFamilies {
		expect(t, w.attacker, a.routerWAN, 23, gotRefused)
	}

	// The agent stops: nothing answers, and the state says why.
	applyThroughAPI(t, api)
	w.agent.Process.Signal(syscall.SIGTERM)
	waitState("23tcp", famState{servicestate.AgentDown, servicestate.AgentDown})
	for _, a := range worldFamilies {
		expect(t, w.attacker, a.routerWAN, 23, gotRefused)
	}
}

// startRouterAPI runs `minipot api --firewall` in the router's namespace,
// as root does on a router, on a unix socket, and returns a client of it.
func startRouterAPI(t *testing.T, w *fwWorld, sock string) *http.Client {
	t.Helper()
	out := &syncBuffer{}
	cmd := exec.Command("ip", "netns", "exec", w.router, minipotBin, "api", "-c", w.dir, "--run-dir", filepath.Join(w.dir, "run"), "--socket", sock,
		"--firewall", "--backend", w.backend, "--converge-every", "1h")
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
		}
		if t.Failed() {
			t.Logf("api output:\n%s", tail(out.String(), 3000))
		}
		w.minipot(nil, "remove")
	})
	c := unixClient(sock, 30*time.Second)
	eventually(t, 15*time.Second, "the API answers", func() (bool, string) {
		resp, err := c.Get("http://localhost/api/v1/health")
		if err != nil {
			return false, err.Error()
		}
		resp.Body.Close()
		return resp.StatusCode == 200, resp.Status
	})
	return c
}

// applyThroughAPI asks the API to converge the rules and the agent with
// the files as they are.
func applyThroughAPI(t *testing.T, c *http.Client) {
	t.Helper()
	resp, err := c.Post("http://localhost/api/v1/settings/apply", "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("apply: %s", resp.Status)
	}
}

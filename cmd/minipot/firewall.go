package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/minipot/minipot/internal/firewall"
	"github.com/minipot/minipot/internal/report"
	"github.com/minipot/minipot/internal/servicestate"
	"github.com/minipot/minipot/internal/settings"
	"github.com/minipot/minipot/internal/uci"
)

// firewallVerbs are the actions of `minipot firewall`.
var firewallVerbs = []string{"apply", "remove", "status"}

// runFirewall is `minipot firewall apply|remove|status`.
func runFirewall(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("firewall", flag.ContinueOnError)
	confDir := fs.String("c", "/etc/config", "UCI config `dir`ectory holding packages ucollect, firewall and network")
	backend := fs.String("backend", "", "firewall holding the rules: auto, nftables, iptables-nft or iptables-legacy (nft, legacy: old names; default: ucollect.firewall.backend)")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	runDir := fs.String("run-dir", "/var/run/minipot", "the agent's run `dir`ectory (its agent.json report), for status's service states")
	u := usage{"firewall apply|remove|status [-c DIR] [--backend auto|nftables|iptables-nft|iptables-legacy] [--json] [--run-dir DIR]", []string{
		"  apply   install or update the redirect rules to match the settings (idempotent)",
		"  remove  delete every rule, chain and table minipot added",
		"  status  show the backend and why, the rules in place, the decision for each service, each",
		"          service's state as /status tells it, and what apply would change; exits 1 when it",
		"          reports a problem or the rules differ from the settings"}}
	words, code, ok := parseFlags(fs, u, args, stdout, stderr)
	if !ok {
		return code
	}
	var verb string
	switch {
	case len(words) == 0:
		fs.Usage()
		return 2
	case !slices.Contains(firewallVerbs, words[0]):
		fmt.Fprintf(stderr, "minipot firewall: unknown action %q\n", words[0])
		fs.Usage()
		return 2
	default:
		verb = words[0]
		if code, ok := noArgs(fs, words[1:], stderr); !ok {
			return code
		}
	}
	if _, err := firewall.NormalizeBackend(*backend); err != nil {
		fmt.Fprintf(stderr, "minipot firewall: --backend: %v\n", err)
		return 2
	}
	if os.Geteuid() != 0 {
		fmt.Fprintf(stderr, "minipot firewall %s: must run as root: it reads and changes the router's iptables rules\n", verb)
		return 1
	}
	fail := func(err error) int {
		fmt.Fprintf(stderr, "minipot firewall %s: %v\n", verb, err)
		return 1
	}
	dir := uci.Dir{Path: *confDir}
	s, digest, err := settings.LoadDigest(dir)
	if err != nil {
		if verb != "remove" {
			return fail(fmt.Errorf("%s/%s: %w", *confDir, settings.Package, err))
		}
		// Removing must work even when the settings do not parse.
		fmt.Fprintf(stderr, "minipot firewall remove: ignoring the settings: %v\n", err)
		s = settings.Defaults()
	}
	if *backend == "" {
		*backend = s.Firewall.Backend
	}
	fw := firewall.New(firewall.Options{Backend: *backend, Config: dir})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	if verb == "status" {
		st, err := fw.Status(ctx, s)
		if err != nil {
			if *asJSON {
				writeJSON(stdout, stderr, st)
			}
			return fail(err)
		}
		doc := statusDoc{Status: st, States: serviceStates(s, digest, st, *runDir)}
		code := 0
		if *asJSON {
			code = writeJSON(stdout, stderr, doc)
		} else {
			printStatus(stdout, doc)
		}
		if p := statusProblem(st); code == 0 && p != "" {
			fmt.Fprintf(stderr, "minipot firewall status: %s\n", p)
			code = 1 // for scripts and monitoring: what it printed is not fine
		}
		return code
	}
	var ch firewall.Changes
	if verb == "apply" {
		ch, err = fw.Apply(ctx, s)
	} else {
		ch, err = fw.Remove(ctx)
	}
	if *asJSON {
		if code := writeJSON(stdout, stderr, ch); code != 0 {
			return code
		}
	} else {
		printChanges(stdout, verb, ch)
	}
	if err != nil {
		return fail(err)
	}
	return 0
}

// statusDoc is what `minipot firewall status` prints: the firewall's
// status, and each service's state as /status gives it (one sentence for
// the owner, from package servicestate).
type statusDoc struct {
	firewall.Status
	States []serviceState `json:"states"`
}

type serviceState struct {
	Service string `json:"service"`
	servicestate.State
}

// serviceStates computes every service's state from the rules this
// command reads (it installs them: managed) and the agent's report in
// runDir, as the API does.
func serviceStates(s settings.Settings, digest string, st firewall.Status, runDir string) []serviceState {
	rep, err := report.ReadLive(runDir)
	in := servicestate.Input{Settings: s, Agent: servicestate.AgentOf(rep, err, digest),
		Firewall: servicestate.Firewall{Managed: true, Status: st}}
	var out []serviceState
	for _, svc := range settings.Services() {
		out = append(out, serviceState{Service: svc.Key, State: servicestate.Compute(in, svc)})
	}
	return out
}

// statusProblem is what status reports as wrong, "" when nothing is:
// rules out of sync with the settings, or no plan (no WAN device...).
func statusProblem(st firewall.Status) string {
	switch {
	case st.Problem != "":
		return st.Problem
	case !st.InSync:
		return fmt.Sprintf("the rules are not in sync with the settings (%d changes pending): run `minipot firewall apply`", len(st.Pending))
	}
	return ""
}

func writeJSON(stdout, stderr io.Writer, v any) int {
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		fmt.Fprintln(stderr, "minipot firewall:", err)
		return 1
	}
	return 0
}

func printChanges(w io.Writer, verb string, ch firewall.Changes) {
	for _, n := range ch.Notes {
		fmt.Fprintln(w, "note:", n)
	}
	if ch.Backend == "" {
		return
	}
	if len(ch.Ops) == 0 {
		fmt.Fprintf(w, "minipot firewall %s: nothing to change (%s, %d commands run)\n", verb, ch.Backend, ch.Calls)
		return
	}
	fmt.Fprintf(w, "minipot firewall %s: %d changes (%s, %d commands run)\n", verb, len(ch.Ops), ch.Backend, ch.Calls)
	for _, o := range ch.Ops {
		fmt.Fprintln(w, "  "+o.String())
	}
}

func printStatus(w io.Writer, doc statusDoc) {
	st := doc.Status
	fmt.Fprintf(w, "backend:     %s (%s): %s\n", st.Backend, st.BackendReason, strings.Join(st.Commands, ", "))
	fmt.Fprintf(w, "router:      firewall %s\n", st.RouterFirewall)
	if !st.Enabled {
		fmt.Fprintln(w, "minipots:    switched off (ucollect.fakes.enabled=0)")
	}
	if len(st.WANDevices) > 0 {
		fmt.Fprintf(w, "WAN devices: %s (%s)\n", strings.Join(st.WANDevices, " "), st.WANSource)
	}
	if st.PolicySource != "" {
		fmt.Fprintf(w, "accepts:     %s\n", st.PolicySource)
	}
	for _, f := range st.Families {
		state := "not installed"
		if f.Installed {
			state = "installed"
		}
		fmt.Fprintf(w, "%s:        %s, %d hooks", f.Family, state, len(f.Hooks))
		var red []string
		for _, svc := range settings.Services() {
			if n, ok := f.Redirected[svc.Key]; ok {
				red = append(red, fmt.Sprintf("%s %d", svc.Key, n))
			}
		}
		if len(red) > 0 {
			fmt.Fprintf(w, "; redirected connections: %s", strings.Join(red, ", "))
		}
		fmt.Fprintf(w, "; direct connections to fake ports refused: %d\n", f.Refused)
	}
	if len(st.Services) > 0 {
		fmt.Fprintln(w, "services:")
	}
	for _, d := range st.Services {
		where := map[string]string{
			firewall.RedirectAll:  fmt.Sprintf("-> fake :%d", d.FakePort),
			firewall.RedirectSome: fmt.Sprintf("-> fake :%d, some real", d.FakePort),
			firewall.RedirectNone: "not redirected",
		}[d.Redirect]
		fmt.Fprintf(w, "  %s %-8s %-22s %s\n", d.Family, d.Service, where, d.Reason)
		for _, e := range d.Except {
			fmt.Fprintf(w, "       real service for connections %s\n", e)
		}
	}
	if len(doc.States) > 0 {
		fmt.Fprintln(w, "states:")
	}
	for _, ss := range doc.States {
		fmt.Fprintf(w, "  %-8s %-12s %s\n", ss.Service, ss.Code, ss.Text)
	}
	if st.Problem != "" {
		fmt.Fprintln(w, "problem:    ", st.Problem)
	}
	for _, n := range st.Notes {
		fmt.Fprintln(w, "note:       ", n)
	}
	if st.InSync {
		fmt.Fprintln(w, "in sync:     yes")
		return
	}
	fmt.Fprintf(w, "in sync:     no, `minipot firewall apply` would make %d changes:\n", len(st.Pending))
	for _, o := range st.Pending {
		fmt.Fprintln(w, "  "+o.String())
	}
}

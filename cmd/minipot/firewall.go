package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/minipot/minipot/internal/firewall"
	"github.com/minipot/minipot/internal/settings"
	"github.com/minipot/minipot/internal/uci"
)

// runFirewall is `minipot firewall apply|remove|status`.
func runFirewall(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("firewall", flag.ContinueOnError)
	confDir := fs.String("c", "/etc/config", "UCI config `dir`ectory holding packages ucollect, firewall and network")
	backend := fs.String("backend", "", "iptables flavour: auto, nft or legacy (default: ucollect.firewall.backend)")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	u := usage{"firewall apply|remove|status [-c DIR] [--backend auto|nft|legacy] [--json]", []string{
		"  apply   install or update the redirect rules to match the settings (idempotent)",
		"  remove  delete every rule and chain minipot added",
		"  status  show the rules in place, the decision for each service, and what apply would change;",
		"          exits 1 when it reports a problem or the rules differ from the settings"}}
	// The verb may stand before or after the flags.
	var verb string
	for rest := args; ; {
		if code, ok := parseFlags(fs, u, rest, stdout, stderr); !ok {
			return code
		}
		if fs.NArg() == 0 {
			break
		}
		if verb != "" {
			fmt.Fprintf(stderr, "minipot firewall: unexpected argument %q\n", fs.Arg(0))
			fs.Usage()
			return 2
		}
		verb, rest = fs.Arg(0), fs.Args()[1:]
	}
	switch verb {
	case "apply", "remove", "status":
	case "":
		fs.Usage()
		return 2
	default:
		fmt.Fprintf(stderr, "minipot firewall: unknown action %q\n", verb)
		fs.Usage()
		return 2
	}
	switch *backend {
	case "", "auto", "nft", "legacy":
	default:
		fmt.Fprintf(stderr, "minipot firewall: --backend %q: want auto, nft or legacy\n", *backend)
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
	s, err := settings.Load(dir)
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
			return fail(err)
		}
		code := 0
		if *asJSON {
			code = writeJSON(stdout, stderr, st)
		} else {
			printStatus(stdout, st)
		}
		if code == 0 && (st.Problem != "" || !st.InSync) {
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
		fmt.Fprintf(w, "minipot firewall %s: nothing to change (iptables-%s, %d iptables calls)\n", verb, ch.Backend, ch.Calls)
		return
	}
	fmt.Fprintf(w, "minipot firewall %s: %d changes (iptables-%s, %d iptables calls)\n", verb, len(ch.Ops), ch.Backend, ch.Calls)
	for _, o := range ch.Ops {
		fmt.Fprintln(w, "  "+o.String())
	}
}

func printStatus(w io.Writer, st firewall.Status) {
	fmt.Fprintf(w, "backend:     iptables-%s (%s): %s\n", st.Backend, st.BackendReason, strings.Join(st.Commands, ", "))
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
		fmt.Fprintf(w, "%s:        %s, %d jumps", f.Family, state, len(f.Hooks))
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

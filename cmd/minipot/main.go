// Command minipot is the one binary of the project: routers have little
// flash, so the agent, the tools and (later) the API share one executable.
package main

import (
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"slices"

	"github.com/minipot/minipot/internal/ucicli"
)

// version is set at build time: -ldflags "-X main.version=1.2.3".
var version = "dev"

// command is one subcommand: run returns the process exit status.
type command struct {
	name, summary string
	// verbs are the words the command takes first (firewall apply, rpcd
	// list...), none for a command without; TestHelpAndExitCodes asks
	// each for its help and gives each a bad option.
	verbs []string
	run   func(args []string, stdout, stderr io.Writer) int
}

func commands() []command {
	return []command{
		{"agent", "run the fake services and record attempts", nil, runAgent},
		{"api", "serve the control API: settings, status, events, statistics, purge", nil, runAPI},
		{"export", "publish stored events to an MQTT broker, alerts to a webhook", nil, runExport},
		{"firewall", "apply, remove or show the redirect rules (root)", firewallVerbs, runFirewall},
		{"rpcd", "the rpcd plugin of the ubus object minipot: list, call METHOD", rpcdVerbs, runRPCD},
		{"uci", "read and edit UCI config files like OpenWrt's uci", ucicli.Commands(), runUCI},
		{"version", "print the version", nil, runVersion},
	}
}

func runVersion(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("version", flag.ContinueOnError)
	words, code, ok := parseFlags(fs, usage{"version", []string{"Prints the version."}}, args, stdout, stderr)
	if !ok {
		return code
	}
	if code, ok := noArgs(fs, words, stderr); !ok {
		return code
	}
	fmt.Fprintln(stdout, "minipot", version)
	return 0
}

func mainUsage(w io.Writer) {
	fmt.Fprintln(w, "usage: minipot COMMAND [ARGS]")
	fmt.Fprintln(w, "\ncommands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-8s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\n'minipot COMMAND -h' describes a command's options.")
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		mainUsage(stderr)
		return 2
	}
	switch args[0] {
	case "-h", "--help", "help":
		mainUsage(stdout)
		return 0
	case "--version", "-v":
		args[0] = "version"
	}
	if slices.Contains(rpcdVerbs, args[0]) {
		// rpcd runs /usr/libexec/rpcd/minipot, a symlink to this binary,
		// as `minipot list` and `minipot call METHOD`.
		return runRPCD(args, stdout, stderr)
	}
	for _, c := range commands() {
		if c.name == args[0] {
			return c.run(args[1:], stdout, stderr)
		}
	}
	fmt.Fprintf(stderr, "minipot: unknown command %q\n", args[0])
	mainUsage(stderr)
	return 2
}

func splitHostPort(addr string) (host, port string) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr, ""
	}
	return host, port
}

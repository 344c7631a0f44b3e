package main

import (
	"bytes"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/minipot/minipot/internal/settings"
	"github.com/minipot/minipot/internal/uci"
)

// TestHelpAndExitCodes: every subcommand answers -h and --help with its
// usage on stdout and exit 0, and an unknown option with an error and the
// usage on stderr and exit 2, before it does anything else.
func TestHelpAndExitCodes(t *testing.T) {
	type tc struct {
		args       []string
		code       int
		stdout     string // prefix; "" means empty
		stderrSays string // "" means empty
	}
	cases := []tc{
		{[]string{"--help"}, 0, "usage: minipot COMMAND", ""},
		{[]string{"-h"}, 0, "usage: minipot COMMAND", ""},
		{[]string{"help"}, 0, "usage: minipot COMMAND", ""},
		{nil, 2, "", "usage: minipot COMMAND"},
		{[]string{"no-such-command"}, 2, "", `unknown command "no-such-command"`},
		{[]string{"firewall", "status", "--help"}, 0, "usage: minipot firewall", ""},
		{[]string{"firewall", "status", "--no-such-flag"}, 2, "", "flag provided but not defined"},
		{[]string{"firewall", "explode"}, 2, "", `unknown action "explode"`},
		{[]string{"api", "extra"}, 2, "", `unexpected argument "extra"`},
		{[]string{"agent", "extra"}, 2, "", `unexpected argument "extra"`},
		{[]string{"version", "extra"}, 2, "", `unexpected argument "extra"`},
		{[]string{"rpcd"}, 2, "", "usage: minipot rpcd"},
		{[]string{"uci", "-z"}, 2, "", "unrecognized option: z"},
	}
	for _, c := range commands() {
		want := "usage: minipot " + c.name
		if c.name == "uci" {
			want = "Usage: uci" // OpenWrt's own usage text
		}
		cases = append(cases,
			tc{[]string{c.name, "--help"}, 0, want, ""},
			tc{[]string{c.name, "-h"}, 0, want, ""},
			tc{[]string{c.name, "--no-such-flag"}, 2, "", want},
		)
	}
	for _, c := range cases {
		var stdout, stderr bytes.Buffer
		code := run(c.args, &stdout, &stderr)
		name := strings.Join(c.args, " ")
		if code != c.code {
			t.Errorf("minipot %s: exit %d, want %d\nstdout: %s\nstderr: %s", name, code, c.code, stdout.String(), stderr.String())
		}
		if c.stdout == "" && stdout.Len() > 0 || !strings.HasPrefix(stdout.String(), c.stdout) {
			t.Errorf("minipot %s: stdout %q, want it to start with %q", name, stdout.String(), c.stdout)
		}
		if c.stderrSays == "" && stderr.Len() > 0 || !strings.Contains(stderr.String(), c.stderrSays) {
			t.Errorf("minipot %s: stderr %q, want %q", name, stderr.String(), c.stderrSays)
		}
	}
}

// TestDevConfigDefaults: the development config (make run) keeps the
// documented defaults, credentials off included, except for the options
// README.md ("Try it") names with the reason for each.
func TestDevConfigDefaults(t *testing.T) {
	p, err := uci.Parse(settings.Package, devConfig)
	if err != nil {
		t.Fatal(err)
	}
	dev, err := settings.FromPackage(p)
	if err != nil {
		t.Fatal(err)
	}
	if dev.LogCredentials {
		t.Error("make run collects credentials; the documented default is off")
	}
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	want := settings.Defaults()
	// The differences README.md explains, each by its option name.
	for opt, set := range map[string]func(*settings.Settings){
		"agent.listen":      func(s *settings.Settings) { s.Agent.Listen = dev.Agent.Listen },
		"agent.login_delay": func(s *settings.Settings) { s.Agent.LoginDelay = dev.Agent.LoginDelay },
		"store.path":        func(s *settings.Settings) { s.Store.Path = dev.Store.Path },
		"store.max_age":     func(s *settings.Settings) { s.Store.MaxAge = dev.Store.MaxAge },
	} {
		if !strings.Contains(string(readme), "`"+opt+"`") {
			t.Errorf("README.md does not explain %s of the development config", opt)
		}
		set(&want)
	}
	if !reflect.DeepEqual(dev, want) {
		t.Errorf("the development config differs from the defaults beyond what README.md explains:\n got %+v\nwant %+v", dev, want)
	}
}

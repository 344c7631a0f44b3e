package main

import (
	"bytes"
	"os"
	"path/filepath"
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
		{[]string{"uci", "show", "-z"}, 2, "", "unrecognized option: z"},
		{[]string{"uci", "show", "--no-such-flag"}, 2, "", "unrecognized option: --no-such-flag"},
		{[]string{"uci", "-c"}, 2, "", "option requires an argument: c"},
		{[]string{"uci", "frobnicate"}, 2, "", "Usage: uci"},
		{[]string{"uci", "get"}, 2, "", "Usage: uci"},
		{[]string{"firewall", "status", "extra"}, 2, "", `unexpected argument "extra"`},
		{[]string{"rpcd", "list", "extra"}, 2, "", "usage: minipot rpcd"},
	}
	// Every command of the table and every verb it takes, with the option
	// before the verb, after it, and after the verb's own argument.
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
		if len(c.verbs) == 0 {
			cases = append(cases, tc{[]string{c.name, "extra", "--help"}, 0, want, ""})
		}
		for _, v := range c.verbs {
			cases = append(cases,
				tc{[]string{c.name, v, "--help"}, 0, want, ""},
				tc{[]string{c.name, v, "-h"}, 0, want, ""},
				tc{[]string{c.name, "-h", v}, 0, want, ""},
				tc{[]string{c.name, v, "some.argument", "--help"}, 0, want, ""},
				tc{[]string{c.name, v, "--no-such-flag"}, 2, "", want},
				tc{[]string{c.name, v, "some.argument", "--no-such-flag"}, 2, "", "no-such-flag"},
			)
		}
	}
	// rpcd runs its plugin as `minipot list` and `minipot call METHOD`.
	for _, v := range rpcdVerbs {
		cases = append(cases,
			tc{[]string{v, "--help"}, 0, "usage: minipot rpcd", ""},
			tc{[]string{v, "--no-such-flag"}, 2, "", "usage: minipot rpcd"},
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

// TestUCIOptionsAnywhere: minipot uci takes its options after the command
// as well as before it, as the other subcommands do.
func TestUCIOptionsAnywhere(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(dir+"/"+settings.Package, []byte("config fakes 'fakes'\n\tlist disable '23tcp'\n\tlist disable '80tcp'\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	want := "23tcp,80tcp\n"
	for _, args := range [][]string{
		{"-c", dir, "-d", ",", "get", "ucollect.fakes.disable"},
		{"get", "ucollect.fakes.disable", "-c", dir, "-d", ","},
		{"-qc", dir, "get", "-d,", "ucollect.fakes.disable"},
		{"get", "-c" + dir, "-d", ",", "--", "ucollect.fakes.disable"},
	} {
		var stdout, stderr bytes.Buffer
		code := run(append([]string{"uci", "-t", dir}, args...), &stdout, &stderr)
		if code != 0 || stdout.String() != want {
			t.Errorf("minipot uci %s: exit %d, stdout %q, want %q (stderr %q)", strings.Join(args, " "), code, stdout.String(), want, stderr.String())
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
	if w := settings.Warnings(p); len(w) > 0 {
		t.Errorf("the development config has options minipot does not read: %v", w)
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

// TestAgentLogsWarnings: the agent's loading of the settings logs each
// option of minipot's sections that it does not read, by section.option,
// and still loads the rest.
func TestAgentLogsWarnings(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(dir+"/"+settings.Package, []byte("config limits 'limits'\n\toption max_per_ipp '4'\n\toption max_per_network '8'\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	s, _, err := loadSettings(uci.Dir{Path: dir}, &log)
	if err != nil || s.Limits.MaxPerNet != 8 {
		t.Fatalf("load: %v, max_per_network %d", err, s.Limits.MaxPerNet)
	}
	if !strings.Contains(log.String(), "WRN") || !strings.Contains(log.String(), "option=limits.max_per_ipp") ||
		!strings.Contains(log.String(), "did you mean limits.max_per_ip?") {
		t.Errorf("log: %s", log.String())
	}
}

// TestAPIFromSettings: section api fills what the flags left unset, and
// nothing when it is invalid or the file does not parse.
func TestAPIFromSettings(t *testing.T) {
	for _, tc := range []struct {
		name, file string
		flags      map[string]bool
		want       apiOptions
	}{
		{"no api section", "config fakes 'fakes'\n", nil, apiOptions{}},
		{"listen", "config api 'api'\n\toption listen '127.0.0.1:8377'\n", nil,
			apiOptions{listen: "127.0.0.1:8377", tokenFile: "/etc/minipot/api.token", createMissingToken: true}},
		{"listen and token file", "config api 'api'\n\toption listen '[::1]:8377'\n\toption token_file '/srv/tok'\n", nil,
			apiOptions{listen: "[::1]:8377", tokenFile: "/srv/tok", createMissingToken: true}},
		{"--listen wins", "config api 'api'\n\toption listen '127.0.0.1:8377'\n", map[string]bool{"listen": true}, apiOptions{}},
		{"--token-file wins", "config api 'api'\n\toption listen '127.0.0.1:8377'\n", map[string]bool{"token-file": true},
			apiOptions{listen: "127.0.0.1:8377"}},
		{"not loopback", "config api 'api'\n\toption listen '0.0.0.0:8377'\n", nil, apiOptions{}},
		{"relative token file", "config api 'api'\n\toption listen '127.0.0.1:8377'\n\toption token_file 'tok'\n", nil, apiOptions{}},
		{"another option invalid", "config api 'api'\n\toption listen '127.0.0.1:8377'\nconfig store 'store'\n\toption max_size 'lots'\n", nil,
			apiOptions{listen: "127.0.0.1:8377", tokenFile: "/etc/minipot/api.token", createMissingToken: true}},
		{"does not parse", "config api 'api'\n\toption listen '127.0.0.1:8377\n", nil, apiOptions{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, settings.Package), []byte(tc.file), 0o644); err != nil {
				t.Fatal(err)
			}
			var o apiOptions
			fromSettings(&o, uci.Dir{Path: dir}, tc.flags)
			if o != tc.want {
				t.Errorf("%+v, want %+v", o, tc.want)
			}
		})
	}
}

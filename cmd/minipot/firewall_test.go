package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/minipot/minipot/internal/firewall"
	"github.com/minipot/minipot/internal/settings"
)

// TestStatusPrintsStates: `minipot firewall status` prints each service's
// state in the sentence /status gives, and with no agent running says so
// for every service that is on.
func TestStatusPrintsStates(t *testing.T) {
	s := settings.Defaults()
	s.Disabled = []string{"80tcp"}
	st := firewall.Status{Backend: "nftables", InSync: true, WANDevices: []string{"wan0"}}
	doc := statusDoc{Status: st, States: serviceStates(s, "digest", st, t.TempDir())}
	var out bytes.Buffer
	printStatus(&out, doc)
	text := out.String()
	if !strings.Contains(text, "\nstates:\n") {
		t.Fatalf("no states in\n%s", text)
	}
	for _, svc := range settings.Services() {
		want := "Not reachable: the minipot program (the agent) is not running."
		if svc.Key == "80tcp" {
			want = "Off: this minipot is switched off."
		}
		line := ""
		for _, l := range strings.Split(text, "\n") {
			if f := strings.Fields(l); len(f) > 0 && f[0] == svc.Key && strings.Contains(l, ".") {
				line = l
			}
		}
		if !strings.HasSuffix(line, want) {
			t.Errorf("%s: line %q, want it to end with %q", svc.Key, line, want)
		}
	}
}

package tests

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os/exec"
	"path"
	"strings"
	"testing"
)

const module = "github.com/minipot/minipot"

// room is what the packages under one path may not depend on, directly or
// through another package: the internet-facing agent neither touches the
// firewall, the store's reading side nor runs commands, and the control
// API learns about the agent through internal/report, not its code.
type room struct {
	under     string   // a package and those below it, relative to the module
	forbidden []string // import paths, each with the packages below it
	why       string
}

var rooms = []room{
	{"agent", []string{module + "/webapi", module + "/internal/firewall", module + "/internal/store", "os/exec"},
		"the agent faces the internet: it records through event.Sink, it never changes the firewall or runs commands"},
	{"webapi", []string{module + "/agent"}, "the API reads the agent's report (internal/report), never the agent's code"},
	{"internal/atomicfile", []string{module}, "writing a file whole is all it knows: every part may use it"},
	{"internal/redact", []string{"os", "net", "log", module + "/internal/settings", module + "/internal/store"},
		"the credential rule is text in, text out: the agent, the API and the exporter apply the same one"},
}

// pkg is what `go list -json` says of a package that the rooms look at.
type pkg struct {
	ImportPath, Name, Doc string
	Deps                  []string
}

func within(p, root string) bool { return p == root || strings.HasPrefix(p, root+"/") }

// violations lists every dependency a room forbids, and every package
// whose doc comment is missing or does not begin "Package x" ("Command x"
// for a command).
func violations(pkgs []pkg) []string {
	var out []string
	for _, p := range pkgs {
		for _, r := range rooms {
			if !within(p.ImportPath, module+"/"+r.under) {
				continue
			}
			for _, d := range p.Deps {
				for _, f := range r.forbidden {
					if within(d, f) {
						out = append(out, fmt.Sprintf("%s imports %s (%s)", p.ImportPath, d, r.why))
					}
				}
			}
		}
		want := "Package " + p.Name + " "
		if p.Name == "main" {
			want = "Command " + path.Base(p.ImportPath) + " "
		}
		if !strings.HasPrefix(p.Doc, want) || len(p.Doc) < len(want)+10 {
			out = append(out, fmt.Sprintf("%s: its doc comment should begin %q and say what it is; it is %q", p.ImportPath, want, p.Doc))
		}
	}
	return out
}

// TestRooms: every package of the module keeps to its room and says in
// its first sentence what it is.
func TestRooms(t *testing.T) {
	cmd := exec.Command("go", "list", "-json=ImportPath,Name,Doc,Deps", "./...")
	cmd.Dir = ".."
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.String())
	}
	var pkgs []pkg
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p pkg
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	seen := map[string]bool{}
	for _, p := range pkgs {
		seen[p.ImportPath] = true
	}
	for _, r := range rooms {
		if !seen[module+"/"+r.under] {
			t.Errorf("room %s: no such package (a room that checks nothing)", r.under)
		}
	}
	for _, v := range violations(pkgs) {
		t.Error(v)
	}
}

// TestRoomsCatch: the check finds what it must, so a passing TestRooms
// means something.
func TestRoomsCatch(t *testing.T) {
	doc := func(name string) string { return "Package " + name + " is a test package of the rooms check." }
	cases := []struct {
		name string
		p    pkg
		want string // in the one violation; "" for none
	}{
		{"clean agent", pkg{module + "/agent", "agent", doc("agent"), []string{"net", module + "/internal/report"}}, ""},
		{"agent imports the API", pkg{module + "/agent", "agent", doc("agent"), []string{module + "/webapi"}}, "imports " + module + "/webapi"},
		{"sub-package runs commands", pkg{module + "/agent/telnet", "telnet", doc("telnet"), []string{"os/exec"}}, "imports os/exec"},
		{"agent reaches the store", pkg{module + "/agent/httpd", "httpd", doc("httpd"), []string{module + "/internal/store"}}, "internal/store"},
		{"agent reaches the firewall", pkg{module + "/agent", "agent", doc("agent"), []string{module + "/internal/firewall"}}, "internal/firewall"},
		{"a look-alike name is fine", pkg{module + "/agent", "agent", doc("agent"), []string{module + "/internal/storeutil"}}, ""},
		{"API imports the agent", pkg{module + "/webapi", "webapi", doc("webapi"), []string{module + "/agent/session"}}, "imports " + module + "/agent/session"},
		{"no doc", pkg{module + "/internal/x", "x", "", nil}, "doc comment"},
		{"doc about something else", pkg{module + "/internal/x", "x", "This package does things and more.", nil}, "doc comment"},
		{"command", pkg{module + "/cmd/minipot", "main", "Command minipot is the one binary.", nil}, ""},
		{"command without its name", pkg{module + "/cmd/minipot", "main", "Package main is the one binary.", nil}, "Command minipot"},
	}
	for _, c := range cases {
		v := violations([]pkg{c.p})
		switch {
		case c.want == "" && len(v) > 0:
			t.Errorf("%s: %v", c.name, v)
		case c.want != "" && (len(v) != 1 || !strings.Contains(v[0], c.want)):
			t.Errorf("%s: %v, want one saying %q", c.name, v, c.want)
		}
	}
}

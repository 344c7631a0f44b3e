package uci_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/minipot/minipot/internal/uci"
	"github.com/minipot/minipot/internal/uci/ucitest"
)

// TestConformance checks the library against every shared case made with
// OpenWrt's uci: show, export and error (reason, line, byte), and for
// cases with commands, the committed file after running them through the
// library's API.
func TestConformance(t *testing.T) {
	for _, c := range ucitest.Load(t) {
		t.Run(c.Name, func(t *testing.T) {
			p, err := uci.Parse("cfg", c.Input)
			if c.Exit != 0 {
				var pe *uci.ParseError
				if !errors.As(err, &pe) {
					t.Fatalf("Parse: got %v, want a *ParseError", err)
				}
				if got, want := "uci: "+pe.Error()+"\n", string(c.Stderr); got != want {
					t.Errorf("error:\n got %q\nwant %q", got, want)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if got := string(p.Show()); got != string(c.Show) {
				t.Errorf("show:\n got %q\nwant %q", got, c.Show)
			}
			if got := string(p.Export()); got != string(c.Export) {
				t.Errorf("export:\n got %q\nwant %q", got, c.Export)
			}
			if c.Commands == nil {
				return
			}
			for i, argv := range c.Commands {
				out, err := runCommand(p, argv)
				if err != nil {
					t.Fatalf("%q: %v", argv, err)
				}
				want := c.Results[i].Output
				if argv[0] == "add" {
					if !ucitest.AnonName.MatchString(out) {
						t.Errorf("%q printed %q, not an anonymous section name", argv, out)
					}
				} else if out != want {
					t.Errorf("%q printed %q, want %q", argv, out, want)
				}
			}
			if got := string(p.Marshal()); got != string(c.Committed) {
				t.Errorf("committed:\n got %q\nwant %q", got, c.Committed)
			}
		})
	}
}

// runCommand runs a uci command line through the library's API.
func runCommand(p *uci.Package, argv []string) (string, error) {
	if len(argv) == 3 && argv[0] == "add" {
		s := p.AddSection(argv[2], "")
		if s == nil {
			return "", fmt.Errorf("AddSection(%q) failed", argv[2])
		}
		return s.Name, nil
	}
	if len(argv) != 2 {
		return "", fmt.Errorf("unsupported command %q", argv)
	}
	ref, value, hasValue := strings.Cut(argv[1], "=")
	parts := strings.Split(ref, ".")
	if len(parts) < 2 || parts[0] != p.Name {
		return "", fmt.Errorf("unsupported reference %q", ref)
	}
	s := p.Section(parts[1])
	opt := ""
	if len(parts) == 3 {
		opt = parts[2]
	}
	switch {
	case argv[0] == "set" && opt == "" && hasValue:
		if p.AddSection(value, parts[1]) == nil {
			return "", fmt.Errorf("AddSection(%q, %q) failed", value, parts[1])
		}
		return "", nil
	case s == nil:
		return "", fmt.Errorf("no section %q", parts[1])
	case argv[0] == "set" && hasValue:
		s.Set(opt, value)
	case argv[0] == "add_list" && hasValue:
		s.AddList(opt, value)
	case argv[0] == "del_list" && hasValue:
		s.DelList(opt, value)
	case argv[0] == "delete" && opt != "":
		if !s.Delete(opt) {
			return "", fmt.Errorf("no option %q", opt)
		}
	case argv[0] == "delete":
		p.DeleteSection(parts[1])
	default:
		return "", fmt.Errorf("unsupported command %q", argv)
	}
	return "", nil
}

package uci_test

import (
	"bytes"
	"fmt"
	"reflect"
	"testing"

	"github.com/minipot/minipot/internal/uci"
	"github.com/minipot/minipot/internal/uci/ucitest"
)

// shape is a package without the names of anonymous sections, which
// depend on how many sections were ever created, not on the content.
func shape(p *uci.Package) []string {
	var out []string
	for _, s := range p.Sections {
		name := s.Name
		if s.Anonymous {
			name = ""
		}
		out = append(out, fmt.Sprintf("%q %q %v", s.Type, name, s.Anonymous))
		for _, o := range s.Options {
			out = append(out, fmt.Sprintf("  %q %v %q", o.Name, o.IsList, o.Values))
		}
	}
	return out
}

// FuzzParseMarshal checks that whatever parses comes back the same after
// Marshal (and Export), that Marshal is stable, and that pending changes
// read from arbitrary text survive being written back.
func FuzzParseMarshal(f *testing.F) {
	if dir, err := ucitest.Find(); err == nil {
		cases, err := ucitest.Read(dir)
		if err != nil {
			f.Fatal(err)
		}
		for _, c := range cases {
			f.Add(c.Input)
			f.Add(c.Committed)
		}
	}
	for _, s := range []string{
		"config a 'x'; option k 'v'\n\tlist l \"a\\\"b\" # c\n",
		"config a\n\toption k 'multi\nline'\n\toption j a\\\nb\n",
		"config 'we\"ird'\n",
		"p.s.o='it'\\''s'\n-p.s\n|p.s.l='x'\n",
		"config a\x00x\n\toption k v\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		uci.ParseWith("cfg", data, uci.ParseOptions{Lenient: true}) //nolint:errcheck // must only not panic
		checkChanges(t, data)
		p, err := uci.Parse("cfg", data)
		if err != nil {
			return
		}
		text := p.Marshal()
		q, err := uci.Parse("cfg", text)
		if err != nil {
			t.Fatalf("Marshal output does not parse: %v\n%q", err, text)
		}
		if !reflect.DeepEqual(shape(p), shape(q)) {
			t.Fatalf("round trip changed the package:\n%q\n%q\nvia %q", shape(p), shape(q), text)
		}
		if again := q.Marshal(); !bytes.Equal(again, text) {
			t.Fatalf("Marshal not stable:\n%q\n%q", text, again)
		}
		e, err := uci.Parse("cfg", p.Export())
		if err != nil || !reflect.DeepEqual(shape(p), shape(e)) {
			t.Fatalf("Export does not read back: %v", err)
		}
		if err := p.Validate(); err != nil {
			t.Fatalf("parsed package does not validate: %v", err)
		}
	})
}

func checkChanges(t *testing.T, data []byte) {
	changes, _ := uci.ParseChanges(data)
	for _, c := range changes {
		if !uci.ValidPackageName(c.Package) {
			continue // libuci writes such names unreadably too
		}
		line := c.DeltaLine()
		back, bad := uci.ParseChanges([]byte(line))
		if bad != 0 || len(back) != 1 || back[0] != c {
			t.Fatalf("change %+v written as %q reads back as %+v (%d bad)", c, line, back, bad)
		}
	}
	r := uci.NewArgReader(data)
	for first := true; !r.EOF(); {
		a, err := r.Next(first)
		first = err != nil || a == ""
	}
}

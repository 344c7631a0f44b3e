package uci

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestQuotingRoundTrip(t *testing.T) {
	values := []struct{ name, v string }{
		{"single quote", "it's"},
		{"only quotes", "'''"},
		{"escaped form", `'\''`},
		{"double quotes", `say "hi"`},
		{"backslashes", `a\b\\c\`},
		{"newline", "one\ntwo\n"},
		{"CRLF", "one\r\ntwo"},
		{"spaces", "  padded  "},
		{"tab", "a\tb"},
		{"non-ASCII", "žluťoučký kůň 🐴"},
		{"comment and semicolon", "# not; a comment"},
		{"shell", "$(rm -rf /); `x`"},
		{"invalid UTF-8", "\xff\xfe"},
		{"control", "\x01\x1b[0m"},
	}
	for _, tt := range values {
		t.Run(tt.name, func(t *testing.T) {
			p := &Package{Name: "cfg"}
			s := p.AddSection("t", "s")
			s.Set("o", tt.v)
			s.SetList("l", []string{tt.v, "", tt.v + "x"})
			text := p.Marshal()
			q, err := Parse("cfg", text)
			if err != nil {
				t.Fatalf("%q does not parse: %v", text, err)
			}
			qs := q.Section("s")
			if qs == nil {
				t.Fatalf("section lost in %q", text)
			}
			if got, ok := qs.Get("o"); !ok || got != tt.v {
				t.Errorf("option: got %q, %v; want %q", got, ok, tt.v)
			}
			if got := qs.List("l"); !reflect.DeepEqual(got, []string{tt.v, "", tt.v + "x"}) {
				t.Errorf("list: got %q", got)
			}
			if again := q.Marshal(); string(again) != string(text) {
				t.Errorf("Marshal not stable:\n%q\n%q", text, again)
			}
		})
	}
}

func TestMarshal(t *testing.T) {
	p := &Package{Name: "cfg"}
	s := p.AddSection("fakes", "fakes")
	s.Set("enabled", "1")
	s.SetList("disable", []string{"23tcp", "2323tcp"})
	a := p.AddSection("rule", "")
	a.Set("name", "it's")
	odd := p.AddSection(`we'ird#t`, "")
	odd.Set("x", "1")
	want := "\nconfig fakes 'fakes'\n\toption enabled '1'\n\tlist disable '23tcp'\n\tlist disable '2323tcp'\n" +
		"\nconfig rule\n\toption name 'it'\\''s'\n" +
		"\nconfig 'we'\\''ird#t'\n\toption x '1'\n\n"
	if got := string(p.Marshal()); got != want {
		t.Errorf("Marshal:\n got %q\nwant %q", got, want)
	}
	if got := string(p.Export()); got != "package cfg\n"+want {
		t.Errorf("Export: %q", got)
	}
	named := string(p.ExportNamed())
	if !strings.Contains(named, "\nconfig rule '"+a.Name+"'\n") {
		t.Errorf("ExportNamed lacks the anonymous name: %q", named)
	}
	q, err := Parse("cfg", p.Marshal())
	if err != nil || q.Sections[2].Type != `we'ird#t` {
		t.Errorf("odd type did not survive: %v", err)
	}
	if got := string((&Package{Name: "e"}).Marshal()); got != "\n" {
		t.Errorf("empty package: %q", got)
	}
}

func TestShow(t *testing.T) {
	p, err := Parse("cfg", []byte("config foo\n\toption x 'a b'\nconfig foo 'n'\n\tlist l 1\n\tlist l 'it''s'\nconfig foo\nconfig bar\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := "cfg.@foo[0]=foo\ncfg.@foo[0].x='a b'\ncfg.n=foo\ncfg.n.l='1' 'its'\ncfg.@foo[2]=foo\ncfg.@bar[0]=bar\n"
	if got := string(p.Show()); got != want {
		t.Errorf("Show:\n got %q\nwant %q", got, want)
	}
	// What Show calls @foo[2] is what the lookup finds.
	if p.Section("@foo[2]") != p.Sections[2] || p.Section("@foo[-1]") != p.Sections[2] || p.Section("@[3]") != p.Sections[3] {
		t.Error("extended lookups disagree with Show")
	}
	real := string(p.ShowWith(ShowOptions{RealNames: true, Delimiter: ","}))
	if !strings.HasPrefix(real, "cfg."+p.Sections[0].Name+"=foo\n") || !strings.Contains(real, "cfg.n.l='1','its'\n") {
		t.Errorf("ShowWith: %q", real)
	}
	l := p.Sections[1].Option("l")
	l.Values = append(l.Values, "with space")
	if got := FormatValue(l, false, " "); got != "1 its 'with space'" {
		t.Errorf("get format: %q", got)
	}
}

func TestLookupSection(t *testing.T) {
	p, _ := Parse("cfg", []byte("config a\nconfig b 'x'\nconfig a\nconfig a 'y'\n"))
	s := p.Sections
	tests := []struct {
		ref  string
		want *Section
		err  error
	}{
		{"x", s[1], nil},
		{"nope", nil, nil},
		{"@a[0]", s[0], nil},
		{"@a[1]", s[2], nil},
		{"@a[2]", s[3], nil},
		{"@a[3]", nil, nil},
		{"@a[-1]", s[3], nil},
		{"@a[-3]", s[0], nil},
		{"@a[-4]", nil, nil},
		{"@a[]", s[0], nil},
		{"@a[ 1]", s[2], nil},
		{"@a[+1]", s[2], nil},
		{"@[1]", s[1], nil},
		{"@b[0]", s[1], nil},
		{"@c[0]", nil, nil},
		{"@a[1 ]", nil, ErrInvalid},
		{"@a[x]", nil, ErrInvalid},
		{"@a[1]x", nil, ErrInvalid},
		{"@a", nil, ErrInvalid},
		{"@a[1", nil, ErrInvalid},
		{"a[1]", nil, ErrInvalid},
		{"bad-name", nil, ErrInvalid},
		{"", nil, ErrInvalid},
		{"@a[9223372036854775807]", s[3], nil}, // strtol saturates, the int keeps -1
	}
	for _, tt := range tests {
		got, err := p.LookupSection(tt.ref)
		if got != tt.want || !errors.Is(err, tt.err) {
			t.Errorf("LookupSection(%q) = %v, %v; want %v, %v", tt.ref, got, err, tt.want, tt.err)
		}
	}
}

func TestSectionEditing(t *testing.T) {
	p := &Package{Name: "cfg"}
	s := p.AddSection("t", "s")
	if p.AddSection("t", "bad-name") != nil || p.AddSection("bad type", "") != nil {
		t.Error("invalid names accepted")
	}
	s.Set("a", "1")
	s.Set("b", "2")
	s.AddList("a", "3") // a plain option becomes a list where it stands
	if got := s.List("a"); !reflect.DeepEqual(got, []string{"1", "3"}) || s.Options[0].Name != "a" {
		t.Errorf("AddList on option: %q", got)
	}
	if _, ok := s.Get("a"); ok {
		t.Error("Get on a list reports a value")
	}
	if got := s.List("b"); !reflect.DeepEqual(got, []string{"2"}) {
		t.Errorf("List on option: %q", got)
	}
	s.Set("a", "x") // a list becomes an option where it stands
	if v, ok := s.Get("a"); !ok || v != "x" || s.Options[0].Name != "a" {
		t.Errorf("Set on list: %q %v", v, ok)
	}
	s.SetList("l", []string{"p", "q", "p"})
	if !s.DelList("l", "p") || !reflect.DeepEqual(s.List("l"), []string{"q"}) {
		t.Errorf("DelList: %q", s.List("l"))
	}
	if s.DelList("a", "x") {
		t.Error("DelList on a plain option")
	}
	s.Set("b", "")
	if s.Option("b") != nil {
		t.Error("Set to empty keeps the option")
	}
	s.Set("bad-name", "v")
	s.Set("nul", "a\x00b")
	if v, _ := s.Get("nul"); v != "a" {
		t.Errorf("NUL not cut: %q", v)
	}
	if s.Option("bad-name") != nil {
		t.Error("invalid option name accepted")
	}
	if !s.Delete("nul") || s.Delete("nul") {
		t.Error("Delete")
	}
	if got := p.AddSection("u", "s"); got != s || s.Type != "u" {
		t.Error("AddSection on an existing name does not retype it")
	}
	anon := p.AddSection("t", "")
	if !anon.Anonymous || !ValidName(anon.Name) || p.Section(anon.Name) != anon {
		t.Errorf("anonymous section %+v", anon)
	}
	if !p.DeleteSection("@t[-1]") || p.DeleteSection("@t[-1]") || len(p.Sections) != 1 {
		t.Error("DeleteSection")
	}
	if err := p.Validate(); err != nil {
		t.Error(err)
	}
	s.Options = append(s.Options, &Option{Name: "e", Values: []string{""}})
	if p.Validate() == nil {
		t.Error("empty plain option validates")
	}
}

func TestNames(t *testing.T) {
	tests := []struct {
		s                   string
		name, typ, packname bool
	}{
		{"abc_09", true, true, true},
		{"a-b", false, true, true},
		{"a.b", false, true, false},
		{"a/b", false, true, false},
		{"a b", false, false, false},
		{"", false, false, false},
		{"é", false, false, false},
		{"a'b", false, true, false},
		{"a#b", false, true, false},
		{"a+b", false, true, true},
	}
	for _, tt := range tests {
		if ValidName(tt.s) != tt.name || ValidType(tt.s) != tt.typ || ValidPackageName(tt.s) != tt.packname {
			t.Errorf("%q: name %v type %v package %v", tt.s, ValidName(tt.s), ValidType(tt.s), ValidPackageName(tt.s))
		}
	}
}

package uci

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

// The positions below follow libuci's parser by hand: Byte is the offset
// in its line buffer when it gives up, Line the lines read by then.
func TestParseErrors(t *testing.T) {
	tests := []struct {
		name, in string
		want     ParseError
	}{
		{"unterminated single", "config a\n\toption x 'abc\n", ParseError{"EOF with unterminated '", 2, 15}},
		{"unterminated double", "config a\n\toption x \"abc\n", ParseError{"EOF with unterminated \"", 2, 15}},
		{"option first", "option x 1\nconfig a\n", ParseError{"option/list command found before the first section", 1, 0}},
		{"indented option first", "  list x 1\n", ParseError{"option/list command found before the first section", 1, 2}},
		{"last line not counted", "option x 1", ParseError{"option/list command found before the first section", 0, 0}},
		{"bad name", "config a 'bad-name!'\n", ParseError{"invalid character in name field", 1, 21}},
		{"bad option name", "config a\n\toption 'a b' 1\n", ParseError{"invalid character in name field", 2, 14}},
		{"bad type", "config 'a b'\n", ParseError{"invalid character in type field", 1, 13}},
		{"too many", "config a b c\n", ParseError{"too many arguments", 1, 13}},
		{"no type", "config\n", ParseError{"invalid command", 1, 0}},
		{"no type at eof", "config", ParseError{"config without name", 0, 0}},
		{"type missing", "config \n", ParseError{"insufficient arguments", 1, 8}},
		{"unknown command", "config a\nfoo bar\n", ParseError{"invalid command", 2, 0}},
		{"abbreviation is not a prefix", "conf a\n", ParseError{"invalid command", 1, 0}},
		{"name with newline", "config a 'x\ny'\n", ParseError{"invalid character in name field", 2, 15}},
		{"retyped section", "config a 'x'\nconfig b 'x'\n", ParseError{"section of different type overwrites prior section with same name", 2, 13}},
		{"package name", "package 'a b'\n", ParseError{"invalid character in name field", 1, 14}},
		// strtok returns the newline as a word but leaves the position alone.
		{"trailing semicolon", "config a 'x';\n", ParseError{"invalid command", 1, 13}},
		{"NUL joins lines", "config a\x00junk\n\toption k v\n", ParseError{"too many arguments", 1, 18}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("cfg", []byte(tt.in))
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("got %v, want %v", err, &tt.want)
			}
			if *pe != tt.want {
				t.Errorf("got %v, want %v", pe, &tt.want)
			}
		})
	}
}

func TestParseErrorText(t *testing.T) {
	e := &ParseError{Reason: "EOF with unterminated '", Line: 2, Byte: 24}
	if got, want := e.Error(), "Parse error (EOF with unterminated ') at line 2, byte 24"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

// sec is a compact description of a parsed section for table tests.
type sec struct {
	typ, name string
	anon      bool
	opts      []Option
}

func describe(p *Package) []sec {
	var out []sec
	for _, s := range p.Sections {
		d := sec{typ: s.Type, name: s.Name, anon: s.Anonymous}
		if s.Anonymous {
			d.name = ""
		}
		for _, o := range s.Options {
			d.opts = append(d.opts, *o)
		}
		out = append(out, d)
	}
	return out
}

func opt(name string, v ...string) Option  { return Option{Name: name, Values: v} }
func list(name string, v ...string) Option { return Option{Name: name, IsList: true, Values: v} }

func TestParse(t *testing.T) {
	tests := []struct {
		name, in string
		want     []sec
	}{
		{"abbreviations", "p cfg\nc t 'n'\no a 1\nl b 2\n", []sec{{"t", "n", false, []Option{opt("a", "1"), list("b", "2")}}}},
		{"semicolons after quotes", "config a 'x'; option k 'v'; list l 'w'\n", []sec{{"a", "x", false, []Option{opt("k", "v"), list("l", "w")}}}},
		// libuci overwrites an unquoted word's ';' and loses the rest.
		{"semicolon after bare word", "config a x; option k v\n", []sec{{"a", "x", false, nil}}},
		{"semicolon after space", "config a x ;option k v\n", []sec{{"a", "x", false, []Option{opt("k", "v")}}}},
		{"comments", "# c\nconfig a 'x' # c\n\toption k v#c\n\t# option z 1\n", []sec{{"a", "x", false, []Option{opt("k", "v")}}}},
		{"hash inside quotes", "config a 'x'\n\toption k 'v # not'\n", []sec{{"a", "x", false, []Option{opt("k", "v # not")}}}},
		{"quotes glued", "config a 'x'\n\toption k 'a'\"b\"c\\ d\n", []sec{{"a", "x", false, []Option{opt("k", "abc d")}}}},
		{"backslashes", "config a 'x'\n\toption k \"q\\\"q\"\n\toption l 'a\\b'\n", []sec{{"a", "x", false, []Option{opt("k", `q"q`), opt("l", `a\b`)}}}},
		{"continued line", "config a 'x'\n\toption k a\\\nb\n", []sec{{"a", "x", false, []Option{opt("k", "ab")}}}},
		{"continued CRLF line", "config a 'x'\n\toption k a\\\r\nb\r\n", []sec{{"a", "x", false, []Option{opt("k", "ab")}}}},
		{"multi-line value", "config a 'x'\n\toption k 'one\ntwo'\n", []sec{{"a", "x", false, []Option{opt("k", "one\ntwo")}}}},
		{"empty option ignored", "config a 'x'\n\toption k 'v'\n\toption k ''\n\toption e\n", []sec{{"a", "x", false, []Option{opt("k", "v")}}}},
		{"empty list item kept", "config a 'x'\n\tlist l ''\n", []sec{{"a", "x", false, []Option{list("l", "")}}}},
		{"option becomes list in place", "config a 'x'\n\toption l 1\n\toption m 2\n\tlist l 3\n", []sec{{"a", "x", false, []Option{list("l", "1", "3"), opt("m", "2")}}}},
		{"list becomes option in place", "config a 'x'\n\tlist l 1\n\toption m 2\n\toption l 3\n", []sec{{"a", "x", false, []Option{opt("l", "3"), opt("m", "2")}}}},
		{"named sections merge", "config a 'x'\n\toption k 1\nconfig b 'y'\nconfig a 'x'\n\toption k 2\n\toption j 3\n", []sec{{"a", "x", false, []Option{opt("k", "2"), opt("j", "3")}}, {"b", "y", false, nil}}},
		{"anonymous", "config a\nconfig a ''\n", []sec{{"a", "", true, nil}, {"a", "", true, nil}}},
		{"package line ignored", "package other\nconfig a 'x'\n", []sec{{"a", "x", false, nil}}},
		{"no trailing newline", "config a 'x'\n\toption k v", []sec{{"a", "x", false, []Option{opt("k", "v")}}}},
		{"non-ASCII", "config a 'x'\n\toption k 'héllo wörld'\n", []sec{{"a", "x", false, []Option{opt("k", "héllo wörld")}}}},
		{"CRLF", "config a 'x'\r\n\toption k v\r\n", []sec{{"a", "x", false, []Option{opt("k", "v")}}}},
		{"long line", "config a 'x'\n\toption k '" + strings.Repeat("v", 5000) + "'\n", []sec{{"a", "x", false, []Option{opt("k", strings.Repeat("v", 5000))}}}},
		{"type with punctuation", "config 'a-b.c'\n", []sec{{"a-b.c", "", true, nil}}},
		{"empty", "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Parse("cfg", []byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if got := describe(p); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestParseLenient(t *testing.T) {
	in := "config a 'x'\n\toption k 1 2\nbogus\nconfig b 'x'\n\toption j 'v\n"
	var errs []string
	p, err := ParseWith("cfg", []byte(in), ParseOptions{Lenient: true, OnError: func(e *ParseError) { errs = append(errs, e.Error()) }})
	if err != nil {
		t.Fatal(err)
	}
	want := []sec{{"b", "x", false, []Option{opt("k", "1")}}}
	if got := describe(p); !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v, want %+v", got, want)
	}
	wantErrs := []string{
		"Parse error (invalid command) at line 3, byte 0",
		"Parse error (EOF with unterminated ') at line 5, byte 13",
	}
	if !reflect.DeepEqual(errs, wantErrs) {
		t.Errorf("errors %q, want %q", errs, wantErrs)
	}
}

func TestAnonymousNames(t *testing.T) {
	// Names libuci gives: cfg, the count of sections created so far, and a
	// hash of the type; "cfg027389" was printed by uci itself.
	p, err := Parse("cfg", []byte("config foo\n\toption x 1\nconfig bar 'b'\nconfig foo\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := p.Sections[0].Name; got != "cfg017389" {
		t.Errorf("first section: %q", got)
	}
	if got := p.Sections[2].Name; got != "cfg037389" {
		t.Errorf("third section: %q", got)
	}
	q, _ := Parse("cfg", []byte("config foo\n\toption x 1\n"))
	if got := q.AddSection("foo", "").Name; got != "cfg027389" {
		t.Errorf("added section: %q, want cfg027389 as uci printed", got)
	}
}

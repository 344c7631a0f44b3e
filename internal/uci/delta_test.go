package uci

import (
	"errors"
	"reflect"
	"testing"
)

func TestChangeText(t *testing.T) {
	tests := []struct {
		c           Change
		line, shown string
	}{
		{Change{Kind: ChangeSet, Package: "p", Section: "s", Option: "o", Value: "it's", HasValue: true}, "p.s.o='it'\\''s'\n", "p.s.o='it'\\''s'"},
		{Change{Kind: ChangeSet, Package: "p", Section: "s", Value: "type", HasValue: true}, "p.s='type'\n", "p.s='type'"},
		{Change{Kind: ChangeAdd, Package: "p", Section: "cfg027389", Value: "foo", HasValue: true}, "+p.cfg027389='foo'\n", "p.cfg027389='foo'"},
		{Change{Kind: ChangeRemove, Package: "p", Section: "s", Option: "o"}, "-p.s.o\n", "-p.s.o"},
		{Change{Kind: ChangeRemove, Package: "p", Section: "s", Option: "o", Value: "1", HasValue: true}, "-p.s.o='1'\n", "-p.s.o"},
		{Change{Kind: ChangeRename, Package: "p", Section: "s", Value: "n", HasValue: true}, "@p.s='n'\n", "p.s='n'"},
		{Change{Kind: ChangeReorder, Package: "p", Section: "s", Value: "0", HasValue: true}, "^p.s='0'\n", "p.s='0'"},
		{Change{Kind: ChangeAddList, Package: "p", Section: "s", Option: "l", Value: "a b", HasValue: true}, "|p.s.l='a b'\n", "p.s.l+='a b'"},
		{Change{Kind: ChangeDelList, Package: "p", Section: "s", Option: "l", Value: "x", HasValue: true}, "~p.s.l='x'\n", "p.s.l-='x'"},
	}
	for _, tt := range tests {
		if got := tt.c.DeltaLine(); got != tt.line {
			t.Errorf("DeltaLine(%+v) = %q, want %q", tt.c, got, tt.line)
		}
		if got := tt.c.String(); got != tt.shown {
			t.Errorf("String(%+v) = %q, want %q", tt.c, got, tt.shown)
		}
		got, bad := ParseChanges([]byte(tt.c.DeltaLine()))
		if bad != 0 || len(got) != 1 || got[0] != tt.c {
			t.Errorf("ParseChanges(%q) = %+v, %d bad", tt.line, got, bad)
		}
	}
}

func TestParseChanges(t *testing.T) {
	in := "p.s.o='multi\nline'\n" + // a quoted value runs over lines
		"p.s.o=bare\\ word\n" +
		"p.s.o='x'  \n" + // trailing blanks: libuci rejects the line
		"p.@t[0].o='x'\n" + // no extended references in delta files
		"p.s\n" + // a change without value
		"-p.s\n" +
		"^p.s.o='1'\n" +
		"@p.s='bad-name'\n" +
		"|p.s='x'\n" +
		"p.s.o.x='1'\n" +
		"q.s.o='other package'\n" +
		"p.s.o='a\x01b'\n" +
		"\n" + // even an empty line is a bad change
		"p.s.o='tab\there'"
	got, bad := ParseChanges([]byte(in))
	want := []Change{
		{Kind: ChangeSet, Package: "p", Section: "s", Option: "o", Value: "multi\nline", HasValue: true},
		{Kind: ChangeSet, Package: "p", Section: "s", Option: "o", Value: "bare word", HasValue: true},
		{Kind: ChangeRemove, Package: "p", Section: "s"},
		{Kind: ChangeSet, Package: "q", Section: "s", Option: "o", Value: "other package", HasValue: true},
		{Kind: ChangeSet, Package: "p", Section: "s", Option: "o", Value: "tab\there", HasValue: true},
	}
	if !reflect.DeepEqual(got, want) || bad != 9 {
		t.Errorf("got %+v, %d bad\nwant %+v, 9 bad", got, bad, want)
	}
}

func TestApply(t *testing.T) {
	const file = "config t 's'\n\toption o 'v'\n\tlist l 'a'\n\tlist l 'b'\n\tlist l 'a'\nconfig t\nconfig u 'x'\n"
	set := func(sec, opt, v string) Change {
		return Change{Kind: ChangeSet, Section: sec, Option: opt, Value: v, HasValue: true}
	}
	tests := []struct {
		name   string
		c      Change
		rec    *Change // Package is filled in by the test
		err    error
		result string // Marshal of the package afterwards
	}{
		{"set new option", set("s", "n", "1"), &Change{Kind: ChangeSet, Section: "s", Option: "n", Value: "1", HasValue: true}, nil,
			"\nconfig t 's'\n\toption o 'v'\n\tlist l 'a'\n\tlist l 'b'\n\tlist l 'a'\n\toption n '1'\n\nconfig t\n\nconfig u 'x'\n\n"},
		{"set same value", set("s", "o", "v"), nil, nil, ""},
		{"set list in place", set("s", "l", "z"), &Change{Kind: ChangeSet, Section: "s", Option: "l", Value: "z", HasValue: true}, nil,
			"\nconfig t 's'\n\toption o 'v'\n\toption l 'z'\n\nconfig t\n\nconfig u 'x'\n\n"},
		{"set empty deletes", set("s", "o", ""), &Change{Kind: ChangeRemove, Section: "s", Option: "o"}, nil,
			"\nconfig t 's'\n\tlist l 'a'\n\tlist l 'b'\n\tlist l 'a'\n\nconfig t\n\nconfig u 'x'\n\n"},
		{"set empty missing", set("s", "zz", ""), nil, nil, ""},
		{"set in missing section", set("nope", "o", "1"), nil, ErrInvalid, ""},
		{"set without value", Change{Kind: ChangeSet, Section: "s", Option: "o"}, nil, ErrInvalid, ""},
		{"new section", set("n", "", "w"), &Change{Kind: ChangeSet, Section: "n", Value: "w", HasValue: true}, nil,
			"\nconfig t 's'\n\toption o 'v'\n\tlist l 'a'\n\tlist l 'b'\n\tlist l 'a'\n\nconfig t\n\nconfig u 'x'\n\nconfig w 'n'\n\n"},
		{"bad type", set("n", "", "a b"), nil, ErrInvalid, ""},
		{"retype", set("x", "", "v"), &Change{Kind: ChangeSet, Section: "x", Value: "v", HasValue: true}, nil,
			"\nconfig t 's'\n\toption o 'v'\n\tlist l 'a'\n\tlist l 'b'\n\tlist l 'a'\n\nconfig t\n\nconfig v 'x'\n\n"},
		{"add", Change{Kind: ChangeAdd, Section: "cfg09abcd", Value: "k", HasValue: true}, &Change{Kind: ChangeAdd, Section: "cfg09abcd", Value: "k", HasValue: true}, nil,
			"\nconfig t 's'\n\toption o 'v'\n\tlist l 'a'\n\tlist l 'b'\n\tlist l 'a'\n\nconfig t\n\nconfig u 'x'\n\nconfig k\n\n"},
		{"delete option", Change{Kind: ChangeRemove, Section: "s", Option: "o"}, &Change{Kind: ChangeRemove, Section: "s", Option: "o"}, nil,
			"\nconfig t 's'\n\tlist l 'a'\n\tlist l 'b'\n\tlist l 'a'\n\nconfig t\n\nconfig u 'x'\n\n"},
		{"delete list item", Change{Kind: ChangeRemove, Section: "s", Option: "l", Value: "1", HasValue: true}, &Change{Kind: ChangeRemove, Section: "s", Option: "l", Value: "1", HasValue: true}, nil,
			"\nconfig t 's'\n\toption o 'v'\n\tlist l 'a'\n\tlist l 'a'\n\nconfig t\n\nconfig u 'x'\n\n"},
		{"delete list item out of range", Change{Kind: ChangeRemove, Section: "s", Option: "l", Value: "3", HasValue: true}, nil, nil, ""},
		{"delete with index on option", Change{Kind: ChangeRemove, Section: "s", Option: "o", Value: "0", HasValue: true}, &Change{Kind: ChangeRemove, Section: "s", Option: "o"}, nil,
			"\nconfig t 's'\n\tlist l 'a'\n\tlist l 'b'\n\tlist l 'a'\n\nconfig t\n\nconfig u 'x'\n\n"},
		{"delete section", Change{Kind: ChangeRemove, Section: "x"}, &Change{Kind: ChangeRemove, Section: "x"}, nil,
			"\nconfig t 's'\n\toption o 'v'\n\tlist l 'a'\n\tlist l 'b'\n\tlist l 'a'\n\nconfig t\n\n"},
		{"delete missing", Change{Kind: ChangeRemove, Section: "s", Option: "zz"}, nil, ErrNotFound, ""},
		{"rename section", Change{Kind: ChangeRename, Section: "x", Value: "y", HasValue: true}, &Change{Kind: ChangeRename, Section: "x", Value: "y", HasValue: true}, nil,
			"\nconfig t 's'\n\toption o 'v'\n\tlist l 'a'\n\tlist l 'b'\n\tlist l 'a'\n\nconfig t\n\nconfig u 'y'\n\n"},
		{"rename option", Change{Kind: ChangeRename, Section: "s", Option: "o", Value: "p", HasValue: true}, &Change{Kind: ChangeRename, Section: "s", Option: "o", Value: "p", HasValue: true}, nil,
			"\nconfig t 's'\n\toption p 'v'\n\tlist l 'a'\n\tlist l 'b'\n\tlist l 'a'\n\nconfig t\n\nconfig u 'x'\n\n"},
		{"rename to bad name", Change{Kind: ChangeRename, Section: "x", Value: "a-b", HasValue: true}, nil, ErrInvalid, ""},
		{"reorder", Change{Kind: ChangeReorder, Section: "x", Value: "0", HasValue: true}, &Change{Kind: ChangeReorder, Section: "x", Value: "0", HasValue: true}, nil,
			"\nconfig u 'x'\n\nconfig t 's'\n\toption o 'v'\n\tlist l 'a'\n\tlist l 'b'\n\tlist l 'a'\n\nconfig t\n\n"},
		{"reorder past the end", Change{Kind: ChangeReorder, Section: "s", Value: "7", HasValue: true}, &Change{Kind: ChangeReorder, Section: "s", Value: "7", HasValue: true}, nil,
			"\nconfig t\n\nconfig u 'x'\n\nconfig t 's'\n\toption o 'v'\n\tlist l 'a'\n\tlist l 'b'\n\tlist l 'a'\n\n"},
		{"reorder negative", Change{Kind: ChangeReorder, Section: "x", Value: "-1", HasValue: true}, &Change{Kind: ChangeReorder, Section: "x", Value: "-1", HasValue: true}, nil,
			"\nconfig u 'x'\n\nconfig t 's'\n\toption o 'v'\n\tlist l 'a'\n\tlist l 'b'\n\tlist l 'a'\n\nconfig t\n\n"},
		{"add_list to option", Change{Kind: ChangeAddList, Section: "s", Option: "o", Value: "w", HasValue: true}, &Change{Kind: ChangeAddList, Section: "s", Option: "o", Value: "w", HasValue: true}, nil,
			"\nconfig t 's'\n\tlist o 'v'\n\tlist o 'w'\n\tlist l 'a'\n\tlist l 'b'\n\tlist l 'a'\n\nconfig t\n\nconfig u 'x'\n\n"},
		{"add_list missing section", Change{Kind: ChangeAddList, Section: "q", Option: "o", Value: "w", HasValue: true}, nil, ErrInvalid, ""},
		{"del_list", Change{Kind: ChangeDelList, Section: "s", Option: "l", Value: "a", HasValue: true}, &Change{Kind: ChangeDelList, Section: "s", Option: "l", Value: "a", HasValue: true}, nil,
			"\nconfig t 's'\n\toption o 'v'\n\tlist l 'b'\n\nconfig t\n\nconfig u 'x'\n\n"},
		{"del_list on option", Change{Kind: ChangeDelList, Section: "s", Option: "o", Value: "v", HasValue: true}, nil, nil, ""},
		{"no section", Change{Kind: ChangeSet, Value: "x", HasValue: true}, nil, ErrInvalid, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Parse("cfg", []byte(file))
			if err != nil {
				t.Fatal(err)
			}
			before := string(p.Marshal())
			rec, err := p.Apply(tt.c)
			if !errors.Is(err, tt.err) {
				t.Fatalf("error %v, want %v", err, tt.err)
			}
			if tt.rec != nil {
				tt.rec.Package = "cfg"
			}
			if !reflect.DeepEqual(rec, tt.rec) {
				t.Errorf("recorded %+v, want %+v", rec, tt.rec)
			}
			want := tt.result
			if want == "" {
				want = before
			}
			if got := string(p.Marshal()); got != want {
				t.Errorf("result:\n got %q\nwant %q", got, want)
			}
		})
	}
}

func TestNumberConversions(t *testing.T) {
	for _, tt := range []struct {
		s    string
		v, n int
	}{{"1", 1, 1}, {" -2x", -2, 1}, {"+", 0, 0}, {"x", 0, 0}, {"", 0, -1}, {"  ", 0, -1}} {
		if v, n := scanInt(tt.s); v != tt.v || n != tt.n {
			t.Errorf("scanInt(%q) = %d, %d; want %d, %d", tt.s, v, n, tt.v, tt.n)
		}
	}
	for _, tt := range []struct {
		s string
		v int
	}{{"3", 3}, {"abc", 0}, {"-1", -1}, {" 12x", 12}, {"4294967297", 1}, {"99999999999999999999", -1}} {
		if v := strtoulInt(tt.s); v != tt.v {
			t.Errorf("strtoulInt(%q) = %d, want %d", tt.s, v, tt.v)
		}
	}
}

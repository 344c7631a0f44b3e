package uci

import (
	"strconv"
	"strings"
)

// ChangeKind is what a pending change does; each matches a libuci delta
// command and the `uci` command that records it.
type ChangeKind int

// The kinds of change, with the prefix character libuci's delta files use.
const (
	ChangeSet     ChangeKind = iota // no prefix: uci set
	ChangeAdd                       // '+': uci add (an anonymous section)
	ChangeRemove                    // '-': uci delete
	ChangeRename                    // '@': uci rename
	ChangeReorder                   // '^': uci reorder
	ChangeAddList                   // '|': uci add_list
	ChangeDelList                   // '~': uci del_list
)

// prefix is the character that marks a kind of change in a delta file.
func (k ChangeKind) prefix() byte {
	switch k {
	case ChangeAdd:
		return '+'
	case ChangeRemove:
		return '-'
	case ChangeRename:
		return '@'
	case ChangeReorder:
		return '^'
	case ChangeAddList:
		return '|'
	case ChangeDelList:
		return '~'
	default:
		return 0
	}
}

// Change is one pending change, as libuci keeps them in its save
// directory (/tmp/.uci/PACKAGE) until `uci commit`.
type Change struct {
	Kind            ChangeKind
	Package         string
	Section, Option string // Option is empty for a change to a section
	Value           string
	HasValue        bool // a removal may have no value; others have one
}

func (c Change) target() string {
	s := c.Package + "." + c.Section
	if c.Option != "" {
		s += "." + c.Option
	}
	return s
}

// DeltaLine returns c as a line of a libuci delta file, newline included.
func (c Change) DeltaLine() string {
	var b strings.Builder
	if ch := c.Kind.prefix(); ch != 0 {
		b.WriteByte(ch)
	}
	b.WriteString(c.target())
	if c.Kind == ChangeRemove && !c.HasValue {
		b.WriteByte('\n')
		return b.String()
	}
	b.WriteString("='")
	b.WriteString(escape(c.Value))
	b.WriteString("'\n")
	return b.String()
}

// String returns c the way `uci changes` lists it.
func (c Change) String() string {
	switch c.Kind {
	case ChangeRemove:
		return "-" + c.target()
	case ChangeAddList:
		return c.target() + "+=" + Quote(c.Value)
	case ChangeDelList:
		return c.target() + "-=" + Quote(c.Value)
	default:
		return c.target() + "=" + Quote(c.Value)
	}
}

// Ref is a "package[.section[.option]][=value]" argument of the uci
// command line, split the way libuci's uci_parse_ptr splits it.
type Ref struct {
	Package, Section, Option, Value string
	HasSection, HasOption, HasValue bool
	// Extended is set when Section is not a plain name, so it can only be
	// an "@type[index]" reference (or nothing valid).
	Extended bool
}

// ParseRef splits s at its first '=' and then at dots. It reports false
// for what libuci rejects as a parse error: more than three parts, an
// invalid package or option name, or a control character in the value.
func ParseRef(s string) (Ref, bool) {
	var r Ref
	if i := strings.IndexByte(s, '='); i >= 0 {
		r.Value, r.HasValue = s[i+1:], true
		s = s[:i]
	}
	parts := strings.Split(s, ".")
	if len(parts) > 3 {
		return Ref{}, false
	}
	r.Package = parts[0]
	if len(parts) > 1 {
		r.Section, r.HasSection = parts[1], true
		r.Extended = !ValidName(r.Section)
	}
	if len(parts) > 2 {
		r.Option, r.HasOption = parts[2], true
		if !ValidName(r.Option) {
			return Ref{}, false
		}
	}
	if !validStr(r.Package, false, true) || r.HasValue && !validText(r.Value) {
		return Ref{}, false
	}
	return r, true
}

// ParseChanges reads a libuci delta file. Lines libuci would skip as
// malformed are counted in bad. The changes of all packages are returned;
// libuci only applies those whose Package matches the file's name.
func ParseChanges(data []byte) (changes []Change, bad int) {
	p := &parser{in: input{data: data}, strict: true}
	for !p.in.eof {
		p.pos = 0
		p.getln(0)
		if p.buf[0] == 0 {
			continue
		}
		if c, ok := p.deltaTuple(); ok {
			changes = append(changes, c)
		} else {
			bad++
		}
	}
	return changes, bad
}

// deltaTuple decodes one delta line (uci_parse_delta_tuple): a single
// shell-like word, the command prefix, then a reference with a value.
func (p *parser) deltaTuple() (Change, bool) {
	v, err := p.nextArg(false, false, false)
	if err != nil || p.cur() != 0 {
		return Change{}, false
	}
	arg := p.cstr(v)
	kind := ChangeSet
	if arg != "" {
		for k := ChangeAdd; k <= ChangeDelList; k++ {
			if k.prefix() == arg[0] {
				kind = k
				arg = arg[1:]
				break
			}
		}
	}
	r, ok := ParseRef(arg)
	if !ok || !r.HasSection || r.Extended || kind != ChangeRemove && !r.HasValue {
		return Change{}, false
	}
	switch kind {
	case ChangeReorder:
		if r.HasOption {
			return Change{}, false
		}
	case ChangeRename:
		if !ValidName(r.Value) {
			return Change{}, false
		}
	case ChangeAddList, ChangeDelList:
		if !r.HasOption {
			return Change{}, false
		}
	}
	return Change{
		Kind: kind, Package: r.Package, Section: r.Section, Option: r.Option,
		Value: r.Value, HasValue: r.HasValue,
	}, true
}

// Apply makes change c to p the way the libuci function behind its kind
// does (uci_set, uci_delete, uci_add_list, ...), c.Package aside. It
// returns the change libuci records as pending, or nil when libuci records
// none (such as setting an option to the value it already has).
//
// ErrNotFound and ErrInvalid report the failures libuci reports with
// UCI_ERR_NOTFOUND and UCI_ERR_INVAL. Applying the changes of a delta file
// ignores them, as libuci does.
func (p *Package) Apply(c Change) (*Change, error) {
	if c.Section == "" {
		return nil, ErrInvalid
	}
	c.Value = cString(c.Value)
	s := p.find(c.Section)
	var o *Option
	if s != nil && c.Option != "" {
		o = s.Option(c.Option)
	}
	complete := s != nil && (c.Option == "" || o != nil)
	var rec *Change
	var err error
	switch c.Kind {
	case ChangeSet, ChangeAdd:
		rec, err = p.applySet(c, s, o, complete)
	case ChangeRemove:
		rec, err = p.applyRemove(c, s, o, complete)
	case ChangeRename:
		rec, err = applyRename(c, s, o, complete)
	case ChangeReorder:
		rec, err = p.applyReorder(c, s)
	case ChangeAddList:
		rec, err = applyAddList(c, s)
	case ChangeDelList:
		rec, err = applyDelList(c, s, o)
	default:
		return nil, ErrInvalid
	}
	if rec != nil {
		rec.Package = p.Name
	}
	return rec, err
}

func (p *Package) applySet(c Change, s *Section, o *Option, complete bool) (*Change, error) {
	if !c.HasValue || s == nil && c.Option != "" || c.Option == "" && c.Value != "" && !ValidType(c.Value) {
		return nil, ErrInvalid
	}
	if c.Value == "" {
		// Setting something to nothing deletes it, if it exists.
		if !complete {
			return nil, nil
		}
		return p.applyRemove(Change{Kind: ChangeRemove, Section: c.Section, Option: c.Option}, s, o, true)
	}
	switch {
	case c.Option != "":
		if o != nil && !o.IsList && len(o.Values) == 1 && o.Values[0] == c.Value {
			return nil, nil
		}
		s.setValue(c.Option, c.Value)
	case s == nil:
		if !ValidName(c.Section) {
			return nil, ErrInvalid
		}
		s = p.newSection(c.Value, c.Section)
	case s.Type == c.Value:
		if c.Kind == ChangeAdd {
			s.Anonymous = true
		}
		return nil, nil
	default:
		s.Type = c.Value
	}
	if c.Kind == ChangeAdd && c.Option == "" {
		s.Anonymous = true
	}
	return &Change{Kind: c.Kind, Section: c.Section, Option: c.Option, Value: c.Value, HasValue: true}, nil
}

func (p *Package) applyRemove(c Change, s *Section, o *Option, complete bool) (*Change, error) {
	if !complete {
		return nil, ErrNotFound
	}
	if c.HasValue && c.Value != "" && o != nil && o.IsList {
		// The value is the index of the list item to remove.
		idx, n := scanInt(c.Value)
		switch {
		case n == 0:
			return nil, ErrInvalid
		case n < 0 || idx < 0 || idx >= len(o.Values):
			return nil, nil
		}
		o.Values = append(o.Values[:idx], o.Values[idx+1:]...)
		return &Change{Kind: ChangeRemove, Section: c.Section, Option: c.Option, Value: c.Value, HasValue: true}, nil
	}
	if o != nil {
		for i, x := range s.Options {
			if x == o {
				s.Options = append(s.Options[:i], s.Options[i+1:]...)
				break
			}
		}
	} else {
		p.removeSection(s)
	}
	return &Change{Kind: ChangeRemove, Section: c.Section, Option: c.Option}, nil
}

func applyRename(c Change, s *Section, o *Option, complete bool) (*Change, error) {
	if !complete {
		return nil, ErrNotFound
	}
	if !c.HasValue || !ValidName(c.Value) {
		return nil, ErrInvalid
	}
	if o != nil {
		o.Name = c.Value
	} else {
		s.Name = c.Value
		s.Anonymous = false
	}
	return &Change{Kind: ChangeRename, Section: c.Section, Option: c.Option, Value: c.Value, HasValue: true}, nil
}

func (p *Package) applyReorder(c Change, s *Section) (*Change, error) {
	if s == nil || !c.HasValue {
		return nil, ErrNotFound
	}
	pos := strtoulInt(c.Value)
	p.removeSection(s)
	at := min(max(pos, 0), len(p.Sections))
	p.Sections = append(p.Sections[:at], append([]*Section{s}, p.Sections[at:]...)...)
	return &Change{Kind: ChangeReorder, Section: c.Section, Value: strconv.Itoa(pos), HasValue: true}, nil
}

func applyAddList(c Change, s *Section) (*Change, error) {
	if s == nil || !c.HasValue || c.Option == "" {
		return nil, ErrInvalid
	}
	s.addList(c.Option, c.Value)
	return &Change{Kind: ChangeAddList, Section: c.Section, Option: c.Option, Value: c.Value, HasValue: true}, nil
}

func applyDelList(c Change, s *Section, o *Option) (*Change, error) {
	if s == nil || !c.HasValue {
		return nil, ErrInvalid
	}
	if o == nil || !o.IsList {
		return nil, nil
	}
	s.DelList(c.Option, c.Value)
	return &Change{Kind: ChangeDelList, Section: c.Section, Option: c.Option, Value: c.Value, HasValue: true}, nil
}

// scanInt is C's sscanf(s, "%d", &v): n is 1 on success, 0 when s does
// not start with a number and -1 when s is empty or only spaces.
func scanInt(s string) (v, n int) {
	i := 0
	for i < len(s) && isSpace(s[i]) {
		i++
	}
	if i == len(s) {
		return 0, -1
	}
	j := i
	if s[j] == '+' || s[j] == '-' {
		j++
	}
	k := j
	for k < len(s) && s[k] >= '0' && s[k] <= '9' {
		k++
	}
	if k == j {
		return 0, 0
	}
	v, _ = strtolInt(s[i:k])
	return v, 1
}

// strtoulInt is `int pos = strtoul(s, NULL, 10)`: leading spaces and a sign
// are accepted, parsing stops at the first non-digit, overflow saturates,
// and the unsigned long keeps its low 32 bits as a signed int.
func strtoulInt(s string) int {
	i := 0
	for i < len(s) && isSpace(s[i]) {
		i++
	}
	neg := false
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		neg = s[i] == '-'
		i++
	}
	var v uint64
	for ; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
		d := uint64(s[i] - '0')
		if v > (^uint64(0)-d)/10 {
			v = ^uint64(0)
			neg = false
			for i < len(s) && s[i] >= '0' && s[i] <= '9' {
				i++
			}
			break
		}
		v = v*10 + d
	}
	if neg {
		v = -v
	}
	return int(int32(uint32(v)))
}

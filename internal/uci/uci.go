// Package uci reads and writes OpenWrt UCI configuration files the way
// libuci (the C library behind the `uci` command) does: the same parse
// decisions and error positions, the same text on commit and export, the
// same names for anonymous sections and the same delta (pending change)
// format, so that files and pending changes can be shared with the real tool.
//
// The model is deliberately plain: a Package holds Sections in file order,
// a Section holds Options in file order. Methods mirror the `uci` commands
// (Set is `uci set`, AddList is `uci add_list`, ...).
package uci

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Option is one option of a section. A plain option (`option name 'v'`)
// has IsList false and exactly one value; a list (`list name 'v'`) has
// IsList true and its items, in order, in Values.
type Option struct {
	Name   string
	IsList bool
	Values []string
}

// Section is a `config TYPE ['NAME']` block. Anonymous sections have no
// name in the file; Name then holds the name libuci gives them while loaded
// (cfgXXYYYY), which is how pending changes refer to them.
type Section struct {
	Type, Name string
	Anonymous  bool
	Options    []*Option
}

// Package is the content of one config file (one UCI "package").
type Package struct {
	Name     string
	Sections []*Section

	// allocated counts the sections ever created in this package, like
	// libuci's n_section; it is the first part of an anonymous section name.
	allocated int
}

var (
	// ErrNotFound reports that the section or option a change refers to
	// does not exist (libuci's UCI_ERR_NOTFOUND, "Entry not found").
	ErrNotFound = errors.New("entry not found")
	// ErrInvalid reports an argument libuci would reject with
	// UCI_ERR_INVAL ("Invalid argument").
	ErrInvalid = errors.New("invalid argument")
)

// isAlnum is C's isalnum in the "C" locale.
func isAlnum(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

// validStr is libuci's uci_validate_str: names allow [A-Za-z0-9_] (and '-'
// for package names), other strings any printable ASCII except space.
func validStr(s string, name, pkg bool) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if isAlnum(c) || c == '_' || c == '-' && pkg {
			continue
		}
		if name || c < 33 || c > 126 {
			return false
		}
	}
	return true
}

// ValidName reports whether s may name a section or an option:
// non-empty, only ASCII letters, digits and '_'.
func ValidName(s string) bool { return validStr(s, true, false) }

// ValidType reports whether s may be a section type: non-empty printable
// ASCII without spaces.
func ValidType(s string) bool { return validStr(s, false, false) }

// ValidPackageName reports whether s may name a config file: what libuci
// accepts (printable ASCII without spaces), minus '/' and '.' so that the
// name can never leave the config directory, and minus the characters
// that would make libuci's pending changes for it unreadable: ' " \ # ;
func ValidPackageName(s string) bool {
	return validStr(s, false, true) && !strings.ContainsAny(s, "/.'\"\\#;")
}

// validText is libuci's uci_validate_text, applied to values given on the
// command line and in delta files: no control characters but tab, CR, LF.
func validText(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 32 && c != '\t' && c != '\n' && c != '\r' {
			return false
		}
	}
	return true
}

// cString cuts s at its first NUL byte: libuci stores C strings, so nothing
// after a NUL could ever be written or read back.
func cString(s string) string {
	if i := strings.IndexByte(s, 0); i >= 0 {
		return s[:i]
	}
	return s
}

// djbHash continues libuci's djbhash over s. The bytes are added as C
// chars, which are signed on the platforms uci is usually built for.
func djbHash(h uint32, s string) uint32 {
	if h == ^uint32(0) {
		h = 5381
	}
	for i := 0; i < len(s); i++ {
		h = h<<5 + h + uint32(int32(int8(s[i])))
	}
	return h & 0x7FFFFFFF
}

// anonName gives s the name libuci gives a new anonymous section:
// "cfg" + the allocation counter (two hex digits or more) + four hex digits
// of a hash of its type and options.
func (p *Package) anonName(s *Section) string {
	h := djbHash(^uint32(0), s.Type)
	for _, o := range s.Options {
		h = djbHash(h, o.Name)
		if !o.IsList && len(o.Values) > 0 {
			h = djbHash(h, o.Values[0])
		}
	}
	return "cfg" + hex(uint32(p.allocated), 2) + hex(h%(1<<16), 4)
}

// hex formats v in lower-case hex with at least width digits.
func hex(v uint32, width int) string {
	s := strconv.FormatUint(uint64(v), 16)
	if len(s) < width {
		s = strings.Repeat("0", width-len(s)) + s
	}
	return s
}

// find returns the first section called name (anonymous ones included,
// by their generated name), as libuci's list lookup does.
func (p *Package) find(name string) *Section {
	for _, s := range p.Sections {
		if s.Name == name {
			return s
		}
	}
	return nil
}

func (p *Package) index(s *Section) int {
	for i, x := range p.Sections {
		if x == s {
			return i
		}
	}
	return -1
}

// newSection appends a section, counting it like libuci does.
func (p *Package) newSection(typ, name string) *Section {
	p.allocated++
	s := &Section{Type: typ, Name: name}
	if name == "" {
		s.Anonymous = true
		s.Name = p.anonName(s)
	}
	p.Sections = append(p.Sections, s)
	return s
}

// LookupSection finds a section by name, or, for references that are not
// plain names, by libuci's extended syntax "@type[index]": the index-th
// section of that type (all types when type is empty), counting from the
// end when negative. A malformed reference gives ErrInvalid; a reference
// to nothing gives nil and no error.
func (p *Package) LookupSection(ref string) (*Section, error) {
	if ValidName(ref) {
		return p.find(ref), nil
	}
	typ, idx, ok := parseExtRef(ref)
	if !ok {
		return nil, ErrInvalid
	}
	if idx < 0 {
		for _, s := range p.Sections {
			if typ == "" || s.Type == typ {
				idx++
			}
		}
	}
	n := 0
	for _, s := range p.Sections {
		if typ != "" && s.Type != typ {
			continue
		}
		if n == idx {
			return s, nil
		}
		n++
	}
	return nil, nil
}

// parseExtRef splits "@type[index]" the way libuci does, strtol included.
func parseExtRef(ref string) (typ string, idx int, ok bool) {
	if !strings.HasPrefix(ref, "@") {
		return "", 0, false
	}
	rest := ref[1:]
	open := strings.IndexByte(rest, '[')
	if open < 0 {
		return "", 0, false
	}
	typ, num := rest[:open], rest[open+1:]
	closing := strings.IndexByte(num, ']')
	if closing < 0 || closing != len(num)-1 {
		return "", 0, false
	}
	idx, ok = strtolInt(num[:closing])
	if !ok || typ != "" && !ValidType(typ) {
		return "", 0, false
	}
	return typ, idx, true
}

// strtolInt converts s like C's `int i = strtol(s, &end, 10)` and reports
// whether all of s was used (an empty s is 0, as in libuci).
func strtolInt(s string) (int, bool) {
	if s == "" {
		return 0, true
	}
	i := 0
	for i < len(s) && isSpace(s[i]) {
		i++
	}
	neg := false
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		neg = s[i] == '-'
		i++
	}
	start := i
	var v uint64
	over := false
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		if v > (1<<63)/10 {
			over = true
		} else {
			v = v*10 + uint64(s[i]-'0')
		}
		i++
	}
	if i == start || i != len(s) {
		return 0, false
	}
	var l int64
	switch {
	case neg && (over || v > 1<<63):
		l = -1 << 63
	case neg:
		l = -int64(v)
	case over || v > 1<<63-1:
		l = 1<<63 - 1
	default:
		l = int64(v)
	}
	// The long is stored into an int, keeping its low 32 bits.
	return int(int32(l)), true
}

// Section returns the section called name, or the one an "@type[i]"
// reference designates; nil when there is none.
func (p *Package) Section(name string) *Section {
	s, _ := p.LookupSection(name)
	return s
}

// SectionsOfType returns the sections of type typ, in file order.
func (p *Package) SectionsOfType(typ string) []*Section {
	var out []*Section
	for _, s := range p.Sections {
		if s.Type == typ {
			out = append(out, s)
		}
	}
	return out
}

// AddSection adds a section at the end, like `uci add` (name "") or
// `uci set pkg.name=type`. An anonymous section gets a libuci-style name
// (cfgXXYYYY). If a section called name exists, it is returned with its
// type changed to typ. It returns nil when typ is not a valid type or name
// is neither empty nor a valid name.
func (p *Package) AddSection(typ, name string) *Section {
	if !ValidType(typ) || name != "" && !ValidName(name) {
		return nil
	}
	if name != "" {
		if s := p.find(name); s != nil {
			s.Type = typ
			return s
		}
	}
	return p.newSection(typ, name)
}

// DeleteSection removes the section Section(name) would return and
// reports whether there was one.
func (p *Package) DeleteSection(name string) bool {
	s := p.Section(name)
	if s == nil {
		return false
	}
	p.removeSection(s)
	return true
}

func (p *Package) removeSection(s *Section) {
	if i := p.index(s); i >= 0 {
		p.Sections = append(p.Sections[:i], p.Sections[i+1:]...)
	}
}

// Option returns the option called name, or nil.
func (s *Section) Option(name string) *Option {
	for _, o := range s.Options {
		if o.Name == name {
			return o
		}
	}
	return nil
}

// Get returns the value of a plain option. It reports false when the
// option is missing and also when it is a list: a list is not silently
// read as a single value; use List for options that may be lists.
func (s *Section) Get(opt string) (string, bool) {
	o := s.Option(opt)
	if o == nil || o.IsList || len(o.Values) == 0 {
		return "", false
	}
	return o.Values[0], true
}

// List returns the items of a list option, or a plain option's value as a
// one-item list; nil when the option is missing.
func (s *Section) List(opt string) []string {
	o := s.Option(opt)
	if o == nil {
		return nil
	}
	if !o.IsList && len(o.Values) > 1 {
		return append([]string(nil), o.Values[:1]...)
	}
	return append([]string(nil), o.Values...)
}

// Set sets a plain option like `uci set`: an existing option (list or not)
// is replaced where it stands, a new one is appended, and an empty value
// deletes the option (UCI cannot store an empty plain option). Values are
// cut at the first NUL byte. An invalid option name is ignored; check it
// with ValidName first.
func (s *Section) Set(opt, value string) {
	if !ValidName(opt) {
		return
	}
	value = cString(value)
	if value == "" {
		s.Delete(opt)
		return
	}
	s.setValue(opt, value)
}

func (s *Section) setValue(opt, value string) {
	if o := s.Option(opt); o != nil {
		o.IsList = false
		o.Values = []string{value}
		return
	}
	s.Options = append(s.Options, &Option{Name: opt, Values: []string{value}})
}

// SetList replaces option opt by a list of values (kept in place if the
// option exists, appended otherwise). No values deletes the option. Items
// are cut at the first NUL byte; an invalid option name is ignored.
func (s *Section) SetList(opt string, values []string) {
	if !ValidName(opt) {
		return
	}
	if len(values) == 0 {
		s.Delete(opt)
		return
	}
	vs := make([]string, len(values))
	for i, v := range values {
		vs[i] = cString(v)
	}
	if o := s.Option(opt); o != nil {
		o.IsList = true
		o.Values = vs
		return
	}
	s.Options = append(s.Options, &Option{Name: opt, IsList: true, Values: vs})
}

// AddList appends value to list opt like `uci add_list`: a plain option
// becomes a list holding its old value first; a missing option becomes a
// new list. An invalid option name is ignored.
func (s *Section) AddList(opt, value string) {
	if !ValidName(opt) {
		return
	}
	s.addList(opt, cString(value))
}

func (s *Section) addList(opt, value string) {
	o := s.Option(opt)
	switch {
	case o == nil:
		s.Options = append(s.Options, &Option{Name: opt, IsList: true, Values: []string{value}})
	case o.IsList:
		o.Values = append(o.Values, value)
	default:
		o.IsList = true
		o.Values = append(o.Values[:min(len(o.Values), 1):min(len(o.Values), 1)], value)
	}
}

// DelList removes every item equal to value from list opt, like
// `uci del_list`, and reports whether opt is a list. Plain options are
// left alone. An emptied list stays (it is not written to the file).
func (s *Section) DelList(opt, value string) bool {
	o := s.Option(opt)
	if o == nil || !o.IsList {
		return false
	}
	kept := o.Values[:0]
	for _, v := range o.Values {
		if v != value {
			kept = append(kept, v)
		}
	}
	o.Values = kept
	return true
}

// Delete removes option opt and reports whether it existed.
func (s *Section) Delete(opt string) bool {
	for i, o := range s.Options {
		if o.Name == opt {
			s.Options = append(s.Options[:i], s.Options[i+1:]...)
			return true
		}
	}
	return false
}

// Validate reports the first thing in p that the file format cannot
// represent: an invalid type or name, a plain option without exactly one
// non-empty value, or a NUL byte in a value. Dir.Update refuses to write such a
// package.
func (p *Package) Validate() error {
	for _, s := range p.Sections {
		if !ValidType(s.Type) {
			return fmt.Errorf("uci: section %q: invalid type %q", s.Name, s.Type)
		}
		if !s.Anonymous && !ValidName(s.Name) {
			return fmt.Errorf("uci: invalid section name %q", s.Name)
		}
		for _, o := range s.Options {
			if !ValidName(o.Name) {
				return fmt.Errorf("uci: section %q: invalid option name %q", s.Name, o.Name)
			}
			if !o.IsList && (len(o.Values) != 1 || o.Values[0] == "") {
				return fmt.Errorf("uci: option %s.%s: a plain option needs exactly one non-empty value", s.Name, o.Name)
			}
			for _, v := range o.Values {
				if strings.IndexByte(v, 0) >= 0 {
					return fmt.Errorf("uci: option %s.%s: value contains a NUL byte", s.Name, o.Name)
				}
			}
		}
	}
	return nil
}

package uci

import (
	"fmt"
)

// ParseError is a syntax error, reported the way libuci reports it.
// Line counts the lines read so far (a last line without a newline is not
// counted); Byte is the offset in libuci's line buffer, which holds more
// than one line when a quoted value or a backslash continues a line.
type ParseError struct {
	Reason string
	Line   int
	Byte   int
}

// Error returns the text libuci prints after "uci: ".
func (e *ParseError) Error() string {
	return fmt.Sprintf("Parse error (%s) at line %d, byte %d", e.Reason, e.Line, e.Byte)
}

// ParseOptions changes how Parse treats errors.
type ParseOptions struct {
	// Lenient skips a line with an error and goes on, like `uci -S`
	// (libuci without UCI_FLAG_STRICT): extra arguments are then accepted
	// and a named section may be redeclared with another type.
	Lenient bool
	// OnError, if set, is called with each error skipped in lenient mode.
	OnError func(*ParseError)
}

// Parse reads a config file's content as package pkg, with libuci's
// default (strict) rules. A syntax error is returned as a *ParseError with
// the reason, line and byte libuci reports. A "package" line in the file
// is checked but, as in libuci, does not change the package name.
func Parse(pkg string, data []byte) (*Package, error) {
	return ParseWith(pkg, data, ParseOptions{})
}

// ParseWith is Parse with options.
func ParseWith(pkg string, data []byte, opt ParseOptions) (*Package, error) {
	if !ValidPackageName(pkg) {
		return nil, fmt.Errorf("uci: invalid package name %q", pkg)
	}
	p := &parser{in: input{data: data}, strict: !opt.Lenient, pkg: &Package{Name: pkg}}
	for !p.in.eof {
		p.pos = 0
		p.getln(0)
		if p.buf[0] == 0 {
			continue
		}
		if err := p.parseLine(); err != nil {
			if p.strict {
				return nil, err
			}
			if opt.OnError != nil {
				opt.OnError(err)
			}
		}
	}
	return p.pkg, nil
}

// lineBufInit is libuci's initial line buffer size. How the buffer grows
// decides how a line containing a NUL byte is cut, so it is kept the same.
const lineBufInit = 32

// input is a C stdio stream over a byte slice, as far as fgets and feof go.
type input struct {
	data []byte
	off  int
	eof  bool
}

// fgets stores at most n-1 bytes, up to and including a newline,
// followed by a NUL, as C's fgets(dst, n, stream). It returns false at end
// of input. dst must have room for what it stores.
func (r *input) fgets(dst []byte, n int) bool {
	if n <= 1 {
		dst[0] = 0
		return true
	}
	if r.off >= len(r.data) {
		r.eof = true
		return false
	}
	i := 0
	for i < n-1 {
		if r.off >= len(r.data) {
			r.eof = true
			break
		}
		c := r.data[r.off]
		r.off++
		dst[i] = c
		i++
		if c == '\n' {
			break
		}
	}
	dst[i] = 0
	return true
}

// parser replays libuci's parser (file.c) step by step on the same
// in-place line buffer, which is what makes the accept/reject decisions
// and the reported positions identical, quirks included.
type parser struct {
	in input
	// buf holds the line buffer's content; bufsz is the size libuci's
	// buffer would have. Only the size decides where fgets cuts a line, so
	// it is tracked without allocating it: libuci doubles its buffer for
	// every line holding a NUL byte and would run out of memory.
	buf    []byte
	bufsz  int
	filled int // end of the data read into buf (libuci's buf_filled)
	pos    int
	line   int
	strict bool
	pkg    *Package
	sec    *Section
}

func isSpace(c byte) bool {
	return c == ' ' || c >= '\t' && c <= '\r'
}

func (p *parser) at(i int) byte {
	if i < len(p.buf) {
		return p.buf[i]
	}
	return 0
}

func (p *parser) set(i int, c byte) {
	if i < len(p.buf) {
		p.buf[i] = c
	}
}

func (p *parser) cur() byte { return p.at(p.pos) }

// cstr returns the C string starting at i.
func (p *parser) cstr(i int) string {
	for j := i; j < len(p.buf); j++ {
		if p.buf[j] == 0 {
			return string(p.buf[i:j])
		}
	}
	if i < len(p.buf) {
		return string(p.buf[i:])
	}
	return ""
}

func (p *parser) clen(i int) int { return len(p.cstr(i)) }

// maxBufSize caps the simulated buffer size where libuci would long
// have failed to allocate.
const maxBufSize = 1 << 30 // fits int on the 32-bit routers too

func (p *parser) grow() {
	p.bufsz = min(2*p.bufsz, maxBufSize)
}

// reserve makes buf hold at least n bytes.
func (p *parser) reserve(n int) {
	if n > len(p.buf) {
		nb := make([]byte, max(n, 2*len(p.buf)))
		copy(nb, p.buf)
		p.buf = nb
	}
}

func (p *parser) errorf(reason string) *ParseError {
	return &ParseError{Reason: reason, Line: p.line, Byte: p.pos}
}

// getln reads the next line into the buffer at offset (uci_getln).
func (p *parser) getln(offset int) {
	if p.bufsz == 0 {
		p.bufsz = lineBufInit
	}
	for offset >= p.bufsz-1 {
		p.grow()
	}
	ofs := offset
	for {
		// fgets stores at most the rest of the input and a NUL.
		p.reserve(ofs + min(p.bufsz-ofs, len(p.in.data)-p.in.off+1))
		p.buf[ofs] = 0
		if !p.in.fgets(p.buf[ofs:], p.bufsz-ofs) || p.buf[ofs] == 0 {
			return
		}
		ofs += p.clen(ofs)
		p.filled = ofs
		if p.buf[ofs-1] == '\n' {
			p.line++
			return
		}
		p.grow()
	}
}

// parseBackslash skips a backslash; at the end of a line it joins the next
// line and reports false (nothing to copy).
func (p *parser) parseBackslash() bool {
	p.pos++
	c := p.cur()
	if c == 0 || c == '\n' || c == '\r' && p.at(p.pos+1) == '\n' && p.at(p.pos+2) == 0 {
		p.getln(p.pos)
		return false
	}
	return true
}

func (p *parser) skipSpace() {
	for c := p.cur(); c != 0 && isSpace(c); c = p.cur() {
		p.pos++
	}
}

// addc copies the current byte to *target, compacting the buffer in place.
func (p *parser) addc(target *int) {
	p.set(*target, p.cur())
	*target++
	p.pos++
}

func (p *parser) parseDoubleQuote(target *int) *ParseError {
	p.pos++
	for {
		switch p.cur() {
		case '"':
			p.pos++
			return nil
		case 0:
			// A quoted value may span lines.
			p.getln(p.pos)
			if p.cur() == 0 {
				return p.errorf("EOF with unterminated \"")
			}
		case '\\':
			if p.parseBackslash() {
				p.addc(target)
			}
		default:
			p.addc(target)
		}
	}
}

func (p *parser) parseSingleQuote(target *int) *ParseError {
	p.pos++
	for {
		switch p.cur() {
		case '\'':
			p.pos++
			return nil
		case 0:
			p.getln(p.pos)
			if p.cur() == 0 {
				return p.errorf("EOF with unterminated '")
			}
		default:
			p.addc(target)
		}
	}
}

// parseStr decodes one word (parse_str): quotes, backslashes, a '#' that
// starts a comment and a ';' that ends a command.
func (p *parser) parseStr(target *int) *ParseError {
	next := true
loop:
	for {
		switch p.cur() {
		case '\'':
			if err := p.parseSingleQuote(target); err != nil {
				return err
			}
		case '"':
			if err := p.parseDoubleQuote(target); err != nil {
				return err
			}
		case '#':
			p.set(p.pos, 0)
			break loop
		case 0:
			break loop
		case ';':
			next = false
			break loop
		case '\\':
			if p.parseBackslash() {
				p.addc(target)
			}
		default:
			p.addc(target)
		}
		if c := p.cur(); c == 0 || isSpace(c) {
			break
		}
	}
	if p.cur() != 0 && next {
		p.pos++
	}
	p.set(*target, 0)
	return nil
}

// nextArg decodes the next argument and returns its offset (next_arg).
func (p *parser) nextArg(required, name, pkg bool) (int, *ParseError) {
	p.skipSpace()
	val := p.pos
	ptr := p.pos
	if p.cur() == ';' {
		p.set(p.pos, 0)
		p.pos++
	} else if err := p.parseStr(&ptr); err != nil {
		return 0, err
	}
	if p.at(val) == 0 {
		if required {
			return 0, p.errorf("insufficient arguments")
		}
		return val, nil
	}
	if name && !validStr(p.cstr(val), name, pkg) {
		return 0, p.errorf("invalid character in name field")
	}
	return val, nil
}

func (p *parser) assertEOL() *ParseError {
	p.skipSpace()
	v, err := p.nextArg(false, false, false)
	if err != nil {
		return err
	}
	if p.at(v) != 0 && p.strict {
		return p.errorf("too many arguments")
	}
	return nil
}

// increasePos steps over the command word strtok cut off.
func (p *parser) increasePos() bool {
	add := p.clen(p.pos) + 1
	if p.pos+add > p.filled {
		return false
	}
	p.pos += add
	return true
}

// strtok finds the next word separated by spaces or tabs, cutting it off
// with a NUL like C's strtok; -1 when there is none.
func (p *parser) strtok() int {
	i := p.pos
	for c := p.at(i); c == ' ' || c == '\t'; c = p.at(i) {
		i++
	}
	if p.at(i) == 0 {
		return -1
	}
	start := i
	for c := p.at(i); c != 0 && c != ' ' && c != '\t'; c = p.at(i) {
		i++
	}
	p.set(i, 0)
	return start
}

// parseLine runs the commands of one line (uci_parse_line).
func (p *parser) parseLine() *ParseError {
	p.skipSpace()
	for {
		w := p.strtok()
		if w < 0 {
			return nil
		}
		word := p.cstr(w)
		var err *ParseError
		switch {
		case word[0] == '#':
			return nil
		case word == "p" || word == "package":
			err = p.parsePackage()
		case word == "c" || word == "config":
			err = p.parseConfig()
		case word == "o" || word == "option":
			err = p.parseOption(false)
		case word == "l" || word == "list":
			err = p.parseOption(true)
		default:
			err = p.errorf("invalid command")
		}
		if err != nil {
			return err
		}
	}
}

// parsePackage checks a "package NAME" line; a file loaded as a given
// package keeps that name whatever the line says.
func (p *parser) parsePackage() *ParseError {
	if !p.increasePos() {
		return p.errorf("package without name")
	}
	if _, err := p.nextArg(true, true, true); err != nil {
		return err
	}
	return p.assertEOL()
}

func (p *parser) parseConfig() *ParseError {
	if !p.increasePos() {
		return p.errorf("config without name")
	}
	tv, err := p.nextArg(true, false, false)
	if err != nil {
		return err
	}
	if !ValidType(p.cstr(tv)) {
		return p.errorf("invalid character in type field")
	}
	nv, err := p.nextArg(false, true, false)
	if err != nil {
		return err
	}
	if err := p.assertEOL(); err != nil {
		return err
	}
	typ, name := p.cstr(tv), p.cstr(nv)
	if name == "" {
		p.sec = p.pkg.newSection(typ, "")
		return nil
	}
	s := p.pkg.find(name)
	if s == nil {
		p.sec = p.pkg.newSection(typ, name)
		return nil
	}
	if s.Type != typ {
		if p.strict {
			return p.errorf("section of different type overwrites prior section with same name")
		}
		s.Type = typ
	}
	p.sec = s
	return nil
}

func (p *parser) parseOption(list bool) *ParseError {
	if p.sec == nil {
		return p.errorf("option/list command found before the first section")
	}
	if !p.increasePos() {
		return p.errorf("option without name")
	}
	nv, err := p.nextArg(true, true, false)
	if err != nil {
		return err
	}
	vv, err := p.nextArg(false, false, false)
	if err != nil {
		return err
	}
	if err := p.assertEOL(); err != nil {
		return err
	}
	name, value := p.cstr(nv), p.cstr(vv)
	switch {
	case list:
		p.sec.addList(name, value)
	case value != "":
		p.sec.setValue(name, value)
	}
	// libuci ignores a plain option with an empty value while loading.
	return nil
}

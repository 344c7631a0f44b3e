package uci

// ArgReader splits text into lines of arguments the way `uci batch` reads
// its input (libuci's uci_parse_argument): words separated by white space,
// quotes and backslashes decoded, '#' starting a comment, quoted words
// running over several lines.
type ArgReader struct {
	p       parser
	reason  string
	errByte int
}

// NewArgReader returns a reader over data.
func NewArgReader(data []byte) *ArgReader {
	return &ArgReader{p: parser{in: input{data: data}, strict: true}}
}

// EOF reports whether the input is exhausted (C's feof: true only after
// a read hit the end).
func (a *ArgReader) EOF() bool { return a.p.in.eof }

// Next returns the next argument; first moves to a new line before. An
// empty string means the line has no more arguments. A quote left open
// at the end of the input is a *ParseError.
func (a *ArgReader) Next(first bool) (string, error) {
	if first {
		a.p.pos = 0
		a.p.getln(0)
	}
	v, err := a.p.nextArg(false, false, false)
	if err != nil {
		a.reason, a.errByte = err.Reason, err.Byte
		return "", err
	}
	return a.p.cstr(v), nil
}

// Reset forgets the line count and the last error, as libuci does when
// it parses another file in between (its parse context is shared).
func (a *ArgReader) Reset() {
	a.p = parser{in: a.p.in, strict: true}
	a.reason, a.errByte = "", 0
}

// State returns what libuci's shared parse context holds for error
// messages: the reason of the last error (empty if none), the lines read
// since the last Reset and the byte of the last error.
func (a *ArgReader) State() (reason string, line, pos int) {
	return a.reason, a.p.line, a.errByte
}

package httpd

import "bytes"

// ErrorKind says why a request head was refused; it picks the status and
// the page of the answer.
type ErrorKind uint8

// Kinds of refusal.
const (
	KindBadLine   ErrorKind = iota + 1 // malformed request line (400)
	KindNotHTTP                        // not HTTP at all: the first bytes are no method (400)
	KindLineLong                       // request line over Limits.RequestLine (414)
	KindHeadLarge                      // headers over Limits.HeaderBytes or HeaderCount (431)
	KindVersion                        // HTTP/2 and later on an HTTP/1 port (505)
	KindBadHeader                      // malformed header field (400)
	KindFraming                        // ambiguous or unsupported body framing (400)
)

// ParseError is a refused request head. The values are fixed, so returning
// one allocates nothing.
type ParseError struct {
	Kind   ErrorKind
	Detail string // short, for the event
}

func (e *ParseError) Error() string { return "bad request: " + e.Detail }

// The refusals; treat them as constants.
var (
	errNotHTTP      = &ParseError{KindNotHTTP, "not an HTTP request"}
	errBadLine      = &ParseError{KindBadLine, "malformed request line"}
	errBadTarget    = &ParseError{KindBadLine, "malformed request target"}
	errBadVersion   = &ParseError{KindBadLine, "malformed HTTP version"}
	errHTTP09       = &ParseError{KindBadLine, "HTTP/0.9 request other than GET"}
	errLeading      = &ParseError{KindBadLine, "too many empty lines before the request"}
	errLineLong     = &ParseError{KindLineLong, "request line too long"}
	errVersion      = &ParseError{KindVersion, "unsupported HTTP version"}
	errHeadBytes    = &ParseError{KindHeadLarge, "request headers too large"}
	errHeadCount    = &ParseError{KindHeadLarge, "too many request headers"}
	errBadHeader    = &ParseError{KindBadHeader, "malformed header field"}
	errObsFold      = &ParseError{KindBadHeader, "obsolete header line folding"}
	errNoHost       = &ParseError{KindBadHeader, "HTTP/1.1 request without Host"}
	errDupHost      = &ParseError{KindBadHeader, "duplicate Host"}
	errBadLength    = &ParseError{KindFraming, "malformed Content-Length"}
	errDupLength    = &ParseError{KindFraming, "duplicate Content-Length"}
	errBadTE        = &ParseError{KindFraming, "unsupported Transfer-Encoding"}
	errDupTE        = &ParseError{KindFraming, "duplicate Transfer-Encoding"}
	errTEWithLength = &ParseError{KindFraming, "Content-Length with Transfer-Encoding"}
	errTE10         = &ParseError{KindFraming, "Transfer-Encoding in an HTTP/1.0 request"}
)

// maxMethod bounds a method name; the longest registered one has 17 bytes.
const maxMethod = 32

// Form is the shape of a request target (RFC 9112, section 3.2).
type Form uint8

// Request target forms.
const (
	OriginForm    Form = iota // /path?query
	AbsoluteForm              // http://host/path, what a proxy is asked
	AuthorityForm             // host:port, only with CONNECT
	AsteriskForm              // *, only meaningful with OPTIONS
)

// Request is one parsed request head. Its slices point into the bytes given
// to Parser.Parse and are valid only as long as those are.
type Request struct {
	Method, Target []byte
	Form           Form
	Major, Minor   int // 0.9 for a request line without a version

	Host, UserAgent    []byte
	Authorization      []byte
	ProxyAuthorization []byte

	ContentLength int64 // -1 when absent
	Chunked       bool
	KeepAlive     bool // after the version's default and Connection
	Expect100     bool
	Headers       int // header fields, for the record
}

// HasBody tells whether a body follows the head.
func (r *Request) HasBody() bool { return r.Chunked || r.ContentLength > 0 }

// request line phases of Parser.
const (
	plStart     = iota // before the method, skipping empty lines
	plStartCR          // CR of an empty line seen
	plMethod           // in the method
	plSP1              // spaces after the method
	plTarget           // in the target
	plSP2              // spaces after the target
	plVersion          // in the version
	plVersionSP        // spaces after the version
	plCR               // CR ending the line seen
	plHeaders          // request line done; looking for the empty line
)

// Parser finds and parses request heads in a byte stream, one at a time,
// without allocating. It checks the request line as its bytes arrive, so a
// stream of garbage is refused at its first byte and a long line at
// Limits.RequestLine, whatever the size of the reads.
//
// The caller keeps the unconsumed bytes of the stream contiguous and calls
// Parse with all of them, the same prefix each time plus whatever arrived;
// the parser remembers how far it got, as offsets, so the bytes may move
// between calls. After a head, Reset, drop the head's bytes (and the body's)
// and start again.
type Parser struct {
	lineMax, headerBytes, headerCount int

	phase int
	pos   int // bytes examined so far
	// offsets in the head of the request line's parts
	mStart, mEnd, tStart, tEnd, vStart, vEnd int
	lineEnd                                  int // first byte after the request line
	lineStart                                int // start of the header line being looked at
	count                                    int // header lines so far
}

// NewParser returns a parser bounded by the given limits (see session.Limits;
// values below 1 are taken as 1).
func NewParser(lineMax, headerBytes, headerCount int) *Parser {
	p := &Parser{}
	p.init(lineMax, headerBytes, headerCount)
	return p
}

func (p *Parser) init(lineMax, headerBytes, headerCount int) {
	p.lineMax, p.headerBytes, p.headerCount = max(lineMax, 1), max(headerBytes, 1), max(headerCount, 1)
	p.Reset()
}

// Reset prepares the parser for the next request head.
func (p *Parser) Reset() {
	*p = Parser{lineMax: p.lineMax, headerBytes: p.headerBytes, headerCount: p.headerCount}
}

// MaxHead is the size of a buffer that never fills up with an undecided
// head: the line, its CRLF, the fields, the empty line, and one byte more.
func (p *Parser) MaxHead() int { return p.lineMax + 2 + p.headerBytes + 2 + 1 }

// Started tells whether the current head has begun (more than empty lines).
func (p *Parser) Started() bool { return p.phase > plStartCR }

// Line returns what is known of the current request line in b, the bytes
// given to the last Parse: the method once complete, and the target, in
// part if the line is not complete (for a record of a refused or cut
// request). Both are nil before the method is complete.
func (p *Parser) Line(b []byte) (method, target []byte) {
	if p.phase <= plMethod || p.pos > len(b) {
		return nil, nil
	}
	method = b[p.mStart:p.mEnd]
	switch {
	case p.phase == plTarget && p.tStart <= p.pos:
		target = b[p.tStart:p.pos]
	case p.phase > plTarget:
		target = b[p.tStart:p.tEnd]
	}
	return method, target
}

// Parse looks at b, the unconsumed bytes of the stream. It returns the
// length of a complete head, parsed into req; or 0 and nil when it needs
// more bytes; or a refusal. After a refusal the stream cannot be resumed.
func (p *Parser) Parse(b []byte, req *Request) (int, *ParseError) {
	if p.pos > len(b) { // misuse: the bytes shrank; start over
		p.Reset()
	}
	if p.phase != plHeaders {
		if err := p.scanLine(b); err != nil {
			return 0, err
		}
		if p.phase != plHeaders {
			return 0, nil
		}
		p.lineStart = p.lineEnd
		p.pos = p.lineEnd
	}
	if p.vStart == p.vEnd { // HTTP/0.9 has no headers
		if err := p.parse(b[:p.lineEnd], req); err != nil {
			return 0, err
		}
		return p.lineEnd, nil
	}
	end, err := p.scanHeaders(b)
	if err != nil || end == 0 {
		return 0, err
	}
	if err := p.parse(b[:end], req); err != nil {
		return 0, err
	}
	return end, nil
}

// scanLine advances over the request line, checking every byte once.
func (p *Parser) scanLine(b []byte) *ParseError {
	i, err := p.stepLine(b)
	// Line reports the target up to where the parser stopped.
	p.pos = i
	return err
}

// stepLine is scanLine's loop; it returns where it stopped.
func (p *Parser) stepLine(b []byte) (int, *ParseError) {
	i := p.pos
	for ; i < len(b); i++ {
		c := b[i]
		// The line budget counts from the head's start, empty lines
		// included, so nothing before the headers exceeds LineMax+2.
		if i >= p.lineMax && (p.phase <= plStartCR || c != '\r' && c != '\n') {
			switch p.phase {
			case plStart, plStartCR:
				return i, errLeading
			case plMethod:
				return i, errNotHTTP
			}
			return i, errLineLong
		}
		switch p.phase {
		case plStart:
			switch {
			case c == '\n':
			case c == '\r':
				p.phase = plStartCR
			case isTchar(c):
				p.mStart, p.phase = i, plMethod
			default:
				return i, errNotHTTP
			}
		case plStartCR:
			if c != '\n' {
				return i, errNotHTTP
			}
			p.phase = plStart
		case plMethod:
			switch {
			case isTchar(c) && i-p.mStart < maxMethod:
			case c == ' ':
				p.mEnd, p.phase = i, plSP1
			default:
				// No method, no HTTP: a TLS hello, SSH, a scan.
				return i, errNotHTTP
			}
		case plSP1:
			switch {
			case c == ' ':
			case isTargetChar(c):
				p.tStart, p.phase = i, plTarget
			default:
				return i, errBadTarget
			}
		case plTarget:
			switch {
			case isTargetChar(c):
			case c == ' ':
				p.tEnd, p.phase = i, plSP2
			case c == '\r':
				p.tEnd, p.vStart, p.vEnd, p.phase = i, i, i, plCR
			case c == '\n':
				p.tEnd, p.vStart, p.vEnd = i, i, i
				p.lineEnd, p.phase = i+1, plHeaders
				return i + 1, nil
			default:
				return i, errBadTarget
			}
		case plSP2:
			switch c {
			case ' ':
			case '\r':
				p.vStart, p.vEnd, p.phase = i, i, plCR
			case '\n':
				p.vStart, p.vEnd = i, i
				p.lineEnd, p.phase = i+1, plHeaders
				return i + 1, nil
			default:
				p.vStart, p.phase = i, plVersion
			}
		case plVersion:
			switch {
			case c == '\r':
				p.vEnd, p.phase = i, plCR
			case c == '\n':
				p.vEnd = i
				p.lineEnd, p.phase = i+1, plHeaders
				return i + 1, nil
			case c == ' ':
				p.vEnd, p.phase = i, plVersionSP
			case i-p.vStart >= len("HTTP/1.1") || c <= ' ' || c >= 0x7f:
				return i, errBadVersion
			}
		case plVersionSP:
			switch c {
			case ' ':
			case '\r':
				p.phase = plCR
			case '\n':
				p.lineEnd, p.phase = i+1, plHeaders
				return i + 1, nil
			default:
				return i, errBadVersion
			}
		case plCR:
			if c != '\n' {
				return i, errBadLine
			}
			p.lineEnd, p.phase = i+1, plHeaders
			return i + 1, nil
		}
	}
	return i, nil
}

// scanHeaders looks for the empty line ending the head, counting lines and
// bytes. It returns the head's length once found.
func (p *Parser) scanHeaders(b []byte) (int, *ParseError) {
	for {
		i := bytes.IndexByte(b[p.pos:], '\n')
		if i < 0 {
			p.pos = len(b)
			// Allow for the empty line's CRLF after HeaderBytes of fields.
			if len(b)-p.lineEnd > p.headerBytes+2 {
				return 0, errHeadBytes
			}
			return 0, nil
		}
		e := p.pos + i
		line := b[p.lineStart:e]
		if len(line) == 0 || len(line) == 1 && line[0] == '\r' {
			return e + 1, nil
		}
		p.count++
		if p.count > p.headerCount {
			return 0, errHeadCount
		}
		if e+1-p.lineEnd > p.headerBytes {
			return 0, errHeadBytes
		}
		p.lineStart, p.pos = e+1, e+1
	}
}

// parse checks the whole head, now complete, and fills req.
func (p *Parser) parse(head []byte, req *Request) *ParseError {
	*req = Request{
		Method:        head[p.mStart:p.mEnd],
		Target:        head[p.tStart:p.tEnd],
		ContentLength: -1,
	}
	if err := parseVersion(head[p.vStart:p.vEnd], req); err != nil {
		return err
	}
	if err := checkTarget(req); err != nil {
		return err
	}
	if req.Major == 0 {
		return nil // no headers; the connection closes after the answer
	}
	var keepAlive, closeConn, haveTE bool
	for rest := head[p.lineEnd:]; ; {
		i := bytes.IndexByte(rest, '\n')
		if i < 0 { // cannot happen: the head ends with an empty line
			return errBadHeader
		}
		line := rest[:i]
		rest = rest[i+1:]
		if n := len(line); n > 0 && line[n-1] == '\r' {
			line = line[:n-1]
		}
		if len(line) == 0 {
			break
		}
		req.Headers++
		if line[0] == ' ' || line[0] == '\t' {
			return errObsFold
		}
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 {
			return errBadHeader
		}
		name := line[:colon]
		for _, c := range name {
			if !isTchar(c) { // whitespace before the colon included (RFC 9112, 5.1)
				return errBadHeader
			}
		}
		value := trimOWS(line[colon+1:])
		for _, c := range value {
			if c < ' ' && c != '\t' || c == 0x7f {
				return errBadHeader
			}
		}
		switch len(name) {
		case 4:
			if equalFold(name, "host") {
				if req.Host != nil {
					return errDupHost
				}
				req.Host = value
			}
		case 6:
			if equalFold(name, "expect") && equalFold(value, "100-continue") {
				req.Expect100 = true
			}
		case 10:
			switch {
			case equalFold(name, "user-agent"):
				if req.UserAgent == nil {
					req.UserAgent = value
				}
			case equalFold(name, "connection"):
				k, c := connectionTokens(value)
				keepAlive, closeConn = keepAlive || k, closeConn || c
			}
		case 13:
			if equalFold(name, "authorization") && req.Authorization == nil {
				req.Authorization = value
			}
		case 14:
			if equalFold(name, "content-length") {
				if req.ContentLength >= 0 {
					return errDupLength
				}
				n, ok := parseLength(value)
				if !ok {
					return errBadLength
				}
				req.ContentLength = n
			}
		case 16:
			// Old clients of proxies say Proxy-Connection; it means the same.
			if equalFold(name, "proxy-connection") {
				k, c := connectionTokens(value)
				keepAlive, closeConn = keepAlive || k, closeConn || c
			}
		case 17:
			if equalFold(name, "transfer-encoding") {
				if haveTE {
					return errDupTE
				}
				haveTE = true
				// Only chunked alone can be framed; anything else
				// (gzip, chunked twice, chunked not last) is refused
				// rather than guessed at.
				if !equalFold(value, "chunked") {
					return errBadTE
				}
				req.Chunked = true
			}
		case 19:
			if equalFold(name, "proxy-authorization") && req.ProxyAuthorization == nil {
				req.ProxyAuthorization = value
			}
		}
	}
	// Request smuggling shapes (RFC 9112, 6.1 and 6.3): refuse, then close.
	if haveTE && req.ContentLength >= 0 {
		return errTEWithLength
	}
	if haveTE && req.Minor == 0 {
		return errTE10
	}
	// A proxy's targets carry the host; a server's must come with one.
	if req.Minor >= 1 && req.Host == nil && (req.Form == OriginForm || req.Form == AsteriskForm) {
		return errNoHost
	}
	switch {
	case req.Minor == 0:
		req.KeepAlive = keepAlive && !closeConn
	default:
		req.KeepAlive = !closeConn
	}
	return nil
}

// parseVersion reads "HTTP/d.d", or nothing at all for HTTP/0.9.
func parseVersion(v []byte, req *Request) *ParseError {
	if len(v) == 0 {
		if string(req.Method) != "GET" {
			return errHTTP09
		}
		req.Major, req.Minor = 0, 9
		return nil
	}
	if len(v) != len("HTTP/1.1") || string(v[:5]) != "HTTP/" || !isDigit(v[5]) || v[6] != '.' || !isDigit(v[7]) {
		return errBadVersion
	}
	req.Major, req.Minor = int(v[5]-'0'), int(v[7]-'0')
	switch {
	case req.Major == 0:
		return errBadVersion
	case req.Major > 1:
		return errVersion
	}
	return nil
}

// checkTarget sorts the target into its form and refuses what fits none.
func checkTarget(req *Request) *ParseError {
	t := req.Target
	if string(req.Method) == "CONNECT" {
		req.Form = AuthorityForm
		if !isAuthority(t) {
			return errBadTarget
		}
		return nil
	}
	switch {
	case t[0] == '/':
		req.Form = OriginForm
	case len(t) == 1 && t[0] == '*':
		req.Form = AsteriskForm
	case hasScheme(t):
		req.Form = AbsoluteForm
	default:
		return errBadTarget
	}
	return nil
}

// isAuthority accepts host:port, the host a name, an IPv4 address or a
// bracketed IPv6 address.
func isAuthority(t []byte) bool {
	colon := bytes.LastIndexByte(t, ':')
	if colon <= 0 || colon == len(t)-1 || len(t)-colon-1 > 5 {
		return false
	}
	for _, c := range t[colon+1:] {
		if !isDigit(c) {
			return false
		}
	}
	host := t[:colon]
	if host[0] == '[' {
		return len(host) > 2 && host[len(host)-1] == ']'
	}
	for _, c := range host {
		if !isAlpha(c) && !isDigit(c) && c != '.' && c != '-' && c != '_' {
			return false
		}
	}
	return true
}

// hasScheme tells whether t starts with scheme "://" (RFC 3986, 3.1).
func hasScheme(t []byte) bool {
	i := bytes.Index(t, []byte("://"))
	if i <= 0 || !isAlpha(t[0]) {
		return false
	}
	for _, c := range t[1:i] {
		if !isAlpha(c) && !isDigit(c) && c != '+' && c != '-' && c != '.' {
			return false
		}
	}
	return true
}

// parseLength reads a Content-Length: digits only, at most 18 of them so
// the value fits an int64.
func parseLength(v []byte) (int64, bool) {
	if len(v) == 0 || len(v) > 18 {
		return 0, false
	}
	var n int64
	for _, c := range v {
		if !isDigit(c) {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// connectionTokens reads the options of a Connection field.
func connectionTokens(v []byte) (keepAlive, closeConn bool) {
	for len(v) > 0 {
		var tok []byte
		if i := bytes.IndexByte(v, ','); i >= 0 {
			tok, v = v[:i], v[i+1:]
		} else {
			tok, v = v, nil
		}
		tok = trimOWS(tok)
		switch {
		case equalFold(tok, "close"):
			closeConn = true
		case equalFold(tok, "keep-alive"):
			keepAlive = true
		}
	}
	return keepAlive, closeConn
}

func trimOWS(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

// equalFold compares ASCII case-insensitively; lower must be lower case.
func equalFold(b []byte, lower string) bool {
	if len(b) != len(lower) {
		return false
	}
	for i := 0; i < len(b); i++ {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}

// isTchar: a byte of a token (RFC 9110, 5.6.2).
func isTchar(c byte) bool {
	if isAlpha(c) || isDigit(c) {
		return true
	}
	switch c {
	case '!', '#', '$', '%', '&', '\'', '*', '+', '-', '.', '^', '_', '`', '|', '~':
		return true
	}
	return false
}

// isTargetChar: what a request target may hold. Bytes above 0x7f are let
// through, as nginx and Squid do, so attackers' raw bytes get recorded.
func isTargetChar(c byte) bool { return c > ' ' && c != 0x7f }

func isAlpha(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }
func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// Package redact is the one rule that keeps credentials out of what
// minipot records and shows while fakes.log_credentials is off: the agent
// applies it to every event before it is stored, and the API and the
// exporter to events stored while credentials were collected, once the
// owner has switched collecting off.
package redact

import (
	"bytes"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/minipot/minipot/internal/event"
)

// Credentials travel in more places than Basic auth and the telnet login: a
// proxy target "http://user:pass@host/", a CONNECT target or Host header
// "user:pass@host:443", a query "?p%61ss=1234", a login form, a JSON body
// {"\u0070wd":"..."}, XML <password>...</password>, a multipart form field,
// a header line "X-Auth-Token: ...". With log_credentials off none of them
// may be stored, so every attacker-supplied text of an event (URL, Host,
// User-Agent, body excerpt, detail) goes through Text, one rule:
//
//  1. Userinfo goes: the text before every '@' back to the start of the
//     word (white space, quotes, brackets, '/', '=', '&', '?', '#', ';', ',')
//     is cut, with the '@'. That is every URL's and host:port's userinfo,
//     wherever it appears; an e-mail address loses its local part too.
//  2. A value whose name looks like a secret is emptied, its name kept (so
//     the shape of the attempt stays visible). A name is what stands before
//     '=' or ':' (bare or quoted), or an XML element's tag; it looks like a
//     secret when, after decoding (percent escapes, JSON \u and \x escapes,
//     HTML character references, up to three rounds for double encoding)
//     and splitting into words (at non-letters and camelCase), it contains
//     one of secretParts or one of its words is in secretWords. The value
//     is a quoted string (to its closing quote), after '=' the text up to
//     the next separator, after ':' the rest of the line (a header), and an
//     element's text up to the next '<'. A multipart part whose name
//     looks like a secret loses its content.
//
// Over-redacting a field that merely looks like one costs little; a stored
// password would break the promise. FuzzRedact plants secrets in every
// shape and checks none survives.
var (
	secretParts = []string{"pass", "pwd", "secret", "token", "auth", "cred", "user", "login", "logon",
		"usr", "cookie", "sess", "key", "otp", "sign", "hash", "priv", "cert", "bearer", "jwt"}
	secretWords = map[string]bool{"pw": true, "pin": true, "pk": true, "sk": true, "u": true, "p": true,
		"pp": true, "uid": true, "nick": true, "acct": true, "account": true, "mail": true,
		"email": true, "sid": true, "code": true, "phrase": true, "salt": true}
)

// maxName bounds the bytes looked at for one name: no field name is longer,
// and it keeps the work per separator constant.
const maxName = 128

// Text applies the credential rule above to s. Most URLs ("/") hold none
// of the bytes the rule starts from, and are returned as they are.
func Text(s string) string {
	if !strings.ContainsAny(s, "@=:>") {
		return s
	}
	r := redactor{s: s}
	for k := range r.bare {
		r.bare[k] = memo{from: 1}
	}
	r.quoted, r.lt, r.blank = [2]memo{{from: 1}, {from: 1}}, memo{from: 1}, memo{from: 1}
	return r.run()
}

// memo remembers a forward scan that started at from and stopped at to: a
// scan of the same kind that starts within [from, to] stops at to too, as
// nothing between stopped the first. Every separator is looked at (a value
// may hide the start of another, and skipping it would leak that one), yet
// each byte is scanned once per kind, so the work stays linear in len(s)
// (64 KiB of "pw:" or of `"` included).
type memo struct{ from, to int }

func (m memo) covers(at int) bool { return m.from <= at && at <= m.to }

type redactor struct {
	s      string
	cuts   spans
	bare   [3]memo // by end kind
	quoted [2]memo // by quote: '"', '\''
	lt     memo    // the next '<'
	blank  memo    // the next blank line
	bnd    memo    // from a part's content to its boundary
}

func (r *redactor) run() string {
	s := r.s
	lastAt := -1
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '@':
			// Back to the start of the word, or to the previous '@',
			// whose word was cut already.
			if st := wordStart(s, i, lastAt+1); st < i {
				r.cuts.add(st, i+1)
			}
			lastAt = i
		case '=', ':':
			name, nameAt, quoted := nameBefore(s, i)
			if name == "" {
				continue
			}
			// After a name that starts a line and ':' (a header) a bare
			// value is the rest of the line; elsewhere (a query, JSON,
			// u:p in a URL) it ends at the next separator.
			end := endLine
			switch {
			case s[i] == '=' || quoted:
				end = endField
			case nameAt > 0 && s[nameAt-1] != '\n':
				end = endWord
			}
			vs, ve, quote := r.valueAfter(i, end)
			closed := quote != 0 && ve > vs+1 && s[ve-1] == quote
			if quote != 0 { // keep the quotes
				vs++
				if closed {
					ve--
				}
			}
			if s[i] == '=' && strings.EqualFold(decodeName(name), "name") {
				// Content-Disposition: form-data; name="password"
				if secretName(s[vs:ve]) {
					after := ve
					if closed {
						after++
					}
					r.multipartContent(after)
				}
				continue
			}
			if secretName(name) {
				r.cuts.add(vs, ve)
			}
		case '>':
			if tag := openTag(s, i); tag != "" && secretName(tag) {
				r.cuts.add(i+1, r.next(&r.lt, i+1, func(k int) bool { return s[k] == '<' }))
			}
		}
	}
	return r.cuts.apply(s)
}

// next is the first index at or after from that stop accepts (len(s) if
// none), remembered in m.
func (r *redactor) next(m *memo, from int, stop func(int) bool) int {
	if m.covers(from) {
		return m.to
	}
	j := from
	for j < len(r.s) && !stop(j) {
		j++
	}
	*m = memo{from, j}
	return j
}

// spans are the byte ranges to cut, in the order found (starts ascending
// but ranges may overlap).
type spans []([2]int)

func (c *spans) add(from, to int) {
	if to > from {
		*c = append(*c, [2]int{from, to})
	}
}

func (c spans) apply(s string) string {
	if len(c) == 0 {
		return s
	}
	// Sort by start (few spans: insertion sort), then copy around them.
	for i := 1; i < len(c); i++ {
		for j := i; j > 0 && c[j][0] < c[j-1][0]; j-- {
			c[j], c[j-1] = c[j-1], c[j]
		}
	}
	var b strings.Builder
	b.Grow(len(s))
	at := 0
	for _, sp := range c {
		if sp[0] > at {
			b.WriteString(s[at:sp[0]])
		}
		at = max(at, sp[1])
	}
	if at < len(s) {
		b.WriteString(s[at:])
	}
	return b.String()
}

// isWordEnd reports whether c ends a word for the userinfo rule.
func isWordEnd(c byte) bool {
	switch c {
	case ' ', '\t', '\r', '\n', '\f', '\v', '"', '\'', '`', '<', '>', '(', ')', '[', ']', '{', '}',
		'/', '\\', '=', '&', '?', '#', ';', ',':
		return true
	}
	return false
}

// wordStart is where the word ending before s[at] starts, floor at most.
func wordStart(s string, at, floor int) int {
	i := at
	for i > floor && !isWordEnd(s[i-1]) {
		i--
	}
	return i
}

// isNameByte reports whether c may be part of a bare field name: letters,
// digits, and what names and their encodings use (user[pass], a.b, %70,
// \u0070, &#112;).
func isNameByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c >= 0x80 ||
		strings.IndexByte("_-.[]%\\$+#;&", c) >= 0
}

// nameBefore finds the field name before the separator at s[sep]: a quoted
// one ("name" = , 'name':) or a bare one, at most maxName bytes.
func nameBefore(s string, sep int) (name string, at int, quoted bool) {
	i := sep
	for i > 0 && sep-i < maxName && (s[i-1] == ' ' || s[i-1] == '\t') {
		i--
	}
	if i == 0 {
		return "", 0, false
	}
	if q := s[i-1]; q == '"' || q == '\'' {
		end := i - 1
		for j := end - 1; j >= 0 && end-j <= maxName; j-- {
			if s[j] == q && (j == 0 || s[j-1] != '\\') {
				return s[j+1 : end], j, true
			}
		}
		return "", 0, false
	}
	end := i
	for i > 0 && end-i < maxName && isNameByte(s[i-1]) {
		i--
	}
	// A bare name that starts with what separates fields in a query
	// ("&pw", ";pw") is the part after it; but '&' may open an HTML
	// character reference (&#112;), so only the last field counts.
	name = s[i:end]
	if k := strings.LastIndexAny(name, "&;"); k >= 0 && !strings.Contains(name[:k+1], "&#") {
		name, i = name[k+1:], i+k+1
	}
	return name, i, false
}

// Where a bare value ends: at the end of the line (a header), at the next
// field separator (a query, form or JSON: base64 values hold '/' and '+'),
// or also at '/' and '@' (u:p in a URL's authority).
const (
	endLine = iota
	endField
	endWord
)

// valueAfter is the value after the separator at s[sep]: a quoted string
// (quote is its quote character; the range includes the quotes, the closing
// one if there is one), else the bare text up to where end says.
func (r *redactor) valueAfter(sep int, end int) (from, to int, quote byte) {
	s := r.s
	i := sep + 1
	for i < len(s) && i-sep <= maxName && (s[i] == ' ' || s[i] == '\t') {
		i++
	}
	if i < len(s) && (s[i] == '"' || s[i] == '\'') {
		q := s[i]
		m := &r.quoted[0]
		if q == '\'' {
			m = &r.quoted[1]
		}
		// The closing quote is the first one not after a backslash.
		j := r.next(m, i+1, func(k int) bool { return s[k] == q && s[k-1] != '\\' })
		if j < len(s) {
			return i, j + 1, q
		}
		return i, len(s), q
	}
	stop := func(k int) bool {
		switch s[k] {
		case '\r', '\n':
			return true
		case '&', ';', ' ', '\t', '#', '"', '\'', '<', '>', ',', '}', ']':
			return end != endLine
		case '@', '/':
			return end == endWord
		}
		return false
	}
	return i, r.next(&r.bare[end], i, stop), 0
}

// openTag reports the element name when s[gt] closes an opening XML tag
// (<name> or <name attr="...">), else "".
func openTag(s string, gt int) string {
	lt := strings.LastIndexByte(s[max(0, gt-4*maxName):gt], '<')
	if lt < 0 {
		return ""
	}
	lt += max(0, gt-4*maxName)
	tag := s[lt+1 : gt]
	if tag == "" || tag[0] == '/' || tag[0] == '!' || tag[0] == '?' || strings.HasSuffix(tag, "/") {
		return ""
	}
	if k := strings.IndexAny(tag, " \t\r\n"); k >= 0 {
		tag = tag[:k]
	}
	if k := strings.IndexByte(tag, ':'); k >= 0 { // a namespace prefix
		tag = tag[k+1:]
	}
	return tag
}

// multipartContent cuts the content of the multipart part whose headers
// continue at s[from]: from the blank line after them to the next boundary
// line (or the end).
func (r *redactor) multipartContent(from int) {
	s := r.s
	// The blank line: the first "\n" that a line end follows ("\n\n" or
	// "\n\r\n"); the content starts after it.
	nl := r.next(&r.blank, from, func(k int) bool {
		return s[k] == '\n' && k+1 < len(s) && (s[k+1] == '\n' || s[k+1] == '\r' && k+2 < len(s) && s[k+2] == '\n')
	})
	if nl == len(s) {
		// No blank line: the text was cut short in the part's headers,
		// or the part is malformed. Everything after may be its content.
		r.cuts.add(from, len(s))
		return
	}
	start := nl + 2
	if s[nl+1] == '\r' {
		start++
	}
	// The boundary line: "\n--", the content's own line end excluded.
	end := r.next(&r.bnd, start, func(k int) bool { return s[k] == '\n' && strings.HasPrefix(s[k+1:], "--") })
	if end > start && s[end-1] == '\r' {
		end--
	}
	r.cuts.add(start, end)
}

// secretName reports whether a field name looks like a secret (see the
// rule above). It allocates nothing for a name that needs no decoding: it
// runs for every name in every text when credentials are off.
func secretName(name string) bool {
	if name == "" {
		return false
	}
	n := decodeName(name)
	// flat: the name's letters and digits, lower-cased; words: where each
	// word of it ends (at non-letters and at a lower-to-upper change).
	var flat [maxName]byte
	var ends [maxName]uint8
	nf, nw := 0, 0
	prevLower := false
	for i := 0; i < len(n) && nf < maxName; i++ {
		c := n[i]
		isUpper, isLower := c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z' || c >= '0' && c <= '9'
		if !isUpper && !isLower {
			if nf > 0 && (nw == 0 || int(ends[nw-1]) != nf) {
				ends[nw], nw = uint8(nf), nw+1
			}
			prevLower = false
			continue
		}
		if isUpper {
			if prevLower && nf > 0 && (nw == 0 || int(ends[nw-1]) != nf) {
				ends[nw], nw = uint8(nf), nw+1
			}
			c += 'a' - 'A'
		}
		prevLower = isLower
		flat[nf], nf = c, nf+1
	}
	if nf > 0 && (nw == 0 || int(ends[nw-1]) != nf) {
		ends[nw], nw = uint8(nf), nw+1
	}
	f := flat[:nf]
	for _, p := range secretParts {
		if bytes.Contains(f, []byte(p)) {
			return true
		}
	}
	start := 0
	for _, e := range ends[:nw] {
		if secretWords[string(f[start:e])] {
			return true
		}
		start = int(e)
	}
	return false
}

// decodeName undoes the encodings a name may hide behind, three rounds at
// most (a name encoded twice, or percent-encoded JSON escapes).
func decodeName(s string) string {
	if len(s) > maxName {
		s = s[:maxName]
	}
	for range 3 {
		d := htmlRefs(jsonEscapes(percent(s)))
		if d == s {
			break
		}
		s = d
	}
	return s
}

// percent decodes %XX escapes and '+' (a space in forms); a bad escape
// stays as it is.
func percent(s string) string {
	if !strings.ContainsAny(s, "%+") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '+' {
			b.WriteByte(' ')
			continue
		}
		if c == '%' && i+2 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+3], 16, 8); err == nil {
				b.WriteByte(byte(v))
				i += 2
				continue
			}
		}
		b.WriteByte(c)
	}
	return b.String()
}

// jsonEscapes decodes \uXXXX, \xXX and one-character escapes.
func jsonEscapes(s string) string {
	if !strings.Contains(s, "\\") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' || i+1 >= len(s) {
			b.WriteByte(c)
			continue
		}
		switch s[i+1] {
		case 'u':
			if i+5 < len(s) {
				if v, err := strconv.ParseUint(s[i+2:i+6], 16, 16); err == nil {
					b.WriteRune(rune(v))
					i += 5
					continue
				}
			}
		case 'x':
			if i+3 < len(s) {
				if v, err := strconv.ParseUint(s[i+2:i+4], 16, 8); err == nil {
					b.WriteByte(byte(v))
					i += 3
					continue
				}
			}
		default:
			b.WriteByte(s[i+1])
			i++
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

// htmlRefs decodes numeric character references (&#112; &#x70;).
func htmlRefs(s string) string {
	if !strings.Contains(s, "&#") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '&' && i+2 < len(s) && s[i+1] == '#' {
			j := i + 2
			base := 10
			if s[j] == 'x' || s[j] == 'X' {
				base, j = 16, j+1
			}
			k := j
			for k < len(s) && k-j < 8 && s[k] != ';' {
				k++
			}
			if v, err := strconv.ParseUint(s[j:k], base, 32); err == nil && v <= utf8.MaxRune {
				b.WriteRune(rune(v))
				i = k
				if k == len(s) {
					break
				}
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// Event empties e's username and password and applies Text to every other
// text an attacker sent: what e would hold had it been recorded with
// credentials off.
func Event(e *event.Event) {
	e.Username, e.Password = "", ""
	e.URL, e.Body, e.Host = Text(e.URL), Text(e.Body), Text(e.Host)
	e.UserAgent, e.Detail = Text(e.UserAgent), Text(e.Detail)
}

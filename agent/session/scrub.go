package session

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Credentials travel in more places than Basic auth and the telnet login: a
// proxy target "http://user:pass@host/", a CONNECT target or Host header
// "user:pass@host:443", a query "?p%61ss=1234", a login form, a JSON body
// {"\u0070wd":"..."}, XML <password>...</password>, a multipart form field,
// a header line "X-Auth-Token: ...". With log_credentials off none of them
// may be stored, so every attacker-supplied text of an event (URL, Host,
// User-Agent, body excerpt, detail) goes through Redact, one rule:
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

// Redact applies the credential rule above to s. Most URLs ("/") hold none
// of the bytes the rule starts from, and are returned as they are.
func Redact(s string) string {
	if !strings.ContainsAny(s, "@=:>") {
		return s
	}
	var cuts spans
	lastAt := -1
	// Every scan is bounded or moves i past what it scanned, so the work
	// is linear in len(s) (a line of 64 KiB of "pw:" or "@" included).
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '@':
			// Back to the start of the word, or to the previous '@',
			// whose word was cut already.
			if st := wordStart(s, i, lastAt+1); st < i {
				cuts.add(st, i+1)
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
			vs, ve, quote := valueAfter(s, i, end)
			if quote != 0 { // keep the quotes, if closed
				vs++
				if ve > vs && s[ve-1] == quote {
					ve--
				}
			}
			if s[i] == '=' && strings.EqualFold(decodeName(name), "name") {
				// Content-Disposition: form-data; name="password"
				if secretName(s[vs:ve]) {
					after := ve
					if quote != 0 && after < len(s) && s[after] == quote {
						after++ // the closing quote
					}
					i = max(i, multipartContent(s, after, &cuts)-1)
				}
				continue
			}
			if secretName(name) {
				cuts.add(vs, ve)
				i = max(i, ve-1)
			}
		case '>':
			if tag := openTag(s, i); tag != "" && secretName(tag) {
				end := strings.IndexByte(s[i+1:], '<')
				if end < 0 {
					end = len(s) - i - 1
				}
				cuts.add(i+1, i+1+end)
				i += end
			}
		}
	}
	return cuts.apply(s)
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
func valueAfter(s string, sep int, end int) (from, to int, quote byte) {
	i := sep + 1
	for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
		i++
	}
	if i < len(s) && (s[i] == '"' || s[i] == '\'') {
		q := s[i]
		for j := i + 1; j < len(s); j++ {
			if s[j] == '\\' {
				j++
				continue
			}
			if s[j] == q {
				return i, j + 1, q
			}
		}
		return i, len(s), q
	}
	j := i
	for j < len(s) {
		c := s[j]
		if c == '\r' || c == '\n' {
			break
		}
		if end != endLine && (c == '&' || c == ';' || c == ' ' || c == '\t' || c == '#' || c == '"' || c == '\'' ||
			c == '<' || c == '>' || c == ',' || c == '}' || c == ']') {
			break
		}
		if end == endWord && (c == '@' || c == '/') {
			break
		}
		j++
	}
	return i, j, 0
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
// line (or the end). It returns where the cut ends.
func multipartContent(s string, from int, cuts *spans) int {
	rest := s[from:]
	start := -1
	for _, sep := range []string{"\r\n\r\n", "\n\n"} {
		if k := strings.Index(rest, sep); k >= 0 && (start < 0 || k+len(sep) < start) {
			start = k + len(sep)
		}
	}
	if start < 0 {
		// No blank line: the text was cut short in the part's headers,
		// or the part is malformed. Everything after may be its content.
		cuts.add(from, len(s))
		return len(s)
	}
	end := len(rest)
	if k := strings.Index(rest[start:], "\n--"); k >= 0 {
		end = start + k
		if end > start && rest[end-1] == '\r' {
			end--
		}
	}
	cuts.add(from+start, from+end)
	return from + end
}

// secretName reports whether a field name looks like a secret (see the
// rule above).
func secretName(name string) bool {
	if name == "" {
		return false
	}
	n := decodeName(name)
	var words []string
	var cur []rune
	var flat strings.Builder
	prevLower := false
	flush := func() {
		if len(cur) > 0 {
			words = append(words, strings.ToLower(string(cur)))
			cur = cur[:0]
		}
	}
	for _, r := range n {
		switch {
		case unicode.IsLetter(r) || unicode.IsDigit(r):
			if unicode.IsUpper(r) && prevLower {
				flush()
			}
			prevLower = unicode.IsLower(r) || unicode.IsDigit(r)
			cur = append(cur, r)
			flat.WriteRune(unicode.ToLower(r))
		default:
			flush()
			prevLower = false
		}
	}
	flush()
	f := flat.String()
	for _, p := range secretParts {
		if strings.Contains(f, p) {
			return true
		}
	}
	if secretWords[f] {
		return true
	}
	for _, w := range words {
		if secretWords[w] {
			return true
		}
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

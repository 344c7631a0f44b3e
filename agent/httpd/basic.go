package httpd

import (
	"encoding/base64"
	"errors"
)

// Results of ParseBasic other than success.
var (
	ErrNotBasic = errors.New("not Basic credentials")
	ErrBadBasic = errors.New("malformed Basic credentials")
)

// ParseBasic decodes the value of an Authorization or Proxy-Authorization
// field holding Basic credentials (RFC 7617). It is lenient where clients
// differ (the scheme's case, spaces and tabs around the parts) and strict
// about the base64 itself: only the standard alphabet, padded, no stray
// bits, and a colon in what it decodes to.
//
// The decoded bytes go to dst when it is large enough (len(value)*3/4
// bytes always are), else to a new slice; user and pass point into them.
// A value of another scheme gives ErrNotBasic, a broken one ErrBadBasic.
func ParseBasic(value, dst []byte) (user, pass []byte, err error) {
	v := trimOWS(value)
	i := 0
	for i < len(v) && v[i] != ' ' && v[i] != '\t' {
		i++
	}
	if !equalFold(v[:i], "basic") {
		return nil, nil, ErrNotBasic
	}
	tok := trimOWS(v[i:])
	if len(tok) == 0 || len(tok)%4 != 0 {
		return nil, nil, ErrBadBasic
	}
	pad := 0
	for j, c := range tok {
		switch {
		case c == '=':
			// Padding only at the very end, at most two.
			if j < len(tok)-2 {
				return nil, nil, ErrBadBasic
			}
			pad++
		case pad > 0 || b64(c) < 0:
			return nil, nil, ErrBadBasic
		}
	}
	// Strict: the bits that padding leaves over must be zero.
	if last := b64(tok[len(tok)-1-pad]); pad == 1 && last&0x3 != 0 || pad == 2 && last&0xf != 0 {
		return nil, nil, ErrBadBasic
	}
	need := base64.StdEncoding.DecodedLen(len(tok))
	if len(dst) < need {
		dst = make([]byte, need)
	}
	n, derr := base64.StdEncoding.Decode(dst, tok)
	if derr != nil {
		return nil, nil, ErrBadBasic
	}
	dec := dst[:n]
	for j, c := range dec {
		if c == ':' {
			return dec[:j], dec[j+1:], nil
		}
	}
	return nil, nil, ErrBadBasic
}

// b64 is the value of a character of the standard base64 alphabet, or -1.
func b64(c byte) int {
	switch {
	case 'A' <= c && c <= 'Z':
		return int(c - 'A')
	case 'a' <= c && c <= 'z':
		return int(c-'a') + 26
	case '0' <= c && c <= '9':
		return int(c-'0') + 52
	case c == '+':
		return 62
	case c == '/':
		return 63
	}
	return -1
}

// scheme returns the auth scheme of a field value, bounded, for the record.
func scheme(value []byte) []byte {
	v := trimOWS(value)
	i := 0
	for i < len(v) && i < 16 && isTchar(v[i]) {
		i++
	}
	return v[:i]
}

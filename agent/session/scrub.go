package session

import (
	"regexp"
	"strings"
)

// Credentials travel in more places than Basic auth and the telnet login:
// a proxy target "http://user:pass@host/", a query "?user=admin&pwd=1234",
// a posted login form "luci_username=root&luci_password=...", a JSON body.
// With log_credentials off none of them may be stored, so the URL and body
// of every event are scrubbed: the userinfo of a URL goes, and the value
// of any field whose name looks like a credential is emptied (its name
// stays, so the shape of the attempt is still visible). Over-scrubbing a
// field that merely looks like one costs little; a stored password would
// break the promise.
var (
	scrubUserinfo = regexp.MustCompile(`(?i)([a-z][a-z0-9+.-]*://)[^/?#@\s]*@`)
	scrubField    = regexp.MustCompile(`(?i)([a-z0-9_.\[\]-]*(?:pass|pwd|user|login|auth|token|secret|key)[a-z0-9_.\[\]-]*"?\s*[=:]\s*"?)[^&;\s"',}]*`)
)

// scrub removes what looks like a credential from s. Most URLs ("/") hold
// neither '@' nor a field, so the byte checks spare the hot path the
// regular expressions.
func scrub(s string) string {
	if strings.IndexByte(s, '@') >= 0 {
		s = scrubUserinfo.ReplaceAllString(s, "$1")
	}
	if strings.IndexByte(s, '=') >= 0 || strings.IndexByte(s, ':') >= 0 {
		s = scrubField.ReplaceAllString(s, "$1")
	}
	return s
}

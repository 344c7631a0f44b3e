// Package httpd is the fake web server (80tcp) and the fake HTTP proxies
// (3128tcp, 8080tcp, 8123tcp) of the minipots.
//
// Every request is answered with a demand for a password: the server with
// 401 and WWW-Authenticate like nginx with auth_basic, the proxies with 407
// and Proxy-Authenticate like Squid (and, on 8123, like Polipo). There is
// no password that opens anything, and the proxies never connect anywhere,
// whatever they are asked; they only record the target. The package does
// not even import net.
//
// The request parser is its own: HTTP/1.0 and 1.1, keep-alive and
// pipelining, bodies skipped (Content-Length and chunked) with an excerpt
// recorded, and every byte it keeps bounded by session.Limits. It refuses
// what request smuggling is made of (Content-Length with
// Transfer-Encoding, duplicates, anything but plain chunked, obsolete line
// folding) with 400 and a close. Answers are laid out once and filled per
// request with the cached Date, the host name and the target, and written
// with one Write per batch of pipelined requests.
//
// Each request makes one event: login when it carries Basic credentials,
// request otherwise, invalid when it is malformed (or its credentials
// are). The session drops credentials unless they are collected.
//
// # Choices
//
// Identity. The server says nginx/1.22.1, the version of the project's
// reference capture, in the Server field and on its pages, which are
// nginx's byte for byte. The realm is the router's host name
// (session.Config.Hostname, e.g. realm="OpenWrt"), as a router's admin page
// would name itself. The proxies on 3128 and 8080 say squid/5.7 with the
// realm most squid.conf files keep, "Squid proxy-caching web server", and
// Squid's header set and order; their error pages follow the layout of
// Squid's templates in this project's own words and style sheet.
//
// 8123 is Polipo's port, and scanners that find it open expect Polipo,
// whose answers differ from Squid's at a glance (no Server field,
// Connection first, a short page naming host and port), so it answers as
// Polipo with authCredentials set: 407 for proxy requests, 401 for its own
// pages (origin-form requests).
//
// Refusals. 400 for malformed requests, 414 for a request line over
// RequestLine, 431 for headers over HeaderBytes or HeaderCount (nginx itself
// would say 400 "Request Header Or Cookie Too Large"; Squid says 431), 505
// for HTTP/2 and later, all closing the connection; Polipo gives its own
// statuses instead. The server answers CONNECT and TRACE with nginx's 405;
// a proxy asked for a path (origin-form) says Squid's 400 Invalid URL.
//
// Credentials. The server reads Authorization. A proxy reads
// Proxy-Authorization, and Authorization only when the request is meant
// for the proxy itself (origin-form): in a proxied request, Authorization
// belongs to the site asked for, and is not a guess at this password.
//
// Bodies. A client that sends Expect: 100-continue gets its final answer
// at once, as from nginx, and the connection closes rather than guess
// whether the body follows. A body over BodyMax is answered the same way.
package httpd

import (
	"context"
	"strings"
	"sync"

	"github.com/minipot/minipot/agent/session"
)

// Defaults of Options.
const (
	// DefaultNginx is the server identity, as in the project's reference
	// capture (nmap says "nginx 1.22.1").
	DefaultNginx = "nginx/1.22.1"
	// DefaultSquid is the proxy identity on 3128 and 8080, as in the
	// reference capture.
	DefaultSquid = "squid/5.7"
	// DefaultSquidRealm is the realm of the squid.conf examples, which
	// most installations keep.
	DefaultSquidRealm = "Squid proxy-caching web server"
	// DefaultPolipoRealm is Polipo's own default realm.
	DefaultPolipoRealm = "Polipo"
)

// Options choose how a handler presents itself. The zero value is the
// documented default of each kind.
type Options struct {
	// Server is the software identity, in the Server field, the Via
	// field and the pages. Empty: DefaultNginx or DefaultSquid. Polipo
	// sends none.
	Server string
	// Realm is the Basic realm. Empty: for the server, the router's host
	// name (session.Config.Hostname), as a router's login page would
	// name itself; DefaultSquidRealm; DefaultPolipoRealm.
	Realm string
	// Port is the real port the proxy answers for, shown by Squid's
	// X-Cache-Lookup field and Polipo's pages. Empty: 3128 or 8123.
	Port int
}

// Handler is one fake HTTP service. It is safe for concurrent use: one
// handler serves every connection of its service.
type Handler struct {
	fl    flavor
	pages [numPages]*page
	outs  sync.Pool // *[]byte output buffers, held only while answers are pending
}

var _ session.Handler = (*Handler)(nil)

// NewServer makes the web server of 80tcp: nginx with auth_basic.
func NewServer(o Options) *Handler {
	server := orDefault(clean(o.Server), DefaultNginx)
	return &Handler{fl: flNginx, pages: complete(nginxPages(server, clean(o.Realm)))}
}

// NewProxy makes the proxy of 3128tcp and 8080tcp: Squid with basic auth.
func NewProxy(o Options) *Handler {
	server := orDefault(clean(o.Server), DefaultSquid)
	realm := orDefault(clean(o.Realm), DefaultSquidRealm)
	port := o.Port
	if port <= 0 || port > 65535 {
		port = 3128
	}
	return &Handler{fl: flSquid, pages: complete(squidPages(server, realm, port))}
}

// NewPolipo makes the proxy of 8123tcp, Polipo's port: a Polipo with
// authCredentials set. Scanners that find 8123 open expect Polipo, whose
// answers differ from Squid's at a glance (no Server field, its own short
// page), so this port does not pretend to be a Squid.
func NewPolipo(o Options) *Handler {
	realm := orDefault(clean(o.Realm), DefaultPolipoRealm)
	port := o.Port
	if port <= 0 || port > 65535 {
		port = 8123
	}
	return &Handler{fl: flPolipo, pages: complete(polipoPages(realm, port))}
}

// ForService returns the handler for a service key of DESIGN.md ("80tcp",
// "3128tcp", "8080tcp", "8123tcp") and its real port, or nil for a service
// that is not HTTP.
func ForService(key string, port int) session.Handler {
	switch key {
	case "80tcp":
		return NewServer(Options{})
	case "3128tcp", "8080tcp":
		return NewProxy(Options{Port: port})
	case "8123tcp":
		return NewPolipo(Options{Port: port})
	}
	return nil
}

// ReadsFirst: an HTTP client speaks first (session.Patient), within the
// header time from the connection.
func (*Handler) ReadsFirst(s *session.Session) { s.ExpectFirstRequest() }

// Serve converses with one connection until it closes, idles out, breaks
// the protocol or reaches a limit. It does not close the connection.
func (h *Handler) Serve(ctx context.Context, s *session.Session) error {
	c := newConn(h, s)
	defer c.release()
	return c.run(ctx)
}

// clean keeps what may stand in a header field and inside a quoted realm.
func clean(s string) string {
	return strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f || r == '"' || r == '\\' || r > 0x7e {
			return -1
		}
		return r
	}, s)
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// cleanHost keeps the characters of a host name, so the configured one can
// go into fields and pages as it is; it allocates only when it must cut.
func cleanHost(s string) string {
	ok := len(s) > 0 && len(s) <= 253
	for i := 0; ok && i < len(s); i++ {
		c := s[i]
		ok = isAlpha(c) || isDigit(c) || c == '.' || c == '-' || c == '_'
	}
	if ok {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s) && b.Len() < 253; i++ {
		if c := s[i]; isAlpha(c) || isDigit(c) || c == '.' || c == '-' || c == '_' {
			b.WriteByte(c)
		}
	}
	if b.Len() == 0 {
		return "localhost"
	}
	return b.String()
}

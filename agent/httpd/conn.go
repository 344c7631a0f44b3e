package httpd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/minipot/minipot/agent/session"
	"github.com/minipot/minipot/internal/event"
)

// smallBuf is the read buffer of a connection: enough for the requests of
// bots and browsers, and for a batch of small pipelined ones. A request
// that needs more gets a larger buffer (at most Parser.MaxHead bytes) until
// it is done, so idle connections stay small.
const smallBuf = 2048

// flushAt bounds the answers held for one Write.
const flushAt = 32 << 10

// body phases of a connection
const (
	phHead    = iota // reading a head
	phLength         // skipping a Content-Length body
	phChunked        // skipping a chunked body
)

// errExpect closes a connection whose client waits for 100 Continue: it
// gets the final answer instead, and no body is read.
var errExpect = errors.New("client expects 100-continue")

type conn struct {
	h    *Handler
	s    *session.Session
	lim  session.Limits
	host string
	p    Parser
	req  Request
	clk  clock

	buf   []byte // small, or larger while a large head is read
	small []byte
	r, w  int
	out   *[]byte

	served int
	phase  int
	left   int64 // of a Content-Length body
	ch     chunked

	// the request being answered
	ev      event.Event
	pg      *page
	keep    bool  // the client wants to keep the connection
	why     error // why the connection closes after the answer, if it does
	noBody  bool  // HEAD: the answer has no body
	noHead  bool  // HTTP/0.9: the answer is the body alone
	excerpt []byte
}

func newConn(h *Handler, s *session.Session) *conn {
	cfg := s.Config()
	c := &conn{h: h, s: s, lim: cfg.Limits, host: cleanHost(cfg.Hostname)}
	c.lim.BodyExcerpt = min(max(c.lim.BodyExcerpt, 0), event.MaxText)
	c.lim.BodyMax = max(c.lim.BodyMax, 0)
	c.lim.Requests = max(c.lim.Requests, 1)
	c.p.init(c.lim.RequestLine, c.lim.HeaderBytes, c.lim.HeaderCount)
	c.small = make([]byte, min(smallBuf, c.p.MaxHead()))
	c.buf = c.small
	return c
}

// release returns the output buffer.
func (c *conn) release() {
	if c.out != nil {
		*c.out = (*c.out)[:0]
		c.h.outs.Put(c.out)
		c.out = nil
	}
}

func (c *conn) run(ctx context.Context) error {
	c.s.ExpectFirstRequest()
	for {
		done, err := c.process()
		if done {
			if ferr := c.flush(); ferr != nil {
				return ferr
			}
			return err
		}
		if err := c.flush(); err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := c.fill(); err != nil {
			return c.cut(err)
		}
	}
}

// process handles the buffered bytes: heads, bodies, answers. It reports
// done when the connection is to close, with the reason; otherwise it
// needs more bytes.
func (c *conn) process() (bool, error) {
	for {
		switch c.phase {
		case phHead:
			b := c.buf[c.r:c.w]
			n, perr := c.p.Parse(b, &c.req)
			if perr != nil {
				return true, c.refuse(perr, b)
			}
			if n == 0 {
				return false, nil
			}
			c.begin()
			// The next request's time starts now; this one's body, if it
			// is skipped, is read within it too.
			c.s.ExpectRequest()
			c.r += n
			c.p.Reset()
			if c.why != nil || !c.req.HasBody() {
				if c.why != nil && c.req.ContentLength > 0 {
					// Not reading the body: record what came with the head.
					n := int(min(c.req.ContentLength, int64(c.w-c.r)))
					c.keepExcerpt(c.buf[c.r : c.r+n])
				}
				if c.answer() {
					return true, c.why
				}
				continue
			}
			if c.req.Chunked {
				c.ch.reset(c.lim.BodyMax, c.lim.HeaderBytes, c.lim.HeaderCount)
				c.phase = phChunked
			} else {
				c.left = c.req.ContentLength
				c.phase = phLength
			}
		case phLength:
			take := int(min(c.left, int64(c.w-c.r)))
			c.keepExcerpt(c.buf[c.r : c.r+take])
			c.r += take
			c.left -= int64(take)
			if c.left > 0 {
				return false, nil
			}
			c.phase = phHead
			if c.answer() {
				return true, c.why
			}
		case phChunked:
			n, data, perr := c.ch.next(c.buf[c.r:c.w])
			c.keepExcerpt(data)
			c.r += n
			if perr != nil {
				c.phase = phHead
				c.badBody(perr)
				c.answer()
				return true, c.why
			}
			if !c.ch.done() {
				if c.r == c.w {
					return false, nil
				}
				continue
			}
			c.phase = phHead
			if c.answer() {
				return true, c.why
			}
		}
		if c.out != nil && len(*c.out) >= flushAt {
			if err := c.flush(); err != nil {
				return true, err
			}
		}
	}
}

// begin records a complete head and decides its answer.
func (c *conn) begin() {
	req := &c.req
	c.why, c.excerpt = nil, c.excerpt[:0]
	c.noBody = string(req.Method) == "HEAD"
	c.noHead = req.Major == 0
	c.keep = req.KeepAlive

	// Which answer, and which field holds the credentials meant for us:
	// a proxy's Authorization field belongs to the site asked for, not to
	// the proxy, unless the request is for the proxy itself.
	var creds []byte
	switch c.h.fl {
	case flNginx:
		creds = req.Authorization
		switch string(req.Method) {
		case "CONNECT":
			// 405, and whatever the client sends next is a tunnel's.
			c.pg, c.keep = c.h.pages[pgNotAllowed], false
		case "TRACE":
			c.pg = c.h.pages[pgNotAllowed]
		default:
			c.pg = c.h.pages[pgAuth]
		}
	default:
		switch req.Form {
		case AbsoluteForm, AuthorityForm:
			creds = req.ProxyAuthorization
			c.pg = c.h.pages[pgAuth]
		default:
			creds = req.Authorization
			if creds == nil {
				creds = req.ProxyAuthorization
			}
			c.pg = c.h.pages[pgBadURL]
			if c.h.fl == flPolipo && req.Form == OriginForm {
				c.pg = c.h.pages[pgLocalAuth] // Polipo's own web pages
			}
		}
		if c.noHead { // a proxy does not speak HTTP/0.9
			c.pg = c.h.pages[pgBadRequest]
		}
	}

	action, detail := event.Request, ""
	var user, pass []byte
	if creds != nil {
		var tmp [512]byte
		var err error
		user, pass, err = ParseBasic(creds, tmp[:])
		switch err {
		case nil:
			action = event.Login
		case ErrBadBasic:
			action, detail = event.Invalid, "malformed Basic credentials"
		default:
			detail = "auth scheme " + string(scheme(creds))
		}
	}
	c.ev = c.record(action, req.Method, req.Target, req.Host, req.UserAgent, user, pass)
	c.ev.Detail = detail

	if req.HasBody() {
		switch {
		case req.ContentLength > int64(c.lim.BodyMax):
			c.ev.Detail = "request body over the limit"
			c.why = fmt.Errorf("request body of %d bytes: %w", req.ContentLength, session.ErrLimit)
		case req.Expect100:
			// nginx answers 401 before any body too; closing spares
			// guessing whether the client sends it anyway.
			c.ev.Detail = "expects 100-continue"
			c.why = errExpect
		}
	}
}

// record makes an event with copies of the request's texts, bounded, in
// one allocation.
func (c *conn) record(a event.Action, method, target, host, ua, user, pass []byte) event.Event {
	m := knownMethod(method)
	if m == "" {
		method = method[:min(len(method), maxMethod)]
	} else {
		method = nil
	}
	target = target[:min(len(target), event.MaxText)]
	host = host[:min(len(host), event.MaxText)]
	ua = ua[:min(len(ua), event.MaxText)]
	user = user[:min(len(user), event.MaxText)]
	pass = pass[:min(len(pass), event.MaxText)]
	var b strings.Builder
	b.Grow(len(method) + len(target) + len(host) + len(ua) + len(user) + len(pass))
	b.Write(method)
	b.Write(target)
	b.Write(host)
	b.Write(ua)
	b.Write(user)
	b.Write(pass)
	all := b.String()
	cut := func(n int) string {
		s := all[:n]
		all = all[n:]
		return s
	}
	if m == "" {
		m = cut(len(method))
	}
	return event.Event{Action: a, Method: m, URL: cut(len(target)), Host: cut(len(host)),
		UserAgent: cut(len(ua)), Username: cut(len(user)), Password: cut(len(pass))}
}

// knownMethod returns common methods as constants, saving a copy.
func knownMethod(m []byte) string {
	switch string(m) {
	case "GET":
		return "GET"
	case "POST":
		return "POST"
	case "HEAD":
		return "HEAD"
	case "PUT":
		return "PUT"
	case "CONNECT":
		return "CONNECT"
	case "OPTIONS":
		return "OPTIONS"
	case "DELETE":
		return "DELETE"
	}
	return ""
}

func (c *conn) keepExcerpt(data []byte) {
	if room := c.lim.BodyExcerpt - len(c.excerpt); room > 0 && len(data) > 0 {
		if c.excerpt == nil {
			c.excerpt = make([]byte, 0, c.lim.BodyExcerpt)
		}
		c.excerpt = append(c.excerpt, data[:min(room, len(data))]...)
	}
}

// answer records the request and queues its answer; it reports whether
// the connection closes after it.
func (c *conn) answer() bool {
	if len(c.excerpt) > 0 {
		c.ev.Body = string(c.excerpt)
	}
	c.s.Emit(c.ev)
	url := c.ev.URL
	c.ev = event.Event{}
	c.served++
	keep := c.keep && c.why == nil && !c.pg.close && !c.noHead
	if keep && c.served >= c.lim.Requests {
		keep = false
		c.why = fmt.Errorf("%d requests on one connection: %w", c.served, session.ErrLimit)
	}
	if !keep && c.why == nil && c.pg.close {
		c.why = errRefused
	}
	f := fill{date: c.clk.now(), host: c.host, url: url, keep: keep, body: !c.noBody, noHead: c.noHead}
	c.put(c.pg, &f)
	if errors.Is(c.why, errExpect) {
		c.why = nil // an ordinary close
	}
	return !keep
}

// errRefused is the reason of a close after an answer to a broken request.
var errRefused = errors.New("request refused")

// put renders an answer into the output buffer.
func (c *conn) put(p *page, f *fill) {
	if c.out == nil {
		if b, ok := c.h.outs.Get().(*[]byte); ok {
			c.out = b
		} else {
			b := make([]byte, 0, 4096)
			c.out = &b
		}
	}
	*c.out = p.render(*c.out, f)
}

// refuse answers a head the parser refused, records it, and closes.
func (c *conn) refuse(perr *ParseError, b []byte) error {
	ev := c.broken(b, perr.Detail)
	c.s.Emit(ev)
	c.served++
	f := fill{date: c.clk.now(), host: c.host, url: ev.URL, body: true}
	c.put(c.h.pages[pageFor(perr.Kind)], &f)
	switch perr.Kind {
	case KindLineLong, KindHeadLarge:
		return fmt.Errorf("%s: %w", perr.Detail, session.ErrLimit)
	}
	return perr
}

// broken records a head that was refused or cut: its method and target
// as far as they came, else its first bytes as they came (what it was
// instead of HTTP).
func (c *conn) broken(b []byte, detail string) event.Event {
	method, target := c.p.Line(b)
	if method == nil {
		return event.Event{Action: event.Invalid, Detail: detail, Body: string(b[:min(len(b), c.lim.BodyExcerpt)])}
	}
	ev := c.record(event.Invalid, method, target, nil, nil, nil, nil)
	ev.Detail = detail
	return ev
}

// badBody ends the request being read: too large, it is answered as it
// would have been, and the connection closes; malformed, it becomes an
// invalid one, refused.
func (c *conn) badBody(perr *ParseError) {
	c.ev.Detail, c.keep = perr.Detail, false
	if perr == errBigBody {
		c.why = fmt.Errorf("%s: %w", perr.Detail, session.ErrLimit)
		return
	}
	c.ev.Action = event.Invalid
	c.pg = c.h.pages[pageFor(perr.Kind)]
	c.why = perr
}

func pageFor(k ErrorKind) pageID {
	switch k {
	case KindNotHTTP:
		return pgNotHTTP
	case KindLineLong:
		return pgLineLong
	case KindHeadLarge:
		return pgHeadLarge
	case KindVersion:
		return pgVersion
	case KindBadHeader, KindFraming:
		return pgBadHeader
	}
	return pgBadRequest
}

// cut records what a connection that ended mid-request had sent.
func (c *conn) cut(err error) error {
	switch c.phase {
	case phHead:
		if c.p.Started() {
			c.s.Emit(c.broken(c.buf[c.r:c.w], "incomplete request"))
		}
	default:
		if len(c.excerpt) > 0 {
			c.ev.Body = string(c.excerpt)
		}
		c.ev.Detail = "incomplete body"
		c.s.Emit(c.ev)
	}
	if errors.Is(err, io.EOF) {
		return nil
	}
	return err
}

// fill reads more bytes, making room first.
func (c *conn) fill() error {
	if c.r == c.w {
		c.r, c.w = 0, 0
		if len(c.buf) > len(c.small) { // back to small once the large request is done
			c.buf = c.small
		}
	} else if c.r > 0 {
		c.w = copy(c.buf, c.buf[c.r:c.w])
		c.r = 0
	}
	if c.w == len(c.buf) {
		// A large head: grow, by doubling so the memory follows the
		// bytes that came, up to the most the parser may need.
		n := min(2*len(c.buf), c.p.MaxHead())
		if n <= len(c.buf) {
			// Cannot happen: the parser decides within MaxHead bytes.
			return fmt.Errorf("request head over %d bytes: %w", len(c.buf), session.ErrLimit)
		}
		b := make([]byte, n)
		copy(b, c.buf[:c.w])
		c.buf = b
	}
	for {
		n, err := c.s.Read(c.buf[c.w:])
		c.w += n
		if n > 0 {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// flush writes the queued answers in one Write.
func (c *conn) flush() error {
	if c.out == nil {
		return nil
	}
	b := c.out
	c.out = nil
	var err error
	if len(*b) > 0 {
		_, err = c.s.Write(*b)
	}
	*b = (*b)[:0]
	c.h.outs.Put(b)
	if err != nil {
		return fmt.Errorf("write answer: %w", err)
	}
	return nil
}

// Package session is what a fake service sees of one attacker's connection:
// a byte stream whose every read is bounded in time, the limits that apply,
// and a way to record events that enforces the credential policy centrally.
package session

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/minipot/minipot/internal/event"
	"github.com/minipot/minipot/internal/redact"
)

// ErrLimit is returned (wrapped) by a service that closes a connection
// because a configured limit was reached.
var ErrLimit = errors.New("limit reached")

// Limits bound what one connection may cost. Zero values are not valid,
// except where a field says what zero means; settings.Defaults gives values
// fit for a router with 256 MB of RAM.
type Limits struct {
	LineMax     int           // bytes of one telnet line
	RequestLine int           // bytes of one HTTP request line (exploit URLs are long)
	HeaderBytes int           // bytes of all headers of one HTTP request
	HeaderCount int           // headers of one HTTP request
	BodyMax     int           // largest request body skipped to keep a connection alive
	BodyExcerpt int           // bytes of a request body recorded
	Attempts    int           // login attempts per telnet connection
	Requests    int           // requests per HTTP keep-alive connection
	LoginDelay  time.Duration // before "Login incorrect"
	Idle        time.Duration // longest wait for the next bytes
	Session     time.Duration // longest life of a connection
	// Login is the longest a login attempt may take, from the connection
	// or the end of the previous attempt (0: DefaultLogin). Every session
	// starts under it, so a service that never calls Expect still cuts a
	// client that dawdles, however often it sends a byte.
	Login time.Duration
	// Header is the longest an HTTP client may take to send a request's
	// line and headers, from the connection or the end of the previous
	// request (0: DefaultHeader).
	Header time.Duration
	// Handshakes is how many SSH connections may be in their key exchange
	// or login at once, all addresses together (0: ssh.DefaultHandshakes,
	// Dropbear's 30).
	Handshakes int
}

// The defaults of Limits.Login (BusyBox login's alarm) and Limits.Header
// (nginx's client_header_timeout).
const (
	DefaultLogin  = 60 * time.Second
	DefaultHeader = 60 * time.Second
)

// Config is the immutable per-service view of the settings that a session
// runs with. A reload builds a new Config; running sessions keep theirs.
type Config struct {
	Hostname    string // shown in banners and prompts
	Credentials bool   // log_credentials: record usernames and passwords
	Limits      Limits
}

// Handler is a fake service. Serve returns when the conversation is over;
// its error says why (nil or io.EOF: the peer closed; a deadline error: a
// timeout; ErrLimit: a limit).
type Handler interface {
	Serve(ctx context.Context, s *Session) error
}

// A Greeter is a Handler whose server speaks first. The agent calls Greet
// before the connection has a goroutine of its own, so that the goroutine
// starts at its first Read: writing and recording go deeper than the
// 1 KiB or so of a new goroutine's 2 KiB stack that are free, and a stack
// grown to 4 KiB stays that size while the connection idles. Serve must
// greet itself when Greeted is false (a Session used without the agent).
type Greeter interface {
	Handler
	Greet(s *Session) error
}

// A Patient Handler's Serve reads before it writes anything (after Greet,
// for a Greeter): until the peer's first bytes come there is nothing for a
// goroutine of its own to do, so the agent holds such a connection without
// one, parked (agent/park_linux.go). A service that may speak first on its
// goroutine (SSH's version line) must not be Patient: a client that waits
// for the server would wait for ever.
//
// The agent calls ReadsFirst on the accept loop before it parks the
// connection: it starts the time the peer has for its first bytes, if that
// is not the login time every session starts under.
type Patient interface {
	Handler
	ReadsFirst(s *Session)
}

// Session is one attacker connection. It is not safe for concurrent use.
type Session struct {
	conn     net.Conn
	cfg      *Config
	sink     event.Sink
	gate     *atomic.Bool // the agent's current log_credentials, if set
	service  string
	port     int
	src      netip.AddrPort
	srcIP    string // src's address as text, made once: every event needs it
	id       int64
	start    time.Time
	deadline time.Time // end of the session's life
	due      time.Time // end of the current Expect, never after deadline: bounds Read
	in, out  int64
	rep      *repeats // nil until the first request: telnet never needs it
	greeted  bool
}

// RepeatWindow is the longest time one stored event gathers repeats of a
// request: a connection that keeps repeating one request adds a row per
// second to the store, not a row per request.
const RepeatWindow = time.Second

// repeats gathers, on a keep-alive connection, the requests that repeat the
// last one stored. A flood of identical requests (a brute force with
// credentials not collected, a benchmark, a stuck client) would otherwise
// cost a row each, and push everything else out of a store bounded by rows.
type repeats struct {
	last    event.Event // the last request stored
	pending event.Event // its repeats since, not yet stored; Count 0: none
}

// New wraps an accepted connection. port is the real port the attacker
// targeted (the fake port minus the offset).
func New(c net.Conn, service string, port int, id int64, cfg *Config, sink event.Sink) *Session {
	now := time.Now()
	s := &Session{conn: c, cfg: cfg, sink: sink, service: service, port: port, id: id,
		start: now, deadline: now.Add(cfg.Limits.Session)}
	s.ExpectLogin()
	if ap, err := netip.ParseAddrPort(c.RemoteAddr().String()); err == nil {
		s.src = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	}
	s.srcIP = s.src.Addr().String()
	return s
}

// SetCredentialGate ties credential recording to the agent's current
// setting as well as to the session's Config, so that switching collection
// off takes effect at once even for connections already open.
func (s *Session) SetCredentialGate(g *atomic.Bool) { s.gate = g }

// Config returns the settings this session runs with.
func (s *Session) Config() *Config { return s.cfg }

// Service is the service key this connection came to.
func (s *Session) Service() string { return s.service }

// Port is the real port the attacker targeted.
func (s *Session) Port() int { return s.port }

// Src is the attacker's address.
func (s *Session) Src() netip.AddrPort { return s.src }

// ID is the connection id shared by all of this connection's events.
func (s *Session) ID() int64 { return s.id }

// Start is when the connection was accepted.
func (s *Session) Start() time.Time { return s.start }

// BytesIn and BytesOut count the bytes read from and written to the peer.
func (s *Session) BytesIn() int64  { return s.in }
func (s *Session) BytesOut() int64 { return s.out }

// Expect gives the peer d from now to finish what the service waits for (a
// login attempt, a request's headers): a Read past that fails with a
// timeout. d <= 0 lifts it, leaving the idle and session timeouts.
func (s *Session) Expect(d time.Duration) { s.expectFrom(time.Now(), d) }

// expectFrom is Expect with the time counted from t.
func (s *Session) expectFrom(t time.Time, d time.Duration) {
	s.due = s.deadline
	if d > 0 {
		if end := t.Add(d); end.Before(s.deadline) {
			s.due = end
		}
	}
}

// ExpectLogin starts the time a login attempt may take (Limits.Login). A
// session starts under it; a service calls it again after each attempt.
func (s *Session) ExpectLogin() { s.Expect(orDefault(s.cfg.Limits.Login, DefaultLogin)) }

// ExpectRequest starts the time an HTTP request's line and headers may
// take (Limits.Header).
func (s *Session) ExpectRequest() { s.Expect(orDefault(s.cfg.Limits.Header, DefaultHeader)) }

// ExpectFirstRequest is ExpectRequest timed from the connection: the first
// request's time starts when the connection came, however long the agent
// held it parked before its first bytes.
func (s *Session) ExpectFirstRequest() {
	s.expectFrom(s.start, orDefault(s.cfg.Limits.Header, DefaultHeader))
}

func orDefault(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

// Read reads from the peer, waiting at most the idle timeout and never past
// the end of the current Expect or of the session.
func (s *Session) Read(p []byte) (int, error) {
	if err := s.conn.SetReadDeadline(s.bound(s.cfg.Limits.Idle, s.due)); err != nil {
		return 0, err
	}
	n, err := s.conn.Read(p)
	s.in += int64(n)
	return n, err
}

// Write writes to the peer; a peer that does not read is a peer that idles.
func (s *Session) Write(p []byte) (int, error) {
	if err := s.conn.SetWriteDeadline(s.bound(s.cfg.Limits.Idle, s.deadline)); err != nil {
		return 0, err
	}
	n, err := s.conn.Write(p)
	s.out += int64(n)
	return n, err
}

// bound is d from now, or end if that comes first. The
// deadline is set on every Read and Write rather than only when it has
// fallen behind: the bookkeeping for that deepened the call chain under
// every blocked Read enough to double each idle connection's stack, from 2
// to 4 KiB (TestIdleMemory in agent/telnet shows it).
func (s *Session) bound(d time.Duration, end time.Time) time.Time {
	t := time.Now().Add(d)
	if t.After(end) {
		return end
	}
	return t
}

// Sleep waits d (a login delay) unless ctx ends or the session would
// outlive its deadline first; it reports whether the full delay passed.
func (s *Session) Sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	if time.Now().Add(d).After(s.deadline) {
		return false
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// ReadDeadline is when a Read started now would time out: the idle
// timeout, or the end of the current Expect or of the session if sooner.
// The agent ends a parked connection then, as Read would.
func (s *Session) ReadDeadline() time.Time { return s.bound(s.cfg.Limits.Idle, s.due) }

// Expire makes the next Read time out at once, and leaves the writes that
// follow a second at most. The agent ends a connection that idled out
// while parked so, through its handler's own path for a timeout (FTP's
// "421 Timeout."), on the goroutine that watches every parked connection:
// a peer that does not read must not hold it.
func (s *Session) Expire() {
	now := time.Now()
	s.due = now
	if end := now.Add(time.Second); end.Before(s.deadline) {
		s.deadline = end
	}
}

// Resume gives the session its connection back, as c, after the agent
// held it parked: the same socket under a new descriptor, the one it had
// closed.
func (s *Session) Resume(c net.Conn) { s.conn = c }

// Greeted reports whether the Greeter's Greet has run for this session.
func (s *Session) Greeted() bool { return s.greeted }

// SetGreeted records that Greet has run.
func (s *Session) SetGreeted() { s.greeted = true }

// Close closes the connection.
func (s *Session) Close() error { return s.conn.Close() }

// Emit records an event of this connection. It fills in the connection's
// fields, bounds every text, and drops credentials unless they are
// collected, so no service can leak them by mistake.
func (s *Session) Emit(e event.Event) { s.record(&e) }

func (s *Session) record(e *event.Event) {
	e.Time = time.Now().UTC().Truncate(time.Millisecond)
	e.Service, e.Port, e.ConnID = s.service, s.port, s.id
	e.SrcIP, e.SrcPort = s.srcIP, int(s.src.Port())
	// Bounded first: what is cut off is not stored anyway, and redact's
	// work stays bounded by the stored length.
	e.Method = event.Truncate(e.Method, 32)
	e.URL = event.Truncate(e.URL, event.MaxText)
	e.Host = event.Truncate(e.Host, 256)
	e.UserAgent = event.Truncate(e.UserAgent, 512)
	e.Username = event.Truncate(e.Username, 256)
	e.Password = event.Truncate(e.Password, 256)
	e.Body = event.Truncate(e.Body, event.MaxText)
	e.Detail = event.Truncate(e.Detail, event.MaxText)
	if !s.cfg.Credentials || (s.gate != nil && !s.gate.Load()) {
		redact.Event(e)
	}
	e.Count = 1
	if e.Action == event.Request {
		s.request(e)
		return
	}
	s.flushRepeats() // before the disconnect that ends the run
	s.emit(e)
}

// scratch holds events on their way to the sink: a Sink takes a pointer,
// and a pointer to Emit's own copy would move that copy to the heap.
var scratch = sync.Pool{New: func() any { return new(event.Event) }}

func (s *Session) emit(e *event.Event) {
	p := scratch.Get().(*event.Event)
	*p = *e
	s.sink.Emit(p)
	*p = event.Event{} // keep no attacker text alive in the pool
	scratch.Put(p)
}

// request stores a request unless it repeats the last one stored: a
// repeat is counted, and the run of repeats is stored as one event, with
// the time of its first request and their number in Count, when a different
// request or any other event comes, or when it spans RepeatWindow. So
// every request is accounted for, and the first of a kind shows at once.
func (s *Session) request(e *event.Event) {
	if s.rep == nil {
		s.rep = &repeats{}
	}
	r := s.rep
	if r.last.Count == 0 || !sameRequest(&r.last, e) {
		s.flushRepeats()
		r.last = *e
		s.sink.Emit(&r.last)
		return
	}
	if r.pending.Count == 0 {
		r.pending = *e
	} else {
		r.pending.Count++
	}
	if e.Time.Sub(r.pending.Time) >= RepeatWindow {
		s.flushRepeats()
	}
}

func (s *Session) flushRepeats() {
	if s.rep != nil && s.rep.pending.Count > 0 {
		s.sink.Emit(&s.rep.pending)
		s.rep.pending = event.Event{}
	}
}

// sameRequest reports whether b records the same request as a: every field
// the service filled in, after the credential policy was applied.
func sameRequest(a, b *event.Event) bool {
	return a.Method == b.Method && a.URL == b.URL && a.Host == b.Host &&
		a.UserAgent == b.UserAgent && a.Username == b.Username &&
		a.Password == b.Password && a.Body == b.Body && a.Detail == b.Detail
}

// Reason maps the error a Handler returned to a disconnect reason.
func Reason(err error) string {
	switch {
	case errors.Is(err, ErrLimit):
		return event.ReasonLimit
	case errors.Is(err, os.ErrDeadlineExceeded):
		return event.ReasonTimeout
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return event.ReasonTimeout
	}
	return event.ReasonClosed
}

// Package agent runs the minipots: one listener per enabled service on its
// fake port, connection limits, the connect/disconnect events around each
// conversation, and the parking of connections that wait for their peer's
// first bytes (park_linux.go). The conversations themselves are in the
// services' packages (agent/telnet, agent/httpd, agent/ftp, agent/smtp,
// agent/ssh).
package agent

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/minipot/minipot/agent/session"
	"github.com/minipot/minipot/internal/event"
	"github.com/minipot/minipot/internal/report"
	"github.com/minipot/minipot/internal/settings"
)

// HandlerFor makes the fake conversation for a kind of service.
type HandlerFor func(settings.Service) session.Handler

// Agent owns the listeners. Apply converges them to a Settings; it may be
// called again at any time (SIGHUP) without disturbing services that stay.
type Agent struct {
	log      zerolog.Logger
	sink     event.Sink
	handlers HandlerFor
	lim      *limiter
	creds    atomic.Bool // current log_credentials, read by every session
	boot     int64       // high bits of connection ids, random per start (see New)
	seq      atomic.Uint32
	accepted atomic.Uint64
	rejected atomic.Uint64
	conns    sync.WaitGroup
	park     *parker // nil: every connection gets its goroutine at once
	// parkAbove: a new connection is parked only while more than this
	// many are open (see parkAbove, the constant).
	parkAbove int

	mu       sync.Mutex
	running  map[string]*listener
	statuses map[string]report.ServiceStatus
}

type listener struct {
	svc     settings.Service
	addr    string
	ln      net.Listener
	handler session.Handler
	cfg     atomic.Pointer[session.Config]
	ctx     context.Context
	cancel  context.CancelFunc
	done    chan struct{} // closed when the accept loop has returned
}

// New makes an agent that records into sink; it listens on nothing until
// Apply.
func New(log zerolog.Logger, sink event.Sink, handlers HandlerFor) *Agent {
	a := &Agent{
		log:      log,
		sink:     sink,
		handlers: handlers,
		lim:      newLimiter(),
		// 21 random bits above a 32-bit counter: ids stay below 2^53, so
		// JavaScript (LuCI, the web page) reads them exactly.
		boot:      int64(rand.Uint32()>>11) << 32,
		running:   make(map[string]*listener),
		statuses:  make(map[string]report.ServiceStatus),
		parkAbove: parkAbove,
	}
	var err error
	if a.park, err = newParker(a); err != nil {
		log.Debug().Err(err).Msg("idle connections keep a goroutine each")
	}
	return a
}

// Apply makes the listeners match s: services that became disabled stop
// (closing their connections), new ones start, the rest keep their
// connections and serve new ones with the new settings. Every service is
// tried; the error joins the ones that could not listen.
func (a *Agent) Apply(s settings.Settings) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.lim.setMax(s.Limits.MaxConns, s.Limits.MaxPerIP, s.Limits.MaxPerNet)
	a.creds.Store(s.LogCredentials)
	cfg := sessionConfig(s)
	var errs []error
	for _, svc := range settings.Services() {
		addr := net.JoinHostPort(s.Agent.Listen, strconv.Itoa(s.FakePort(svc)))
		st := report.ServiceStatus{Key: svc.Key, Port: svc.Port, FakePort: s.FakePort(svc)}
		l := a.running[svc.Key]
		want := s.ServiceEnabled(svc.Key)
		if l != nil && (!want || l.addr != addr) {
			a.stop(l)
			delete(a.running, svc.Key)
			l = nil
		}
		switch {
		case !s.Enabled:
			st.Reason = "feature off"
		case !want:
			st.Reason = "disabled"
		case l == nil:
			var err error
			if l, err = a.start(svc, addr, cfg); err != nil {
				st.Reason = err.Error()
				errs = append(errs, err)
				break
			}
			a.running[svc.Key] = l
		}
		if l != nil {
			l.cfg.Store(cfg)
			st.Listening, st.Address = true, l.ln.Addr().String()
		}
		a.statuses[svc.Key] = st
	}
	return errors.Join(errs...)
}

func sessionConfig(s settings.Settings) *session.Config {
	l := s.Limits
	return &session.Config{
		Hostname:    s.Agent.Hostname,
		Credentials: s.LogCredentials,
		Limits: session.Limits{
			LineMax: l.LineMax, RequestLine: l.RequestLine, HeaderBytes: l.HeaderBytes, HeaderCount: l.HeaderCount,
			BodyMax: l.BodyMax, BodyExcerpt: l.BodyExcerpt, Attempts: s.Agent.Attempts,
			Requests: l.Requests, LoginDelay: s.Agent.LoginDelay, Idle: l.Idle, Session: l.Session,
			Login: l.LoginTimeout, Header: l.HeaderTimeout, Handshakes: l.SSHHandshakes,
		},
	}
}

// start listens for svc on addr. The listener has its session config before
// its accept loop runs: a connection accepted at once must not find none.
func (a *Agent) start(svc settings.Service, addr string, cfg *session.Config) (*listener, error) {
	h := a.handlers(svc)
	if h == nil {
		return nil, fmt.Errorf("no fake for %s: see the log", svc.Key)
	}
	// No TCP keep-alive: the idle timeout already ends dead connections,
	// and keep-alive costs four setsockopt calls on every accepted one.
	lc := net.ListenConfig{KeepAlive: -1}
	ln, err := lc.Listen(context.Background(), "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen for %s on %s: %w", svc.Key, addr, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	l := &listener{svc: svc, addr: addr, ln: ln, handler: h, ctx: ctx, cancel: cancel, done: make(chan struct{})}
	l.cfg.Store(cfg)
	go a.accept(l)
	a.log.Info().Str("service", svc.Key).Str("addr", ln.Addr().String()).Int("port", svc.Port).Msg("listening")
	return l, nil
}

// stop closes the listener and the service's open connections.
func (a *Agent) stop(l *listener) {
	l.cancel()
	l.ln.Close()
	<-l.done
	a.log.Info().Str("service", l.svc.Key).Msg("stopped listening")
}

func (a *Agent) accept(l *listener) {
	defer close(l.done)
	backoff := 5 * time.Millisecond
	for {
		c, err := l.ln.Accept()
		if err != nil {
			if l.ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of descriptors and the like: wait rather than spin.
			a.log.Warn().Err(err).Str("service", l.svc.Key).Msg("accept")
			select {
			case <-time.After(backoff):
			case <-l.ctx.Done():
				return
			}
			backoff = min(2*backoff, time.Second)
			continue
		}
		backoff = 5 * time.Millisecond
		cn := &conn{c: c, pk: a.park}
		slot := a.lim.acquire(remoteIP(c), cn.end)
		if slot == nil {
			a.rejected.Add(1)
			if tc, ok := c.(*net.TCPConn); ok {
				tc.SetLinger(0) // reset: no TIME_WAIT state kept for a flood
			}
			c.Close()
			continue
		}
		a.accepted.Add(1)
		a.conns.Add(1)
		s, unhook, err := a.open(l, cn)
		if p, ok := l.handler.(session.Patient); ok && err == nil && a.park != nil && a.lim.open() > a.parkAbove {
			p.ReadsFirst(s)
			if a.park.park(cn, l, s, unhook, slot) {
				continue
			}
		}
		go a.serve(l, s, unhook, slot, err)
	}
}

func remoteIP(c net.Conn) netip.Addr {
	if ta, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		return ta.AddrPort().Addr().Unmap()
	}
	return netip.Addr{}
}

// serve runs one connection. It is the bottom frame under every blocked
// Read of an idle connection, so it stays small, and so do the frames the
// services put above it: a goroutine starts with a 2 KiB stack, of which
// about 1 KiB may be used before it grows to 4 KiB, and an idle connection
// keeps what it grew to. So the set-up, which goes deeper (the connect
// event, the greeting), is done on the accept loop by open, the winding
// down is a function of its own, and there are no defers (a panic ends
// the program anyway). TestIdleConnectionStack keeps it so.
func (a *Agent) serve(l *listener, s *session.Session, unhook func() bool, slot *slot, greetErr error) {
	err := greetErr
	if err == nil {
		err = l.handler.Serve(l.ctx, s)
	}
	a.finish(s, unhook, slot, err)
}

// open sets a connection up on the accept loop's goroutine: the session,
// its connect event and, for a service that speaks first, the greeting
// (see session.Greeter). A greeting to a new connection never waits: its
// send buffer is empty.
func (a *Agent) open(l *listener, cn *conn) (*session.Session, func() bool, error) {
	id := a.boot | int64(a.seq.Add(1))
	s := session.New(cn.c, l.svc.Key, l.svc.Port, id, l.cfg.Load(), a.sink)
	s.SetCredentialGate(&a.creds)
	unhook := context.AfterFunc(l.ctx, cn.end)
	s.Emit(event.Event{Action: event.Connect})
	var err error
	if g, ok := l.handler.(session.Greeter); ok {
		s.SetGreeted()
		err = g.Greet(s)
	}
	return s, unhook, err
}

//go:noinline
func (a *Agent) finish(s *session.Session, unhook func() bool, slot *slot, err error) {
	s.Close()
	if slot.Evicted() {
		err = errEvicted
	}
	emitDisconnect(s, err)
	unhook()
	a.lim.release(slot)
	a.conns.Done()
}

// parkAbove is how many connections may be open before new ones are
// parked until their first bytes. Parking costs a connection about ten
// system calls more (a telnet flood of 50 bots made 20% fewer attempts a
// second when every connection was parked), and what it saves, a
// goroutine and a poller record the Go runtime keeps after a burst, is
// worth it only in numbers: below it, a burst leaves at most about 128 KB.
const parkAbove = 64

// errEvicted ends a connection whose slot went to a newcomer (see limiter).
var errEvicted = fmt.Errorf("connection evicted for a newcomer: %w", session.ErrLimit)

func emitDisconnect(s *session.Session, err error) {
	s.Emit(event.Event{
		Action:   event.Disconnect,
		Duration: time.Since(s.Start()).Truncate(time.Millisecond),
		BytesIn:  s.BytesIn(),
		BytesOut: s.BytesOut(),
		Reason:   session.Reason(err),
	})
}

// Status reports each service's state in the fixed service order.
func (a *Agent) Status() []report.ServiceStatus {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]report.ServiceStatus, 0, len(a.statuses))
	for _, svc := range settings.Services() {
		if st, ok := a.statuses[svc.Key]; ok {
			out = append(out, st)
		}
	}
	return out
}

// Counters reports connection totals.
func (a *Agent) Counters() report.Counters {
	return report.Counters{Accepted: a.accepted.Load(), Rejected: a.rejected.Load(), Evicted: a.lim.evicted.Load(), Open: a.lim.open(), Parked: a.park.count()}
}

// Close stops every listener, closes every connection and waits for them.
func (a *Agent) Close() {
	a.mu.Lock()
	for key, l := range a.running {
		a.stop(l)
		delete(a.running, key)
	}
	a.mu.Unlock()
	a.conns.Wait()
	if a.park != nil {
		a.park.close()
	}
}

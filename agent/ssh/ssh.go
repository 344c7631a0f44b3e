// Package ssh is the fake Dropbear behind service 22tcp: a real SSH-2
// handshake (golang.org/x/crypto/ssh) with the router's own host keys and
// Dropbear's version string, after which every password and
// keyboard-interactive answer is refused after the login delay and every
// public key is refused at once. No login ever succeeds, so no channel, no
// shell and no forwarding exist. Each attempt is recorded as a login with
// the client's version string: the password under the credential policy, a
// public key as its type and fingerprint.
package ssh

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"time"

	xssh "golang.org/x/crypto/ssh"

	"github.com/minipot/minipot/agent/session"
	"github.com/minipot/minipot/internal/event"
)

// Version is what Dropbear as OpenWrt 23.05 ships it announces.
const Version = "SSH-2.0-dropbear_2022.82"

const (
	defAttempts = 3  // attempts per connection when the settings give none
	maxKeys     = 16 // public keys recorded per connection
	maxInvalid  = 4
)

var errRefused = errors.New("refused")

// MaxUnauth is how many connections may be in the handshake or the login
// at once: Dropbear's MAX_UNAUTH_CLIENTS. Every connection to the fake is
// one, so this bounds the CPU a flood of key exchanges can take (a few
// milliseconds each on amd64, a hundred times that on a router's CPU):
// beyond it a new connection is closed at once, as Dropbear does.
const MaxUnauth = 30

// Handler is the fake Dropbear. It holds the host keys and the count of
// connections in their handshake; Serve keeps each connection's state.
type Handler struct {
	keys   []xssh.Signer
	unauth chan struct{} // one token per connection being served
}

// New makes the fake with the given host keys (see LoadHostKeys).
func New(keys []xssh.Signer) *Handler {
	return &Handler{keys: keys, unauth: make(chan struct{}, MaxUnauth)}
}

// Serve runs the handshake and the refused logins of one connection.
func (h *Handler) Serve(ctx context.Context, s *session.Session) error {
	select {
	case h.unauth <- struct{}{}:
		defer func() { <-h.unauth }()
	default:
		return fmt.Errorf("ssh: %d connections in their handshake already: %w", MaxUnauth, session.ErrLimit)
	}
	lim := s.Config().Limits
	attempts := lim.Attempts
	if attempts <= 0 {
		attempts = defAttempts
	}
	st := &state{s: s, ctx: ctx, delay: lim.LoginDelay, seen: map[string]bool{}}
	cfg := &xssh.ServerConfig{
		ServerVersion: Version,
		MaxAuthTries:  attempts,
		PasswordCallback: func(c xssh.ConnMetadata, pw []byte) (*xssh.Permissions, error) {
			return nil, st.login(c, "password", string(pw))
		},
		KeyboardInteractiveCallback: func(c xssh.ConnMetadata, ask xssh.KeyboardInteractiveChallenge) (*xssh.Permissions, error) {
			ans, err := ask("", "", []string{"Password: "}, []bool{false})
			if err != nil {
				return nil, err
			}
			pw := ""
			if len(ans) > 0 {
				pw = ans[0]
			}
			return nil, st.login(c, "keyboard-interactive", pw)
		},
		PublicKeyCallback: func(c xssh.ConnMetadata, key xssh.PublicKey) (*xssh.Permissions, error) {
			st.publicKey(c, key)
			return nil, errRefused
		},
	}
	cfg.AuthLogCallback = func(xssh.ConnMetadata, string, error) { st.authTried = true }
	cfg.KeyExchanges = kex
	for _, k := range h.keys {
		cfg.AddHostKey(k)
	}
	nc := &netConn{s: s}
	conn, chans, reqs, err := xssh.NewServerConn(nc, cfg)
	nc.stop()
	if err == nil {
		// Unreachable: every callback refuses. Close at once all the same.
		go xssh.DiscardRequests(reqs)
		go func() {
			for ch := range chans {
				ch.Reject(xssh.Prohibited, "")
			}
		}()
		conn.Close()
		return errors.New("ssh: a login succeeded, which must not happen")
	}
	if ctx.Err() != nil {
		return fmt.Errorf("ssh: %w", context.Cause(ctx))
	}
	if st.cut != nil {
		return st.cut
	}
	if !st.authTried && !errors.Is(err, io.EOF) && session.Reason(err) != event.ReasonTimeout &&
		!strings.Contains(err.Error(), "ssh: disconnect") {
		// Not an SSH client, or one that broke the protocol before it
		// tried to log in (a client that says goodbye is not one).
		s.Emit(event.Event{Action: event.Invalid, Detail: strings.TrimPrefix(err.Error(), "ssh: ")})
	}
	if session.Reason(err) == event.ReasonTimeout {
		return err
	}
	if st.logins >= attempts {
		return nil // the server ended it after the last attempt
	}
	return io.EOF
}

// kex is Dropbear 2022.82's key exchange list that x/crypto speaks, with
// group14-sha1 kept for the old libssh2 of many bots.
var kex = []string{
	"curve25519-sha256", "curve25519-sha256@libssh.org",
	"ecdh-sha2-nistp521", "ecdh-sha2-nistp384", "ecdh-sha2-nistp256",
	"diffie-hellman-group14-sha256", "diffie-hellman-group14-sha1",
}

// state is one connection's view from the callbacks.
type state struct {
	s      *session.Session
	ctx    context.Context
	delay  time.Duration
	logins int
	keys   int
	seen   map[string]bool // public keys already recorded
	cut    error           // why a login delay was cut short

	authTried bool // the client got as far as asking to log in
}

func (st *state) login(c xssh.ConnMetadata, method, password string) error {
	st.logins++
	st.s.Emit(event.Event{Action: event.Login, Method: method, Username: c.User(), Password: password,
		UserAgent: string(c.ClientVersion())})
	if !st.s.Sleep(st.ctx, st.delay) {
		st.cut = fmt.Errorf("ssh: login delay past the session's end: %w", session.ErrLimit)
		// An error from the callback alone would let the client go on; a
		// closed connection ends the handshake.
		st.s.Close()
	}
	return errRefused
}

// publicKey records a key offered, once per key: clients offer each key
// first without a signature and then with one.
func (st *state) publicKey(c xssh.ConnMetadata, key xssh.PublicKey) {
	fp := xssh.FingerprintSHA256(key)
	if st.seen[fp] || st.keys >= maxKeys {
		return
	}
	st.seen[fp] = true
	st.keys++
	st.s.Emit(event.Event{Action: event.Login, Method: "publickey", Username: c.User(),
		UserAgent: string(c.ClientVersion()), Detail: key.Type() + " " + fp})
}

// netConn is the session as the net.Conn x/crypto/ssh wants: reads and
// writes go through the session, so they are bounded in time as every
// service's are. It also ends, at its first bytes, a client that does not
// open with "SSH-": x/crypto/ssh would skip line after line of anything
// else until the idle timeout, and a client (unlike a server) may send
// nothing before its version (RFC 4253, 4.2).
//
// x/crypto/ssh reads and writes from goroutines of its own, which may still
// be in a Read when the handshake has failed; stop waits for them, so that
// the session's byte counts are the agent's alone once Serve returns.
type netConn struct {
	s      *session.Session
	rmu    sync.Mutex // held during a Read
	wmu    sync.Mutex // held during a Write
	seen   int        // bytes of "SSH-" checked so far
	closed bool       // by stop: no more reads or writes
}

var errNotSSH = errors.New("not an SSH client: the first bytes are not \"SSH-\"")

func (c *netConn) Read(p []byte) (int, error) {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	if c.closed {
		return 0, net.ErrClosed
	}
	n, err := c.s.Read(p)
	for i := 0; i < n && c.seen < 4; i++ {
		if p[i] != "SSH-"[c.seen] {
			return 0, errNotSSH
		}
		c.seen++
	}
	return n, err
}

func (c *netConn) Write(p []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.closed {
		return 0, net.ErrClosed
	}
	return c.s.Write(p)
}

// stop closes the connection and waits for a Read or Write in progress.
func (c *netConn) stop() {
	c.s.Close()
	c.rmu.Lock()
	c.wmu.Lock()
	c.closed = true
	c.wmu.Unlock()
	c.rmu.Unlock()
}

func (c *netConn) Close() error         { return c.s.Close() }
func (c *netConn) LocalAddr() net.Addr  { return &net.TCPAddr{} }
func (c *netConn) RemoteAddr() net.Addr { return net.TCPAddrFromAddrPort(c.s.Src()) }

// The session sets the deadlines itself on every Read and Write.
func (*netConn) SetDeadline(time.Time) error      { return nil }
func (*netConn) SetReadDeadline(time.Time) error  { return nil }
func (*netConn) SetWriteDeadline(time.Time) error { return nil }

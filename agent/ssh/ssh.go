// Package ssh is the fake Dropbear behind service 22tcp: a real SSH-2
// handshake (golang.org/x/crypto/ssh) with the router's own host keys,
// Dropbear's version string and algorithm lists, after which the login
// goes as Dropbear's with its default options: "publickey" and "password"
// offered, every public key refused at once, every password and any other
// method refused after Dropbear's delay, and the connection closed without
// a word at the last attempt allowed. No login ever succeeds, so no
// channel, no shell and no forwarding exist. Each attempt is recorded as a
// login with the client's version string: the password under the
// credential policy, a public key as its type and fingerprint.
package ssh

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
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
	defAttempts = 3  // attempts per connection when the settings give none: OpenWrt's MaxAuthTries
	maxKeys     = 16 // public keys recorded per connection
)

var errRefused = errors.New("refused")

// DefaultHandshakes is the default of session.Limits.Handshakes, how many
// connections may be in the handshake or the login at once: Dropbear's
// MAX_UNAUTH_CLIENTS. Every connection to the fake is one, so this bounds
// the CPU a flood of key exchanges can take (a few milliseconds each on
// amd64, a hundred times that on a router's CPU): beyond it a new
// connection is closed at once, as Dropbear does.
const DefaultHandshakes = 30

// MaxHandshakesPerAddr is how many of those may come from one address:
// Dropbear's MAX_UNAUTH_PER_IP. A newcomer past it is closed at once too,
// whatever limits.max_per_ip allows the other services.
const MaxHandshakesPerAddr = 5

// Dropbear answers a refused password after 250 to 350 ms (svr-auth.c,
// send_msg_userauth_failure), counted from the request.
const (
	failDelayMin  = 250 * time.Millisecond
	failDelaySpan = 100 * time.Millisecond
)

// Handler is the fake Dropbear. It holds the host keys and the count of
// connections in their handshake; Serve keeps each connection's state.
type Handler struct {
	keys    []xssh.Signer
	mu      sync.Mutex
	unauth  int                // connections being served
	perAddr map[netip.Addr]int // the same by address; never more than unauth entries
}

// New makes the fake with the given host keys (see LoadHostKeys). An RSA
// key signs as Dropbear's do, with rsa-sha2-256 or ssh-rsa: Dropbear has
// no rsa-sha2-512, which x/crypto/ssh would offer too.
func New(keys []xssh.Signer) *Handler {
	h := &Handler{perAddr: make(map[netip.Addr]int)}
	for _, k := range keys {
		if as, ok := k.(xssh.AlgorithmSigner); ok && k.PublicKey().Type() == xssh.KeyAlgoRSA {
			if m, err := xssh.NewSignerWithAlgorithms(as, []string{xssh.KeyAlgoRSASHA256, xssh.KeyAlgoRSA}); err == nil {
				k = m
			}
		}
		h.keys = append(h.keys, k)
	}
	return h
}

// admit counts a connection from addr into its handshake, or refuses it
// as Dropbear does: most in their handshake already, or
// MaxHandshakesPerAddr from addr.
func (h *Handler) admit(addr netip.Addr, most int) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	switch {
	case h.unauth >= most:
		return fmt.Errorf("ssh: %d connections in their handshake already: %w", most, session.ErrLimit)
	case h.perAddr[addr] >= MaxHandshakesPerAddr:
		return fmt.Errorf("ssh: %d connections from %s in their handshake already: %w", MaxHandshakesPerAddr, addr, session.ErrLimit)
	}
	h.unauth++
	h.perAddr[addr]++
	return nil
}

// leave counts a connection from addr out.
func (h *Handler) leave(addr netip.Addr) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.unauth--
	if h.perAddr[addr]--; h.perAddr[addr] <= 0 {
		delete(h.perAddr, addr)
	}
}

// Serve runs the handshake and the refused logins of one connection.
func (h *Handler) Serve(ctx context.Context, s *session.Session) error {
	lim := s.Config().Limits
	// Read at each connection, so that a reload's new value holds at once.
	maxUnauth := lim.Handshakes
	if maxUnauth <= 0 {
		maxUnauth = DefaultHandshakes
	}
	addr := s.Src().Addr()
	if err := h.admit(addr, maxUnauth); err != nil {
		return err
	}
	defer h.leave(addr)
	attempts := lim.Attempts
	if attempts <= 0 {
		attempts = defAttempts
	}
	st := &state{s: s, ctx: ctx, delay: lim.LoginDelay, attempts: attempts, seen: map[string]bool{}}
	cfg := &xssh.ServerConfig{
		ServerVersion: Version,
		// The count is Dropbear's, kept by state.tried: x/crypto/ssh would
		// count what Dropbear does not and send a disconnect message
		// Dropbear never sends. x/crypto/ssh still ends a connection after
		// 128 requests of any kind.
		MaxAuthTries: -1,
		PasswordCallback: func(c xssh.ConnMetadata, pw []byte) (*xssh.Permissions, error) {
			st.s.Emit(event.Event{Action: event.Login, Method: "password", Username: c.User(), Password: string(pw),
				UserAgent: string(c.ClientVersion())})
			return nil, errRefused
		},
		PublicKeyCallback: func(c xssh.ConnMetadata, key xssh.PublicKey) (*xssh.Permissions, error) {
			st.publicKey(c, key)
			return nil, errRefused
		},
		// Called for every request, before the answer is sent.
		AuthLogCallback: st.tried,
	}
	cfg.KeyExchanges, cfg.Ciphers, cfg.MACs = kex, ciphers, macs
	cfg.PublicKeyAuthAlgorithms = pubKeyAlgos
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
	if st.fails >= attempts {
		return nil // the server ended it after the last attempt
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
	return io.EOF
}

// The algorithms Dropbear 2022.82 offers with OpenWrt's build options, in
// its order, less those x/crypto/ssh does not speak (its kexguess2 marker).
// x/crypto/ssh adds the strict key exchange marker (kex-strict-s-v00) of
// its own, which Dropbear has only from 2024.84: docs/agent.md says so.
var (
	kex = []string{
		"curve25519-sha256", "curve25519-sha256@libssh.org",
		"ecdh-sha2-nistp521", "ecdh-sha2-nistp384", "ecdh-sha2-nistp256",
		"diffie-hellman-group14-sha256", "diffie-hellman-group14-sha1",
	}
	ciphers = []string{"chacha20-poly1305@openssh.com", "aes128-ctr", "aes256-ctr"}
	macs    = []string{"hmac-sha1", "hmac-sha2-256"}
	// The signature algorithms of Dropbear's sigalgs table, in its order:
	// what its server-sig-algs lists, and what a public key may be offered
	// with (x/crypto/ssh refuses any other before PublicKeyCallback, as
	// Dropbear refuses it, so such a key is not recorded).
	pubKeyAlgos = []string{
		xssh.KeyAlgoED25519, xssh.KeyAlgoSKED25519,
		xssh.KeyAlgoECDSA256, xssh.KeyAlgoECDSA384, xssh.KeyAlgoECDSA521, xssh.KeyAlgoSKECDSA256,
		xssh.KeyAlgoRSASHA256, xssh.KeyAlgoRSA,
	}
)

// state is one connection's view from the callbacks.
type state struct {
	s        *session.Session
	ctx      context.Context
	delay    time.Duration // agent.login_delay: the most a refusal waits
	attempts int
	fails    int // attempts counted as Dropbear counts them
	keys     int
	seen     map[string]bool // public keys already recorded
	cut      error           // why a login delay was cut short
	user     string          // the first request's: Dropbear exits when it changes

	authTried bool // the client got as far as asking to log in
}

// tried follows one login request the way Dropbear's
// recv_msg_userauth_request does: "none" (a client asking what it may
// use) and public keys are refused at once and not counted; a password,
// and any method Dropbear does not offer, is refused after Dropbear's
// delay and counted. At the last attempt allowed Dropbear exits before
// its queued failure message leaves (dropbear_exit drops the write
// queue): the client sees the connection close and nothing else, so the
// connection is closed here before x/crypto/ssh can answer. A request for
// another user than the first, or a user name with a NUL byte, also ends
// the connection, as in Dropbear.
func (st *state) tried(c xssh.ConnMetadata, method string, _ error) {
	if !st.authTried {
		st.user = c.User()
	}
	st.authTried = true
	if c.User() != st.user || strings.IndexByte(c.User(), 0) >= 0 {
		// "Client trying multiple usernames", "Attempted username with
		// a null byte": Dropbear exits at once, whatever the method. The
		// attempt itself is recorded all the same.
		st.s.Close()
		return
	}
	switch method {
	case "none", "publickey":
		return
	case "password":
	default:
		// keyboard-interactive, hostbased...: refused as Dropbear does,
		// and recorded (there are no credentials in the request).
		st.s.Emit(event.Event{Action: event.Login, Method: method, Username: c.User(),
			UserAgent: string(c.ClientVersion())})
	}
	st.fails++
	if !st.s.Sleep(st.ctx, failDelay(st.delay)) {
		st.cut = fmt.Errorf("ssh: login delay past the session's end: %w", session.ErrLimit)
		// An error from the callback alone would let the client go on; a
		// closed connection ends the handshake.
		st.s.Close()
		return
	}
	if st.fails >= st.attempts {
		st.s.Close()
	}
	// No ExpectLogin here: x/crypto/ssh reads on a goroutine of its own,
	// and the session is not safe for concurrent use. The one login
	// window the session starts under bounds the whole connection, as
	// Dropbear's AUTH_TIMEOUT does.
}

// failDelay is Dropbear's wait before a refusal, 250 to 350 ms, never
// longer than agent.login_delay (0: none, as tests and benchmarks want).
func failDelay(most time.Duration) time.Duration {
	return min(failDelayMin+rand.N(failDelaySpan), most)
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

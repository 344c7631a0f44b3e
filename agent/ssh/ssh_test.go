package ssh

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	xssh "golang.org/x/crypto/ssh"

	"github.com/minipot/minipot/agent/session"
	"github.com/minipot/minipot/internal/event"
	"github.com/minipot/minipot/internal/event/eventtest"
)

func testConfig() *session.Config {
	return &session.Config{Hostname: "OpenWrt", Credentials: true, Limits: session.Limits{
		LineMax: 512, Attempts: 3, LoginDelay: 10 * time.Millisecond, Idle: 2 * time.Second, Session: 10 * time.Second}}
}

var testKeys []xssh.Signer

func keys(t testing.TB) []xssh.Signer {
	if testKeys == nil {
		k, err := LoadHostKeys(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		testKeys = k
	}
	return testKeys
}

// listen serves the fake on loopback; each connection's Serve result goes
// to the returned channel.
func listen(t testing.TB, cfg *session.Config, rec *eventtest.Recorder) (string, chan error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	h := New(keys(t))
	done := make(chan error, 100)
	go func() {
		for id := int64(1); ; id++ {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				s := session.New(c, "22tcp", 22, id, cfg, rec)
				err := h.Serve(context.Background(), s)
				s.Close()
				// As the agent's disconnect event does: under -race, this
				// shows that no goroutine of x/crypto/ssh still counts.
				if s.BytesIn() < 0 || s.BytesOut() < 0 {
					err = errors.New("negative byte counts")
				}
				done <- err
			}()
		}
	}()
	return ln.Addr().String(), done
}

// TestPasswordsRefused: a real SSH client gets the Dropbear banner, the
// host key, and "unable to authenticate" for every password; each one is
// recorded with the client's version.
func TestPasswordsRefused(t *testing.T) {
	rec := eventtest.New()
	addr, done := listen(t, testConfig(), rec)
	var hostKey xssh.PublicKey
	pws := []string{"admin", "1234", "root"}
	i := 0
	cfg := &xssh.ClientConfig{
		User:          "root",
		ClientVersion: "SSH-2.0-Go-bot",
		Auth: []xssh.AuthMethod{xssh.RetryableAuthMethod(xssh.PasswordCallback(func() (string, error) {
			i++
			return pws[(i-1)%len(pws)], nil
		}), 10)},
		HostKeyCallback: func(_ string, _ net.Addr, k xssh.PublicKey) error { hostKey = k; return nil },
		Timeout:         5 * time.Second,
	}
	c, err := xssh.Dial("tcp", addr, cfg)
	if err == nil {
		c.Close()
		t.Fatal("a login succeeded")
	}
	// Dropbear closes after the last attempt without a message (so the
	// client sees EOF), where x/crypto/ssh alone would disconnect with
	// "too many authentication failures".
	if !strings.Contains(err.Error(), "EOF") {
		t.Errorf("error %v, want the connection closed", err)
	}
	if hostKey == nil || (!bytes.Equal(hostKey.Marshal(), keys(t)[0].PublicKey().Marshal()) &&
		!bytes.Equal(hostKey.Marshal(), keys(t)[1].PublicKey().Marshal())) {
		t.Errorf("host key %v is none of the fake's", hostKey)
	}
	if err := <-done; err != nil {
		t.Errorf("Serve: %v", err)
	}
	logins := rec.Of(event.Login)
	if len(logins) != 3 {
		t.Fatalf("%d logins, want the 3 attempts allowed: %+v", len(logins), logins)
	}
	for i, e := range logins {
		if e.Method != "password" || e.Username != "root" || e.Password != pws[i] || e.UserAgent != "SSH-2.0-Go-bot" {
			t.Errorf("login %d: %+v", i, e)
		}
	}
}

// TestBanner: the first bytes are Dropbear's version line.
func TestBanner(t *testing.T) {
	addr, _ := listen(t, testConfig(), eventtest.New())
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, len(Version)+2)
	if _, err := c.Read(buf); err != nil || string(buf) != Version+"\r\n" {
		t.Errorf("banner %q, %v", buf, err)
	}
}

// TestPublicKeyAndKeyboardInteractive: keys are recorded by type and
// fingerprint, never accepted; keyboard-interactive is not offered (as in
// Dropbear), so a client that knows it and a password falls back to the
// password; credentials off keeps the password out.
func TestPublicKeyAndKeyboardInteractive(t *testing.T) {
	rec := eventtest.New()
	cfg := testConfig()
	cfg.Credentials = false
	addr, done := listen(t, cfg, rec)
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	signer, _ := xssh.NewSignerFromKey(priv)
	asked := false
	_, err := xssh.Dial("tcp", addr, &xssh.ClientConfig{
		User: "admin",
		Auth: []xssh.AuthMethod{xssh.PublicKeys(signer), xssh.KeyboardInteractive(
			func(_, _ string, q []string, _ []bool) ([]string, error) {
				asked = true
				return []string{"s3cret"}, nil
			}),
			xssh.Password("s3cret")},
		HostKeyCallback: xssh.InsecureIgnoreHostKey(),
		Timeout:         5 * time.Second,
	})
	if err == nil {
		t.Fatal("a login succeeded")
	}
	<-done
	if asked {
		t.Error("keyboard-interactive was offered")
	}
	logins := rec.Of(event.Login)
	if len(logins) != 2 || logins[0].Method != "publickey" || logins[0].Detail != "ssh-ed25519 "+xssh.FingerprintSHA256(signer.PublicKey()) ||
		logins[1].Method != "password" {
		t.Fatalf("logins %+v", logins)
	}
	for _, e := range rec.All() {
		if e.Username != "" || e.Password != "" || strings.Contains(e.Detail, "s3cret") {
			t.Errorf("credentials kept with collection off: %+v", e)
		}
	}
}

// TestDropbearAuth follows Dropbear's svr-auth.c request by request on
// the wire, with x/crypto/ssh's client driven one method at a time:
// which methods are offered, which requests count and wait, and the
// silent close at the last attempt.
func TestDropbearAuth(t *testing.T) {
	cfg := testConfig()
	cfg.Limits.LoginDelay = time.Second // Dropbear's 250-350 ms then
	cases := []struct {
		name    string
		methods func(pw *int) []xssh.AuthMethod
		user    func(i int) string
		logins  int           // attempts recorded
		passwds int           // of which passwords
		slowest time.Duration // at least this long in all: the counted refusals' delays
		err     string        // the client's error contains this
	}{
		{"three passwords then a silent close", func(pw *int) []xssh.AuthMethod {
			return []xssh.AuthMethod{xssh.RetryableAuthMethod(xssh.PasswordCallback(func() (string, error) {
				*pw++
				return fmt.Sprint("pw", *pw), nil
			}), 10)}
		}, nil, 3, 3, 3 * failDelayMin, "EOF"},
		{"public keys are free: 20 keys, then 3 passwords", func(pw *int) []xssh.AuthMethod {
			var signers []xssh.Signer
			for range 20 {
				_, priv, _ := ed25519.GenerateKey(rand.Reader)
				sg, _ := xssh.NewSignerFromKey(priv)
				signers = append(signers, sg)
			}
			return []xssh.AuthMethod{xssh.PublicKeys(signers...), xssh.RetryableAuthMethod(xssh.PasswordCallback(func() (string, error) {
				*pw++
				return "x", nil
			}), 10)}
		}, nil, maxKeys + 3, 3, 3 * failDelayMin, "EOF"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rec := eventtest.New()
			addr, done := listen(t, cfg, rec)
			pw := 0
			start := time.Now()
			_, err := xssh.Dial("tcp", addr, &xssh.ClientConfig{User: "root", Auth: c.methods(&pw),
				HostKeyCallback: xssh.InsecureIgnoreHostKey(), Timeout: 10 * time.Second})
			took := time.Since(start)
			if err == nil {
				t.Fatal("a login succeeded")
			}
			// x/crypto/ssh's own end would be a disconnect message,
			// "too many authentication failures": Dropbear sends none.
			if !strings.Contains(err.Error(), c.err) || strings.Contains(err.Error(), "disconnect") {
				t.Errorf("client error %v, want %q and no disconnect message", err, c.err)
			}
			if err := <-done; err != nil {
				t.Errorf("Serve: %v", err)
			}
			logins := rec.Of(event.Login)
			n := 0
			for _, e := range logins {
				if e.Method == "password" {
					n++
				}
			}
			if len(logins) != c.logins || n != c.passwds || pw != c.passwds {
				t.Errorf("%d logins, %d passwords recorded, %d sent; want %d, %d", len(logins), n, pw, c.logins, c.passwds)
			}
			if took < c.slowest {
				t.Errorf("took %v, want Dropbear's delays: at least %v", took, c.slowest)
			}
		})
	}
}

// TestUserChangeCloses: Dropbear exits when a client changes the user
// name between requests ("Client trying multiple usernames") or sends one
// with a NUL byte. No client
// at hand changes it within a connection, so state.tried is driven
// directly, over a pipe whose far end sees the close.
func TestUserChangeCloses(t *testing.T) {
	for _, c := range []struct {
		users  []string
		closed bool
	}{
		{[]string{"root", "root"}, false},
		{[]string{"root", "admin"}, true},
		{[]string{"ro\x00ot"}, true},
	} {
		near, far := net.Pipe()
		s := session.New(near, "22tcp", 22, 1, testConfig(), eventtest.New())
		st := &state{s: s, ctx: context.Background(), attempts: 10, seen: map[string]bool{}}
		for _, u := range c.users {
			st.tried(meta{user: u}, "none", errRefused)
		}
		far.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		_, err := far.Read(make([]byte, 1))
		if closed := errors.Is(err, io.EOF); closed != c.closed {
			t.Errorf("users %v: closed %v (%v), want %v", c.users, closed, err, c.closed)
		}
		near.Close()
		far.Close()
	}
}

// meta is the ConnMetadata of a test that drives the callbacks itself.
type meta struct {
	xssh.ConnMetadata
	user string
}

func (m meta) User() string          { return m.user }
func (m meta) ClientVersion() []byte { return []byte("SSH-2.0-test") }

// TestHostKeyAlgorithms: the RSA host key signs with rsa-sha2-256 or
// ssh-rsa, as Dropbear's, never rsa-sha2-512.
func TestHostKeyAlgorithms(t *testing.T) {
	addr, _ := listen(t, testConfig(), eventtest.New())
	for algo, ok := range map[string]bool{xssh.KeyAlgoED25519: true, xssh.KeyAlgoRSASHA256: true, xssh.KeyAlgoRSA: true, xssh.KeyAlgoRSASHA512: false} {
		_, err := xssh.Dial("tcp", addr, &xssh.ClientConfig{User: "root", Auth: []xssh.AuthMethod{xssh.Password("x")},
			HostKeyAlgorithms: []string{algo}, HostKeyCallback: xssh.InsecureIgnoreHostKey(), Timeout: 5 * time.Second})
		if got := err != nil && strings.Contains(err.Error(), "unable to authenticate"); got != ok {
			t.Errorf("host key algorithm %s: %v, want it offered: %v", algo, err, ok)
		}
	}
}

// TestFailDelay: Dropbear's 250-350 ms, never past agent.login_delay.
func TestFailDelay(t *testing.T) {
	for _, c := range []struct{ most, lo, hi time.Duration }{
		{3 * time.Second, failDelayMin, failDelayMin + failDelaySpan - 1},
		{300 * time.Millisecond, failDelayMin, 300 * time.Millisecond},
		{10 * time.Millisecond, 10 * time.Millisecond, 10 * time.Millisecond},
		{0, 0, 0},
	} {
		for range 200 {
			if d := failDelay(c.most); d < c.lo || d > c.hi {
				t.Fatalf("failDelay(%v) = %v, want %v..%v", c.most, d, c.lo, c.hi)
			}
		}
	}
}

// TestGarbage: a client that is not SSH is recorded as invalid and let go.
func TestGarbage(t *testing.T) {
	rec := eventtest.New()
	addr, done := listen(t, testConfig(), rec)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write(bytes.Repeat([]byte("\x00\xffGET / HTTP/1.1\r\n"), 1000))
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not end")
	}
	if inv := rec.Of(event.Invalid); len(inv) != 1 || !strings.Contains(inv[0].Detail, "not an SSH client") {
		t.Errorf("invalid events %+v", inv)
	}
}

// TestHostKeysKept: keys are made once, private to their owner, and read
// back unchanged.
func TestHostKeysKept(t *testing.T) {
	dir := t.TempDir()
	a, err := LoadHostKeys(dir)
	if err != nil {
		t.Fatal(err)
	}
	b, err := LoadHostKeys(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(a) != 2 || len(b) != 2 {
		t.Fatalf("%d and %d keys", len(a), len(b))
	}
	for i := range a {
		if !bytes.Equal(a[i].PublicKey().Marshal(), b[i].PublicKey().Marshal()) {
			t.Errorf("key %d changed between starts", i)
		}
	}
	for _, f := range hostKeyFiles {
		st, err := os.Stat(filepath.Join(dir, f.name))
		if err != nil || st.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v %v", f.name, st.Mode(), err)
		}
	}
	os.WriteFile(filepath.Join(dir, hostKeyFiles[0].name), []byte("garbage"), 0o600)
	if _, err := LoadHostKeys(dir); err == nil {
		t.Error("a broken key file was accepted")
	}
}

// BenchmarkHandshake is one refused SSH login as a bot makes it: key
// exchange, host key signature, one password, refusal. It runs the client
// too (the same key exchange): the server's share is about half. The
// Ed25519 and RSA host keys are measured apart, as a client picks one;
// BenchmarkSign gives each key's signature alone as the yardstick.
func BenchmarkHandshake(b *testing.B) {
	cfg := testConfig()
	cfg.Limits.LoginDelay = 0
	for i, algo := range []string{xssh.KeyAlgoED25519, xssh.KeyAlgoRSASHA256} {
		b.Run(algo, func(b *testing.B) {
			rec := eventtest.New()
			h := New(keys(b)[i : i+1])
			client := &xssh.ClientConfig{User: "root", Auth: []xssh.AuthMethod{xssh.Password("xc3511")},
				HostKeyCallback: xssh.InsecureIgnoreHostKey(), HostKeyAlgorithms: []string{algo}}
			// Loopback TCP: net.Pipe does not buffer, and both sides
			// send their version first.
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			defer ln.Close()
			b.ReportAllocs()
			for b.Loop() {
				c1, err := net.Dial("tcp", ln.Addr().String())
				if err != nil {
					b.Fatal(err)
				}
				c2, err := ln.Accept()
				if err != nil {
					b.Fatal(err)
				}
				s := session.New(c2, "22tcp", 22, 1, cfg, rec)
				done := make(chan struct{})
				go func() { h.Serve(context.Background(), s); s.Close(); close(done) }()
				if _, _, _, err := xssh.NewClientConn(c1, "", client); err == nil {
					b.Fatal("a login succeeded")
				}
				c1.Close()
				<-done
			}
		})
	}
}

func BenchmarkSign(b *testing.B) {
	for _, k := range keys(b) {
		b.Run(k.PublicKey().Type(), func(b *testing.B) {
			data := make([]byte, 32)
			for b.Loop() {
				if _, err := k.Sign(rand.Reader, data); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestMaxUnauth: beyond limits.ssh_handshakes connections in their
// handshake (0: DefaultHandshakes), each from an address of its own, a new
// one is closed at once; when one ends, the next is served again. From one
// address, the sixth is closed so (Dropbear's MAX_UNAUTH_PER_IP), while
// another address is still served.
func TestMaxUnauth(t *testing.T) {
	for _, c := range []struct {
		name       string
		set, want  int
		oneAddress bool
	}{
		{"default", 0, DefaultHandshakes, false},
		{"set to 3", 3, 3, false},
		{"one address", 0, MaxHandshakesPerAddr, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := testConfig()
			cfg.Limits.Handshakes = c.set
			addr, done := listen(t, cfg, eventtest.New())
			from := func(i int) string {
				if c.oneAddress {
					return "127.0.0.1"
				}
				return fmt.Sprintf("127.0.3.%d", 1+i)
			}
			var held []net.Conn
			for i := range c.want {
				held = append(held, dialBanner(t, from(i), addr))
			}
			refused := dialFrom(t, from(c.want), addr)
			if n, err := refused.Read(make([]byte, 64)); n != 0 || err == nil {
				t.Errorf("connection %d got %d bytes, %v", c.want+1, n, err)
			}
			if err := <-done; !errors.Is(err, session.ErrLimit) {
				t.Errorf("Serve: %v", err)
			}
			if c.oneAddress {
				dialBanner(t, "127.0.3.200", addr) // another address
			}
			held[0].Close()
			<-done
			dialBanner(t, from(0), addr)
		})
	}
}

// dialFrom connects to addr from the loopback address src.
func dialFrom(t *testing.T, src, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(5 * time.Second))
	return c
}

// dialBanner is dialFrom, then the fake's version line read.
func dialBanner(t *testing.T, src, addr string) net.Conn {
	t.Helper()
	c := dialFrom(t, src, addr)
	if _, err := io.ReadFull(c, make([]byte, len(Version))); err != nil {
		t.Fatalf("banner to %s: %v", src, err)
	}
	return c
}

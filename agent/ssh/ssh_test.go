package ssh

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
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
	if !strings.Contains(err.Error(), "unable to authenticate") && !strings.Contains(err.Error(), "too many authentication failures") {
		t.Errorf("error %v", err)
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
// fingerprint, never accepted; keyboard-interactive answers count as
// passwords; credentials off keeps the password out.
func TestPublicKeyAndKeyboardInteractive(t *testing.T) {
	rec := eventtest.New()
	cfg := testConfig()
	cfg.Credentials = false
	addr, done := listen(t, cfg, rec)
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	signer, _ := xssh.NewSignerFromKey(priv)
	_, err := xssh.Dial("tcp", addr, &xssh.ClientConfig{
		User: "admin",
		Auth: []xssh.AuthMethod{xssh.PublicKeys(signer), xssh.KeyboardInteractive(
			func(_, _ string, q []string, _ []bool) ([]string, error) { return []string{"s3cret"}, nil })},
		HostKeyCallback: xssh.InsecureIgnoreHostKey(),
		Timeout:         5 * time.Second,
	})
	if err == nil {
		t.Fatal("a login succeeded")
	}
	<-done
	logins := rec.Of(event.Login)
	if len(logins) != 2 || logins[0].Method != "publickey" || logins[0].Detail != "ssh-ed25519 "+xssh.FingerprintSHA256(signer.PublicKey()) ||
		logins[1].Method != "keyboard-interactive" {
		t.Fatalf("logins %+v", logins)
	}
	for _, e := range rec.All() {
		if e.Username != "" || e.Password != "" || strings.Contains(e.Detail, "s3cret") {
			t.Errorf("credentials kept with collection off: %+v", e)
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

// TestMaxUnauth: beyond MaxUnauth connections in their handshake, a new
// one is closed at once; when one ends, the next is served again.
func TestMaxUnauth(t *testing.T) {
	cfg := testConfig()
	addr, done := listen(t, cfg, eventtest.New())
	var held []net.Conn
	for range MaxUnauth {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Read(make([]byte, len(Version))); err != nil {
			t.Fatalf("banner: %v", err)
		}
		held = append(held, c)
	}
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if n, err := c.Read(make([]byte, 64)); n != 0 || err == nil {
		t.Errorf("connection %d got %d bytes, %v", MaxUnauth+1, n, err)
	}
	if err := <-done; !errors.Is(err, session.ErrLimit) {
		t.Errorf("Serve: %v", err)
	}
	held[0].Close()
	<-done
	c2, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	c2.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c2.Read(make([]byte, len(Version))); err != nil {
		t.Errorf("no banner after a slot was freed: %v", err)
	}
}

package smtp

import (
	"bufio"
	"encoding/base64"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/minipot/minipot/agent/agenttest"
	"github.com/minipot/minipot/agent/linefake"
	"github.com/minipot/minipot/agent/session"
	"github.com/minipot/minipot/internal/event"
	"github.com/minipot/minipot/internal/event/eventtest"
)

func testConfig() *session.Config { return agenttest.Config("mail.example.net") }

// serve runs the fake on one end of a loopback TCP connection and returns
// the other end, the recorder and Serve's result.
func serve(t *testing.T, cfg *session.Config) (net.Conn, *bufio.Reader, *eventtest.Recorder, chan error) {
	t.Helper()
	return agenttest.Serve(t, &Handler{}, "25tcp", cfg)
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

// TestConversation: Postfix's answers, line by line; no message is ever
// accepted and no AUTH succeeds.
func TestConversation(t *testing.T) {
	c, r, rec, done := serve(t, testConfig())
	expect := func(want string) {
		t.Helper()
		agenttest.Expect(t, r, want)
	}
	expect("220 mail.example.net ESMTP Postfix (Debian/GNU)\r\n")
	for _, step := range []struct{ send, want string }{
		{"MAIL FROM:<a@b>", heloFirst},
		{"AUTH PLAIN", heloFirst},
		{"EHLO", ehloSyntax},
		{"EHLO bot.example", "250-mail.example.net\r\n" + extensions},
		{"VRFY root", vrfyOff},
		{"NOOP", ok},
		{"RCPT TO:<x@y>", needMail},
		{"DATA", needRcpt},
		{"MAIL FROM:<spam@example.org> SIZE=100", mailOK},
		{"MAIL FROM:<again@example.org>", nestedMail},
		{"RCPT TO:<victim@example.com>", "554 5.7.1 <victim@example.com>: Relay access denied\r\n"},
		{"DATA", noValidRcpt},
		{"RSET", ok},
		{"AUTH PLAIN " + b64("\x00admin\x00secret1"), authFailed},
		{"AUTH PLAIN", askPlain},
		{b64("root\x00\x00secret2"), authFailed},
		{"AUTH LOGIN", askUser},
		{b64("postmaster"), askPass},
		{b64("secret3"), authFailed},
		{"AUTH LOGIN " + b64("info"), askPass},
		{"*", authAborted},
		{"AUTH CRAM-MD5", errInvalid.Error() + "\r\n"},
		{"AUTH PLAIN !!!", errDecode.Error() + "\r\n"},
		{"STARTTLS", unknown},
		{"HELO x", "250 mail.example.net\r\n"},
		{"QUIT", bye},
	} {
		io.WriteString(c, step.send+"\r\n")
		expect(step.want)
	}
	if err := <-done; err != nil {
		t.Errorf("Serve after QUIT: %v", err)
	}
	var got []string
	for _, e := range rec.Of(event.Login) {
		got = append(got, e.Method+" "+e.Username+"/"+e.Password+" "+e.Host)
	}
	want := []string{"AUTH PLAIN admin/secret1 bot.example", "AUTH PLAIN root/secret2 bot.example", "AUTH LOGIN postmaster/secret3 bot.example"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("logins\n got %q\nwant %q", got, want)
	}
	if req := rec.Of(event.Request); len(req) != 1 || req[0].URL != "victim@example.com" || req[0].Method != "RCPT" ||
		req[0].Detail != "MAIL FROM:<spam@example.org>" {
		t.Errorf("requests %+v", req)
	}
}

// TestCredentialsOff: with collection off the user name and password of an
// AUTH are nowhere in the events.
func TestCredentialsOff(t *testing.T) {
	cfg := testConfig()
	cfg.Credentials = false
	c, r, rec, done := serve(t, cfg)
	io.WriteString(c, "EHLO x\r\nAUTH PLAIN "+b64("\x00admin\x00hunter2")+"\r\nQUIT\r\n")
	out, _ := io.ReadAll(r)
	if err := <-done; err != nil {
		t.Errorf("Serve: %v\n%s", err, out)
	}
	for _, e := range rec.All() {
		if strings.Contains(e.Username+e.Password+e.Detail+e.URL+e.Body, "hunter2") {
			t.Errorf("password stored: %+v", e)
		}
	}
	if l := rec.Of(event.Login); len(l) != 1 || l[0].Method != "AUTH PLAIN" {
		t.Errorf("logins %+v; all events %+v\n%s", l, rec.All(), out)
	}
}

// TestHostile: over-long lines, idle clients, garbage, web clients and
// error floods end the conversation with Postfix's answers.
func TestHostile(t *testing.T) {
	t.Run("long line", func(t *testing.T) {
		c, r, _, done := serve(t, testConfig())
		r.ReadString('\n')
		go io.WriteString(c, "EHLO "+strings.Repeat("a", 1<<20)+"\r\n")
		if got, _ := r.ReadString('\n'); got != lineTooLong {
			t.Errorf("got %q", got)
		}
		if err := <-done; !errors.Is(err, session.ErrLimit) {
			t.Errorf("Serve: %v", err)
		}
	})
	t.Run("idle", func(t *testing.T) {
		cfg := testConfig()
		cfg.Limits.Idle = 200 * time.Millisecond
		_, r, _, done := serve(t, cfg)
		r.ReadString('\n')
		if got, _ := r.ReadString('\n'); got != "421 4.4.2 mail.example.net Error: timeout exceeded\r\n" {
			t.Errorf("got %q", got)
		}
		if err := <-done; session.Reason(err) != event.ReasonTimeout {
			t.Errorf("Serve: %v", err)
		}
	})
	t.Run("errors", func(t *testing.T) {
		c, r, rec, done := serve(t, testConfig())
		r.ReadString('\n')
		// Exactly the limit: more unread input would make the server's
		// close a reset, which may overtake its last answers.
		go io.WriteString(c, strings.Repeat("\x16\x03\x01\x00garbage\r\n", hardErrors))
		n := 0
		var last string
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				break
			}
			n, last = n+1, line
		}
		if n != hardErrors+1 || last != "421 4.7.0 mail.example.net Error: too many errors\r\n" {
			t.Errorf("%d answers, the last %q", n, last)
		}
		if err := <-done; !errors.Is(err, session.ErrLimit) {
			t.Errorf("Serve: %v", err)
		}
		if inv := rec.Of(event.Invalid); len(inv) != linefake.MaxInvalid {
			t.Errorf("%d invalid events, want the cap %d", len(inv), linefake.MaxInvalid)
		}
	})
	t.Run("http", func(t *testing.T) {
		c, r, _, done := serve(t, testConfig())
		r.ReadString('\n')
		io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		if got, _ := r.ReadString('\n'); got != forbidden {
			t.Errorf("got %q", got)
		}
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
}

func TestDecodePlain(t *testing.T) {
	for _, c := range []struct {
		in, user, pass string
		err            bool
	}{
		{b64("\x00admin\x00pw"), "admin", "pw", false},
		{b64("authz\x00admin\x00pw"), "admin", "pw", false},
		{b64("authz\x00\x00pw"), "authz", "pw", false},
		{strings.TrimRight(b64("\x00a\x00bc"), "="), "a", "bc", false},
		{b64("\x00admin\x00pw\x00extra"), "admin", "pw\x00extra", false},
		{b64("admin pw"), "", "", true},
		{"=", "", "", true},
		{"!!", "", "", true},
	} {
		u, p, err := DecodePlain([]byte(c.in))
		if u != c.user || p != c.pass || (err != nil) != c.err {
			t.Errorf("DecodePlain(%q) = %q, %q, %v", c.in, u, p, err)
		}
	}
}

func TestAddress(t *testing.T) {
	for _, c := range []struct {
		arg, kw, addr string
		ok            bool
	}{
		{"FROM:<a@b>", "FROM:", "a@b", true},
		{"from: <a@b> SIZE=1", "FROM:", "a@b", true},
		{"FROM:<>", "FROM:", "", true},
		{"FROM:a@b BODY=8BITMIME", "FROM:", "a@b", true},
		{"FROM:<a@b", "FROM:", "", false},
		{"TO:<x>", "FROM:", "", false},
		{"", "TO:", "", false},
	} {
		addr, ok := Address(c.arg, c.kw)
		if addr != c.addr || ok != c.ok {
			t.Errorf("Address(%q, %q) = %q, %v", c.arg, c.kw, addr, ok)
		}
	}
}

// FuzzParse: no command line makes the parser panic; a verb is short,
// printable and upper case.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"EHLO x", "MAIL FROM:<a@b>", "RCPT TO:<c@d> NOTIFY=NEVER", "AUTH PLAIN AGEAYg==", "\x16\x03\x01", ""} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		c := Parse(line)
		if len(c.Verb) > 16 || strings.ContainsAny(c.Verb, "abcdefghijklmnopqrstuvwxyz \t\r\n") {
			t.Fatalf("verb %q", c.Verb)
		}
		Address(c.Arg, "FROM:")
		Address(c.Arg, "TO:")
	})
}

// FuzzAuth: no AUTH response makes the decoders panic, and what they
// return is bounded.
func FuzzAuth(f *testing.F) {
	for _, s := range []string{b64("\x00admin\x00pw"), b64("admin"), "=", "*", "!!", "YWRt aW4=", ""} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, resp []byte) {
		u, p, err := DecodePlain(resp)
		if err != nil && (u != "" || p != "") {
			t.Fatalf("error %v with %q/%q", err, u, p)
		}
		if len(u) > maxAuthField || len(p) > maxAuthField {
			t.Fatalf("unbounded: %d, %d bytes", len(u), len(p))
		}
		l, _ := DecodeLogin(resp)
		if len(l) > maxAuthField {
			t.Fatalf("unbounded: %d bytes", len(l))
		}
	})
}

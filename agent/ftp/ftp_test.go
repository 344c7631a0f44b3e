package ftp

import (
	"bufio"
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

func testConfig() *session.Config { return agenttest.Config("OpenWrt") }

// serve runs the fake on one end of a loopback TCP connection and returns
// the other end, the recorder and Serve's result.
func serve(t *testing.T, cfg *session.Config) (net.Conn, *bufio.Reader, *eventtest.Recorder, chan error) {
	t.Helper()
	return agenttest.Serve(t, &Handler{}, "21tcp", cfg)
}

// TestConversation: vsftpd 3.0.3's answers before a login, line by line.
func TestConversation(t *testing.T) {
	c, r, rec, done := serve(t, testConfig())
	expect := func(want string) {
		t.Helper()
		agenttest.Expect(t, r, want)
	}
	expect("220 (vsFTPd 3.0.3)\r\n")
	for _, step := range []struct{ send, want string }{
		{"FEAT", features},
		{"SYST", "215 UNIX Type: L8\r\n"},
		{"opts utf8 on", "200 Always in UTF8 mode.\r\n"},
		{"OPTS MLST type", "501 Option not understood.\r\n"},
		{"PASS early", "503 Login with USER first.\r\n"},
		{"PASV", "530 Please login with USER and PASS.\r\n"},
		{"EPSV", "530 Please login with USER and PASS.\r\n"},
		{"PORT 127,0,0,1,4,1", "530 Please login with USER and PASS.\r\n"},
		{"LIST", "530 Please login with USER and PASS.\r\n"},
		{"AUTH TLS", "530 Please login with USER and PASS.\r\n"},
		{"USER admin", "331 Please specify the password.\r\n"},
		{"PASS 1234", "530 Login incorrect.\r\n"},
		{"user root", "331 Please specify the password.\r\n"},
		{"pass toor", "530 Login incorrect.\r\n"},
		{"QUIT", "221 Goodbye.\r\n"},
	} {
		io.WriteString(c, step.send+"\r\n")
		expect(step.want)
	}
	if err := <-done; err != nil {
		t.Errorf("Serve after QUIT: %v", err)
	}
	logins := rec.Of(event.Login)
	if len(logins) != 2 || logins[0].Username != "admin" || logins[0].Password != "1234" || logins[1].Username != "root" || logins[1].Password != "toor" {
		t.Errorf("logins %+v", logins)
	}
	if inv := rec.Of(event.Invalid); len(inv) != 1 || !strings.Contains(inv[0].Detail, "PASS before USER") {
		t.Errorf("invalid %+v", inv)
	}
}

// TestAttempts: after the configured number of failed logins the server
// answers the last one and closes, as vsftpd's max_login_fails does.
func TestAttempts(t *testing.T) {
	c, r, rec, done := serve(t, testConfig())
	r.ReadString('\n')
	for i := range 3 {
		io.WriteString(c, "USER a\r\nPASS b\r\n")
		r.ReadString('\n')
		if got, _ := r.ReadString('\n'); got != badLogin {
			t.Fatalf("attempt %d: %q", i, got)
		}
	}
	if _, err := r.ReadString('\n'); err != io.EOF {
		t.Errorf("not closed after 3 attempts: %v", err)
	}
	if err := <-done; err != nil {
		t.Errorf("Serve: %v", err)
	}
	if n := len(rec.Of(event.Login)); n != 3 {
		t.Errorf("%d logins", n)
	}
}

// TestHostile: an over-long line gets 500 and the end, an idle client 421,
// garbage never more than a few invalid events.
func TestHostile(t *testing.T) {
	t.Run("long line", func(t *testing.T) {
		c, r, rec, done := serve(t, testConfig())
		r.ReadString('\n')
		go io.WriteString(c, "USER "+strings.Repeat("A", 1<<20)+"\r\n")
		if got, _ := r.ReadString('\n'); got != tooLong {
			t.Errorf("got %q", got)
		}
		if err := <-done; !errors.Is(err, session.ErrLimit) {
			t.Errorf("Serve: %v", err)
		}
		if inv := rec.Of(event.Invalid); len(inv) != 1 {
			t.Errorf("invalid %+v", inv)
		}
	})
	t.Run("idle", func(t *testing.T) {
		cfg := testConfig()
		cfg.Limits.Idle = 200 * time.Millisecond
		_, r, _, done := serve(t, cfg)
		r.ReadString('\n')
		if got, _ := r.ReadString('\n'); got != timeout {
			t.Errorf("got %q", got)
		}
		if err := <-done; session.Reason(err) != event.ReasonTimeout {
			t.Errorf("Serve: %v", err)
		}
	})
	t.Run("garbage", func(t *testing.T) {
		c, r, rec, done := serve(t, testConfig())
		r.ReadString('\n')
		go func() {
			for range 100 {
				c.Write([]byte("\x00\xff\x16\x03\x01 binary\r\n"))
			}
			c.(*net.TCPConn).CloseWrite()
		}()
		n := 0
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				break
			}
			if line != loginFirst {
				t.Fatalf("answer %q", line)
			}
			n++
		}
		if n != 100 {
			t.Errorf("%d answers to 100 lines", n)
		}
		if err := <-done; err != io.EOF {
			t.Errorf("Serve: %v", err)
		}
		if inv := rec.Of(event.Invalid); len(inv) != linefake.MaxInvalid {
			t.Errorf("%d invalid events, want the cap %d", len(inv), linefake.MaxInvalid)
		}
	})
}

func TestParse(t *testing.T) {
	for _, c := range []struct {
		line string
		want Command
	}{
		{"USER admin", Command{"USER", "admin"}},
		{"user  two spaces", Command{"USER", " two spaces"}},
		{"PASS", Command{"PASS", ""}},
		{"pass a\x00b", Command{"PASS", "a\nb"}},
		{"", Command{"", ""}},
		{strings.Repeat("X", 40) + " y", Command{strings.Repeat("X", 32), "y"}},
	} {
		if got := Parse([]byte(c.line)); got != c.want {
			t.Errorf("Parse(%q) = %+v, want %+v", c.line, got, c.want)
		}
	}
}

// FuzzParse: no command line makes the parser panic, and the verb is short
// and upper case.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"USER admin", "PASS x", "OPTS UTF8 ON", "\x00\xff", "", " ", "PORT 1,2,3,4,5,6"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		c := Parse(line)
		if len(c.Verb) > 32 || strings.ContainsAny(c.Verb, "abcdefghijklmnopqrstuvwxyz ") {
			t.Fatalf("verb %q", c.Verb)
		}
	})
}

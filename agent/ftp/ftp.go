// Package ftp is the fake vsftpd 3.0.3 behind service 21tcp: it greets,
// answers USER and PASS as an unauthenticated vsftpd does, with "530 Login
// incorrect." after the login delay, and every other command before a login
// with "530 Please login with USER and PASS.". It never logs anyone in and
// never opens a data connection. Each PASS is recorded as a login, input
// that breaks the protocol as invalid.
package ftp

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/minipot/minipot/agent/linefake"
	"github.com/minipot/minipot/agent/lineio"
	"github.com/minipot/minipot/agent/session"
	"github.com/minipot/minipot/internal/event"
)

// What vsftpd 3.0.3 sends, byte for byte (prelogin.c, ftpcmdio.c).
const (
	greeting    = "220 (vsFTPd 3.0.3)\r\n"
	askPass     = "331 Please specify the password.\r\n"
	badLogin    = "530 Login incorrect.\r\n"
	loginFirst  = "530 Please login with USER and PASS.\r\n"
	userFirst   = "503 Login with USER first.\r\n"
	goodbye     = "221 Goodbye.\r\n"
	syst        = "215 UNIX Type: L8\r\n"
	utf8On      = "200 Always in UTF8 mode.\r\n"
	badOption   = "501 Option not understood.\r\n"
	tooLong     = "500 Input line too long.\r\n"
	timeout     = "421 Timeout.\r\n"
	noop        = "200 NOOP ok.\r\n"
	features    = "211-Features:\r\n EPRT\r\n EPSV\r\n MDTM\r\n PASV\r\n REST STREAM\r\n SIZE\r\n TVFS\r\n UTF8\r\n211 End\r\n"
	lineMax     = 4096 // VSFTP_MAX_COMMAND_LINE
	defAttempts = 3    // vsftpd's max_login_fails
)

// Handler is the fake vsftpd. It holds no state.
type Handler struct{}

var _ session.Greeter = (*Handler)(nil)

// Greet sends vsftpd's greeting.
func (*Handler) Greet(s *session.Session) error {
	if _, err := io.WriteString(s, greeting); err != nil {
		return fmt.Errorf("ftp: greet: %w", err)
	}
	return nil
}

// Command is one parsed command line: the verb in upper case and its
// argument as sent (vsftpd splits at the first space).
type Command struct {
	Verb string
	Arg  string
}

// Parse splits a command line as vsftpd does: the verb is everything up to
// the first space, compared without regard to case; the argument is the
// rest. NUL bytes in a line stand for LF (RFC 2640), as vsftpd reads them.
func Parse(line []byte) Command {
	line = bytes.ReplaceAll(line, []byte{0}, []byte{'\n'})
	verb, arg, _ := bytes.Cut(line, []byte{' '})
	if len(verb) > 32 { // no verb is longer; keep the event short
		verb = verb[:32]
	}
	return Command{Verb: upper(verb), Arg: string(arg)}
}

// upper is verb in ASCII upper case; other bytes stay as they are.
func upper(verb []byte) string {
	b := []byte(string(verb))
	for i, c := range b {
		if c >= 'a' && c <= 'z' {
			b[i] = c - 'a' + 'A'
		}
	}
	return string(b)
}

// endings are vsftpd's last words when reading stops.
var endings = linefake.Endings{Proto: "ftp", TooLong: tooLong,
	Timeout: func(*session.Session) string { return timeout }}

// ReadsFirst: after the greeting, vsftpd waits for a command
// (session.Patient).
func (*Handler) ReadsFirst(*session.Session) {}

// Serve holds one FTP control conversation until the client quits, idles
// out, sends an over-long line, or has failed the configured number of
// logins. It sits under every blocked Read of an idle connection, as
// linefake.Run does: its frame is kept small.
func (h *Handler) Serve(ctx context.Context, s *session.Session) error {
	c := newConn(s)
	return linefake.Run(ctx, s, h, c.lr, c, &c.inv, &endings)
}

// conn is the state of one conversation.
type conn struct {
	s        *session.Session
	lr       *lineio.Reader
	attempts int
	user     string
	haveUser bool
	inv      linefake.Invalid
	fails    int
}

func newConn(s *session.Session) *conn {
	lim := s.Config().Limits
	c := &conn{s: s, attempts: lim.Attempts, lr: lineio.New(s, min(max(lim.LineMax, 64), lineMax))}
	if c.attempts <= 0 {
		c.attempts = defAttempts
	}
	return c
}

func (c *conn) invalid(detail string) { c.inv.Record(c.s, detail) }

// Answer answers one command line; stop says the conversation is over,
// with err saying why (nil: the server closed it normally).
//
//go:noinline
func (c *conn) Answer(ctx context.Context, line []byte) (stop bool, err error) {
	cmd := Parse(line)
	var reply string
	switch cmd.Verb {
	case "USER":
		c.user, c.haveUser = cmd.Arg, true
		reply = askPass
	case "PASS":
		if !c.haveUser {
			c.invalid("PASS before USER")
			reply = userFirst
			break
		}
		c.s.Emit(event.Event{Action: event.Login, Method: "USER/PASS", Username: c.user, Password: cmd.Arg})
		if !c.s.Sleep(ctx, c.s.Config().Limits.LoginDelay) {
			return true, fmt.Errorf("ftp: login delay: %w", errCut(ctx))
		}
		c.haveUser = false
		c.s.ExpectLogin() // the next attempt's time starts
		if c.fails++; c.fails >= c.attempts {
			io.WriteString(c.s, badLogin)
			return true, nil // vsftpd ends the session after max_login_fails
		}
		reply = badLogin
	case "QUIT":
		io.WriteString(c.s, goodbye)
		return true, nil
	case "FEAT":
		reply = features
	case "SYST":
		reply = syst
	case "NOOP":
		reply = noop
	case "OPTS":
		if strings.EqualFold(cmd.Arg, "UTF8 ON") {
			reply = utf8On
		} else {
			reply = badOption
		}
	case "":
		c.invalid("empty command")
		reply = loginFirst
	default:
		if !printable(cmd.Verb) {
			// Not the text: a client out of step may have sent its
			// password as a line of its own, and Detail is not subject to
			// the credential policy.
			c.invalid(fmt.Sprintf("not an FTP command (%d bytes)", len(cmd.Verb)))
		}
		// PASV, PORT, EPSV, AUTH TLS and the rest, as unauthenticated
		// vsftpd answers them: nothing is ever opened.
		reply = loginFirst
	}
	if _, err := io.WriteString(c.s, reply); err != nil {
		return true, fmt.Errorf("ftp: write: %w", err)
	}
	return false, nil
}

// errCut says why a login delay was cut short: the connection was stopped,
// or the session reached its end of life.
func errCut(ctx context.Context) error {
	if ctx.Err() != nil {
		return context.Cause(ctx)
	}
	return session.ErrLimit
}

// printable reports whether a verb is letters only, as every FTP verb is.
func printable(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < 'A' || c > 'Z' {
			return false
		}
	}
	return v != ""
}

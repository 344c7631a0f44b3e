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
	"errors"
	"fmt"
	"io"

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
	maxInvalid  = 8    // invalid events recorded per connection
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

// Serve holds one FTP control conversation until the client quits, idles
// out, sends an over-long line, or has failed the configured number of
// logins.
func (h *Handler) Serve(ctx context.Context, s *session.Session) error {
	if !s.Greeted() {
		if err := h.Greet(s); err != nil {
			return err
		}
	}
	lim := s.Config().Limits
	attempts := lim.Attempts
	if attempts <= 0 {
		attempts = defAttempts
	}
	lr := lineio.New(s, min(max(lim.LineMax, 64), lineMax))
	var (
		user     string
		haveUser bool
		invalids int
		fails    int
	)
	invalid := func(detail string) {
		if invalids++; invalids <= maxInvalid {
			s.Emit(event.Event{Action: event.Invalid, Detail: detail})
		}
	}
	for {
		line, err := lr.Line()
		if errors.Is(err, lineio.ErrTooLong) {
			invalid("command line too long")
			io.WriteString(s, tooLong)
			return fmt.Errorf("ftp: %w: %w", err, session.ErrLimit)
		}
		if err != nil {
			if isTimeout(err) {
				io.WriteString(s, timeout)
			}
			if ctx.Err() != nil {
				return fmt.Errorf("ftp: %w", context.Cause(ctx))
			}
			if errors.Is(err, io.EOF) {
				return io.EOF
			}
			return fmt.Errorf("ftp: read: %w", err)
		}
		cmd := Parse(line)
		var reply string
		switch cmd.Verb {
		case "USER":
			user, haveUser = cmd.Arg, true
			reply = askPass
		case "PASS":
			if !haveUser {
				invalid("PASS before USER")
				reply = userFirst
				break
			}
			s.Emit(event.Event{Action: event.Login, Method: "USER/PASS", Username: user, Password: cmd.Arg})
			if !s.Sleep(ctx, lim.LoginDelay) {
				return fmt.Errorf("ftp: login delay: %w", errCut(ctx))
			}
			haveUser = false
			if fails++; fails >= attempts {
				io.WriteString(s, badLogin)
				return nil // vsftpd ends the session after max_login_fails
			}
			reply = badLogin
		case "QUIT":
			io.WriteString(s, goodbye)
			return nil
		case "FEAT":
			reply = features
		case "SYST":
			reply = syst
		case "NOOP":
			reply = noop
		case "OPTS":
			if bytes.EqualFold([]byte(cmd.Arg), []byte("UTF8 ON")) {
				reply = utf8On
			} else {
				reply = badOption
			}
		case "":
			invalid("empty command")
			reply = loginFirst
		default:
			if !printable(cmd.Verb) {
				invalid(fmt.Sprintf("not an FTP command: %q", cmd.Verb))
			}
			// PASV, PORT, EPSV, AUTH TLS and the rest, as unauthenticated
			// vsftpd answers them: nothing is ever opened.
			reply = loginFirst
		}
		if _, err := io.WriteString(s, reply); err != nil {
			return fmt.Errorf("ftp: write: %w", err)
		}
	}
}

// errCut says why a login delay was cut short: the connection was stopped,
// or the session reached its end of life.
func errCut(ctx context.Context) error {
	if ctx.Err() != nil {
		return context.Cause(ctx)
	}
	return session.ErrLimit
}

func isTimeout(err error) bool {
	return session.Reason(err) == event.ReasonTimeout
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

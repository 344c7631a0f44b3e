// Package smtp is the fake Postfix behind services 25tcp and 587tcp: it
// greets with the configured host name, offers the extensions a Debian
// Postfix with SASL offers (AUTH PLAIN LOGIN, no STARTTLS, VRFY disabled),
// refuses every recipient as a relay it will not be, so it never accepts a
// message, and answers every AUTH with "535 5.7.8 Error: authentication
// failed:" after the login delay. Each AUTH is recorded as a login (user
// name, mechanism, and the password under the credential policy), each
// recipient asked for as a request, input that breaks the protocol as
// invalid.
package smtp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/minipot/minipot/agent/linefake"
	"github.com/minipot/minipot/agent/lineio"
	"github.com/minipot/minipot/agent/session"
	"github.com/minipot/minipot/internal/event"
)

// Postfix's answers (smtpd.c), with its default limits.
const (
	ok          = "250 2.0.0 Ok\r\n"
	mailOK      = "250 2.1.0 Ok\r\n"
	bye         = "221 2.0.0 Bye\r\n"
	heloFirst   = "503 5.5.1 Error: send HELO/EHLO first\r\n"
	nestedMail  = "503 5.5.1 Error: nested MAIL command\r\n"
	needMail    = "503 5.5.1 Error: need MAIL command\r\n"
	needRcpt    = "503 5.5.1 Error: need RCPT command\r\n"
	noValidRcpt = "554 5.5.1 Error: no valid recipients\r\n"
	mailSyntax  = "501 5.5.4 Syntax: MAIL FROM:<address>\r\n"
	rcptSyntax  = "501 5.5.4 Syntax: RCPT TO:<address>\r\n"
	ehloSyntax  = "501 Syntax: EHLO hostname\r\n"
	heloSyntax  = "501 Syntax: HELO hostname\r\n"
	vrfyOff     = "502 5.5.1 VRFY command is disabled\r\n"
	unknown     = "502 5.5.2 Error: command not recognized\r\n"
	badSyntax   = "500 5.5.2 Error: bad syntax\r\n"
	lineTooLong = "500 5.5.0 Error: line too long\r\n"
	authFailed  = "535 5.7.8 Error: authentication failed: authentication failure\r\n"
	authAborted = "501 5.7.0 Authentication aborted\r\n"
	authSyntax  = "501 5.5.4 Syntax: AUTH mechanism\r\n"
	authNested  = "503 5.5.1 Error: MAIL transaction in progress\r\n"
	askUser     = "334 VXNlcm5hbWU6\r\n" // "Username:"
	askPass     = "334 UGFzc3dvcmQ6\r\n" // "Password:"
	askPlain    = "334 \r\n"
	forbidden   = "221 2.7.0 Error: I can break rules, too. Goodbye.\r\n"

	// extensions is the EHLO list after the host name line: Postfix 3.7
	// on Debian with SASL, disable_vrfy_command = yes, no TLS.
	extensions = "250-PIPELINING\r\n250-SIZE 10240000\r\n250-ETRN\r\n250-AUTH PLAIN LOGIN\r\n" +
		"250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n250-DSN\r\n250-SMTPUTF8\r\n250 CHUNKING\r\n"

	lineMax    = 2048 // Postfix's line_length_limit
	hardErrors = 20   // smtpd_hard_error_limit
	hostMax    = 253
)

// Handler is the fake Postfix. It holds no state.
type Handler struct{}

var _ session.Greeter = (*Handler)(nil)

// Greet sends Postfix's greeting with the configured host name.
func (*Handler) Greet(s *session.Session) error {
	if _, err := io.WriteString(s, "220 "+hostname(s)+" ESMTP Postfix (Debian/GNU)\r\n"); err != nil {
		return fmt.Errorf("smtp: greet: %w", err)
	}
	return nil
}

// hostname is Postfix's myhostname: the configured name, cut to what a
// host name may hold.
func hostname(s *session.Session) string {
	h := s.Config().Hostname
	if len(h) > hostMax {
		h = h[:hostMax]
	}
	if h == "" {
		h = "localhost"
	}
	return h
}

// Command is one parsed command line: the verb in upper case and the rest.
type Command struct {
	Verb string
	Arg  string
}

// Parse splits a command line at the first space; the verb is compared
// without regard to case. A line that is not printable ASCII has no verb.
func Parse(line []byte) Command {
	line = bytes.TrimRight(line, " \t")
	verb, arg, _ := bytes.Cut(line, []byte{' '})
	for _, c := range verb {
		if c <= ' ' || c >= 0x7f {
			return Command{Arg: string(line)}
		}
	}
	if len(verb) > 16 {
		return Command{Arg: string(line)}
	}
	return Command{Verb: string(bytes.ToUpper(verb)), Arg: string(bytes.TrimLeft(arg, " "))}
}

// Address reads the address of "FROM:<a@b>" or "TO:<a@b> SIZE=..." after
// the given keyword; ok is false when the syntax is wrong.
func Address(arg, keyword string) (addr string, ok bool) {
	if len(arg) < len(keyword) || !strings.EqualFold(arg[:len(keyword)], keyword) {
		return "", false
	}
	rest := strings.TrimLeft(arg[len(keyword):], " ")
	if strings.HasPrefix(rest, "<") {
		end := strings.IndexByte(rest, '>')
		if end < 0 {
			return "", false
		}
		return rest[1:end], true
	}
	addr, _, _ = strings.Cut(rest, " ")
	return addr, addr != ""
}

// conn is the state of one conversation.
type conn struct {
	s       *session.Session
	lr      *lineio.Reader
	helo    string
	greeted bool // HELO or EHLO seen
	mail    bool // in a MAIL transaction
	from    string
	errs    int
	inv     linefake.Invalid
}

// endings are Postfix's last words when reading stops.
var endings = linefake.Endings{Proto: "smtp", TooLong: lineTooLong,
	Timeout: func(s *session.Session) string { return "421 4.4.2 " + hostname(s) + " Error: timeout exceeded\r\n" }}

// ReadsFirst: after the greeting, Postfix waits for a command
// (session.Patient).
func (*Handler) ReadsFirst(*session.Session) {}

// Serve holds one SMTP conversation until the client quits, idles out,
// sends an over-long line or too many wrong commands. It sits under every
// blocked Read of an idle connection, as linefake.Run does: its frame is
// kept small (agent.TestIdleConnectionStack).
func (h *Handler) Serve(ctx context.Context, s *session.Session) error {
	lim := s.Config().Limits
	c := &conn{s: s, lr: lineio.New(s, min(max(lim.LineMax, 64), lineMax))}
	return linefake.Run(ctx, s, h, c.lr, c, &c.inv, &endings)
}

// Answer answers one command line; stop says the conversation is over,
// with err saying why (nil: the server closed it normally).
//
//go:noinline
func (c *conn) Answer(ctx context.Context, line []byte) (stop bool, err error) {
	reply, stop, err := c.command(ctx, Parse(line))
	if err != nil {
		return true, err
	}
	if _, err := io.WriteString(c.s, reply); err != nil {
		return true, fmt.Errorf("smtp: write: %w", err)
	}
	if stop {
		return true, nil
	}
	if c.errs >= hardErrors {
		io.WriteString(c.s, "421 4.7.0 "+hostname(c.s)+" Error: too many errors\r\n")
		return true, fmt.Errorf("smtp: %d errors: %w", c.errs, session.ErrLimit)
	}
	return false, nil
}

func (c *conn) invalid(detail string) { c.inv.Record(c.s, detail) }

// fail counts an error reply, as Postfix's error limit does.
func (c *conn) fail(reply string) string {
	c.errs++
	return reply
}

// command answers one command. stop says the server closes after reply.
func (c *conn) command(ctx context.Context, cmd Command) (reply string, stop bool, err error) {
	switch cmd.Verb {
	case "EHLO", "HELO":
		if cmd.Arg == "" {
			if cmd.Verb == "EHLO" {
				return c.fail(ehloSyntax), false, nil
			}
			return c.fail(heloSyntax), false, nil
		}
		c.helo, c.greeted, c.mail = cmd.Arg, true, false
		if cmd.Verb == "HELO" {
			return "250 " + hostname(c.s) + "\r\n", false, nil
		}
		return "250-" + hostname(c.s) + "\r\n" + extensions, false, nil
	case "MAIL":
		switch addr, ok := Address(cmd.Arg, "FROM:"); {
		case !c.greeted:
			return c.fail(heloFirst), false, nil
		case c.mail:
			return c.fail(nestedMail), false, nil
		case !ok:
			return c.fail(mailSyntax), false, nil
		default:
			c.mail, c.from = true, addr
			return mailOK, false, nil
		}
	case "RCPT":
		addr, ok := Address(cmd.Arg, "TO:")
		switch {
		case !c.mail:
			return c.fail(needMail), false, nil
		case !ok:
			return c.fail(rcptSyntax), false, nil
		}
		c.s.Emit(event.Event{Action: event.Request, Method: "RCPT", URL: addr, Host: c.helo, Detail: "MAIL FROM:<" + c.from + ">"})
		return c.fail("554 5.7.1 <" + addr + ">: Relay access denied\r\n"), false, nil
	case "DATA", "BDAT":
		if !c.mail {
			return c.fail(needRcpt), false, nil
		}
		return c.fail(noValidRcpt), false, nil
	case "RSET":
		c.mail, c.from = false, ""
		return ok, false, nil
	case "NOOP":
		return ok, false, nil
	case "VRFY":
		return c.fail(vrfyOff), false, nil
	case "QUIT":
		return bye, true, nil
	case "AUTH":
		return c.auth(ctx, cmd.Arg)
	case "CONNECT", "GET", "POST":
		// smtpd_forbidden_commands: a web client on the mail port
		c.invalid("HTTP request on the SMTP port: " + cmd.Verb)
		return forbidden, true, nil
	case "":
		// Not the text: it may be a credential sent out of step, and
		// Detail is not subject to the credential policy.
		c.invalid(fmt.Sprintf("not an SMTP command (%d bytes)", len(cmd.Arg)))
		return c.fail(badSyntax), false, nil
	}
	return c.fail(unknown), false, nil
}

// auth runs one AUTH exchange and records its credentials as a login.
func (c *conn) auth(ctx context.Context, arg string) (reply string, stop bool, err error) {
	if !c.greeted {
		return c.fail(heloFirst), false, nil
	}
	if c.mail {
		return c.fail(authNested), false, nil
	}
	mech, initial, _ := strings.Cut(arg, " ")
	mech = strings.ToUpper(mech)
	var user, pass string
	switch mech {
	case "":
		return c.fail(authSyntax), false, nil
	case "PLAIN":
		resp := []byte(initial)
		if initial == "" {
			if resp, err = c.ask(askPlain); resp == nil {
				return c.aborted(err)
			}
		}
		if user, pass, err = DecodePlain(resp); err != nil {
			c.invalid("AUTH PLAIN: " + err.Error()[4:])
			return c.fail(err.Error() + "\r\n"), false, nil
		}
	case "LOGIN":
		if initial != "" {
			user, err = DecodeLogin([]byte(initial))
		} else {
			var resp []byte
			if resp, err = c.ask(askUser); resp == nil {
				return c.aborted(err)
			}
			user, err = DecodeLogin(resp)
		}
		if err == nil {
			var resp []byte
			if resp, err = c.ask(askPass); resp == nil {
				return c.aborted(err)
			}
			pass, err = DecodeLogin(resp)
		}
		if err != nil {
			c.invalid("AUTH LOGIN: " + err.Error()[4:])
			return c.fail(err.Error() + "\r\n"), false, nil
		}
	default:
		return c.fail(errInvalid.Error() + "\r\n"), false, nil
	}
	c.s.Emit(event.Event{Action: event.Login, Method: "AUTH " + mech, Host: c.helo, Username: user, Password: pass})
	if !c.s.Sleep(ctx, c.s.Config().Limits.LoginDelay) {
		if ctx.Err() != nil {
			return "", true, fmt.Errorf("smtp: login delay: %w", context.Cause(ctx))
		}
		return "", true, fmt.Errorf("smtp: login delay past the session's end: %w", session.ErrLimit)
	}
	c.s.ExpectLogin() // the next attempt's time starts
	return c.fail(authFailed), false, nil
}

// errAbort is a client's "*": it gives up the exchange.
var errAbort = errors.New("aborted")

// ask sends a 334 challenge and reads the response line; nil with errAbort
// when the client aborted, nil with the read error when it failed.
func (c *conn) ask(challenge string) ([]byte, error) {
	if _, err := io.WriteString(c.s, challenge); err != nil {
		return nil, fmt.Errorf("smtp: write: %w", err)
	}
	line, err := c.lr.Line()
	if err != nil {
		return nil, err
	}
	if len(line) == 1 && line[0] == '*' {
		return nil, errAbort
	}
	return line, nil
}

// aborted ends an AUTH exchange that got no response: the client's "*" is
// answered, a read error ends the conversation.
func (c *conn) aborted(err error) (string, bool, error) {
	if errors.Is(err, errAbort) {
		return c.fail(authAborted), false, nil
	}
	return "", true, endings.ReadError(context.Background(), c.s, err, &c.inv)
}

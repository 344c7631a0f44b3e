// Package telnet is the fake BusyBox telnetd behind services 23tcp and
// 2323tcp: it negotiates and prompts byte for byte as BusyBox telnetd with
// BusyBox login does, answers every login with "Login incorrect" after the
// login delay, closes after the configured number of attempts, and records
// each attempt, each shell command a bot types, and malformed input.
//
// The conversation, as BusyBox 1.35 sends it (hostname OpenWrt):
//
//	IAC DO ECHO, IAC DO NAWS, IAC WILL ECHO, IAC WILL SGA, "\r\r\nOpenWrt login: "
//	echo of the login name and of its line end ("\r\n"), "Password: "
//	no echo of the password, "\r\n"
//	after the login delay: "Login incorrect\r\n", then "OpenWrt login: " again,
//	or, after the last attempt, nothing more: the connection is closed.
package telnet

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"unicode/utf8"

	"github.com/minipot/minipot/agent/session"
	"github.com/minipot/minipot/internal/event"
)

// The service keys this handler serves.
const (
	Service23   = "23tcp"
	Service2323 = "2323tcp"
)

const (
	readSize   = 256 // bytes read at once: what a bot sends in one go
	outSize    = 256 // output buffered before a write; the greeting fits
	hostMax    = 64  // HOST_NAME_MAX: a longer hostname would not be real
	maxEmpty   = 10  // BusyBox login gives up after 10 empty login names
	maxInvalid = 8   // invalid events recorded per connection
	keepLine   = 128 // a line buffer grown past this is released after use

	defaultLineMax  = 512
	defaultAttempts = 3 // what BusyBox login allows
)

// Handler is the fake telnetd. It holds no state; each Serve keeps its own.
type Handler struct{}

var _ session.Greeter = (*Handler)(nil)

// Greet sends what BusyBox telnetd sends first: its options and login's
// first prompt, in one write (print_login_issue's "\r\n" through the tty's
// ONLCR).
func (*Handler) Greet(s *session.Session) error { return greet(s) }

func greet(s *session.Session) error {
	var buf [len(negotiation) + len("\r\r\n") + 2*hostMax + len(" login: ")]byte
	b := append(append(buf[:0], negotiation...), "\r\r\n"...)
	b = append(append(b, hostname(s.Config().Hostname)...), " login: "...)
	if _, err := s.Write(b); err != nil {
		return fmt.Errorf("telnet: write: %w", err)
	}
	return nil
}

// hostname is the name shown in the prompt: cut as Linux would, "(none)"
// when empty, a 0xFF byte sent as IAC IAC.
func hostname(h string) string {
	if len(h) > hostMax {
		h = h[:hostMax]
	}
	if h == "" {
		h = "(none)" // what Linux calls a host without a name
	}
	if strings.IndexByte(h, cmdIAC) >= 0 {
		h = strings.ReplaceAll(h, "\xff", "\xff\xff")
	}
	return h
}

// ReadsFirst: after its greeting, BusyBox telnetd waits for the client's
// answer (session.Patient).
func (*Handler) ReadsFirst(*session.Session) {}

// Serve holds one telnet conversation. It returns io.EOF when the peer
// closed, nil when the server closed after the last attempt, the read or
// write error on a timeout, and an error wrapping session.ErrLimit when the
// input broke a limit.
//
// Serve and run sit under every blocked Read (see agent.serve): their
// frames are kept small, with errors wrapped in functions of their own.
func (*Handler) Serve(ctx context.Context, s *session.Session) error {
	err := newConn(s).run(ctx)
	if err != nil && ctx.Err() != nil {
		return canceled(ctx)
	}
	return err
}

//go:noinline
func canceled(ctx context.Context) error {
	return fmt.Errorf("telnet: %w", context.Cause(ctx))
}

//go:noinline
func readError(err error) error {
	if errors.Is(err, io.EOF) {
		return io.EOF
	}
	return fmt.Errorf("telnet: read: %w", err)
}

// conn is the state of one conversation, allocated once: a few hundred bytes
// of buffers, a parser, and a line buffer allocated only when a line starts.
type conn struct {
	s           *session.Session
	host        string
	lineMax     int
	rawMax      int // input bytes without a line end, protocol bytes included
	maxAttempts int

	attempts int
	empties  int
	invalids int
	raw      int
	pass     bool      // reading the password
	class    lineClass // of the login name of the current attempt
	user     string    // the login name, when class is lineUser
	werr     error     // sticky write error
	line     []byte
	out      []byte // pending output, backed by obuf
	p        parser
	rbuf     [readSize]byte
	obuf     [outSize]byte
}

func newConn(s *session.Session) *conn {
	cfg := s.Config()
	c := &conn{s: s, host: hostname(cfg.Hostname), lineMax: cfg.Limits.LineMax, maxAttempts: cfg.Limits.Attempts}
	if c.lineMax <= 0 {
		c.lineMax = defaultLineMax
	}
	if c.maxAttempts <= 0 {
		c.maxAttempts = defaultAttempts
	}
	c.rawMax = 8*c.lineMax + 2*maxSub
	c.out = c.obuf[:0]
	c.p.reset()
	return c
}

func (c *conn) run(ctx context.Context) error {
	if !c.s.Greeted() {
		if err := greet(c.s); err != nil {
			return err
		}
	}
	for {
		n, rerr := c.s.Read(c.rbuf[:])
		for _, b := range c.rbuf[:n] {
			if stop, err := c.input(ctx, b); stop {
				if ferr := c.flush(); err == nil {
					err = ferr
				}
				return err
			}
		}
		if err := c.flush(); err != nil {
			return err
		}
		if rerr != nil {
			return readError(rerr)
		}
	}
}

// input handles one byte from the peer. stop says the conversation is over,
// with err saying why (nil: the server closed it normally).
func (c *conn) input(ctx context.Context, b byte) (stop bool, err error) {
	if c.raw++; c.raw > c.rawMax {
		c.invalid(true, event.Event{Detail: fmt.Sprintf("more than %d bytes without a line end", c.rawMax)})
		return true, fmt.Errorf("telnet: %d bytes without a line end: %w", c.raw, session.ErrLimit)
	}
	if cap(c.out)-len(c.out) < maxReply {
		c.flush() // a write error is sticky and ends the conversation below
	}
	var k kind
	k, c.out = c.p.feed(b, c.out)
	if c.werr != nil {
		return true, c.werr
	}
	echo := !c.pass && c.p.echoing()
	switch k {
	case kChar:
		if len(c.line) >= c.lineMax {
			c.invalid(true, event.Event{Detail: fmt.Sprintf("line longer than %d bytes", c.lineMax)})
			return true, fmt.Errorf("telnet: line longer than %d bytes: %w", c.lineMax, session.ErrLimit)
		}
		if c.line == nil {
			c.line = make([]byte, 0, min(c.lineMax, 64))
		}
		c.line = append(c.line, b)
		if echo {
			c.echo(b)
		}
	case kEraseChar:
		c.eraseChar(echo)
	case kEraseLine:
		for len(c.line) > 0 {
			c.eraseChar(echo)
		}
	case kInterrupt:
		// The tty echoes ^C and drops the line; login starts over at the
		// prompt, or keeps waiting for the password.
		c.clearLine()
		if !c.pass {
			c.put("^C\r\n")
			c.prompt()
		}
	case kEOF:
		// ^D on an empty line is the end of input: login gives up at the
		// login prompt and takes an empty password at the password prompt.
		if len(c.line) == 0 {
			if c.pass {
				c.raw = 0
				return c.password(ctx)
			}
			return true, io.EOF
		}
	case kBadSub:
		c.invalid(false, event.Event{Detail: fmt.Sprintf("subnegotiation of option %d longer than %d bytes", c.p.sbOpt, maxSub)})
	case kEOL:
		c.raw = 0
		if c.pass {
			return c.password(ctx)
		}
		return c.username(echo)
	}
	return false, nil
}

// username ends the line typed at the login prompt.
func (c *conn) username(echo bool) (bool, error) {
	if echo {
		c.put("\r\n")
	}
	text := trimBlank(c.line)
	c.class = classify(text)
	switch c.class {
	case lineEmpty:
		if c.empties++; c.empties >= maxEmpty {
			return true, nil
		}
		c.clearLine()
		c.prompt()
		return false, nil
	case lineUser:
		c.user = string(text)
	case lineCommand:
		c.s.Emit(event.Event{Action: event.Command, Detail: string(text)})
	case lineBinary:
		// What was typed goes in Username, so that it is dropped like one
		// when credentials are not collected.
		c.invalid(false, event.Event{Username: string(text),
			Detail: fmt.Sprintf("binary data at the login prompt (%d bytes)", len(text))})
	case lineHTTP:
		c.invalid(false, event.Event{Detail: "HTTP request at the login prompt: " + string(text)})
	}
	c.clearLine()
	c.put("Password: ")
	c.pass = true
	return false, nil
}

// password ends the line typed at the password prompt: the attempt is over.
func (c *conn) password(ctx context.Context) (bool, error) {
	c.put("\r\n") // login's own newline after reading the password
	// It goes out before the delay, as login sends it; with no delay it
	// shares one write with the answer.
	if c.s.Config().Limits.LoginDelay > 0 {
		if err := c.flush(); err != nil {
			return true, err
		}
	}
	switch c.class {
	case lineUser:
		// The password is kept as typed, blanks included, as login does.
		c.s.Emit(event.Event{Action: event.Login, Username: c.user, Password: string(c.line)})
	case lineCommand:
		// A bot typing commands types its next one here. Anything else
		// may be a secret and is not recorded; nor is what follows binary
		// data or an HTTP request line.
		if t := trimBlank(c.line); classify(t) == lineCommand {
			c.s.Emit(event.Event{Action: event.Command, Detail: string(t)})
		}
	}
	c.clearLine()
	c.user, c.pass, c.empties = "", false, 0
	c.s.ExpectLogin() // the next attempt's time starts
	if !c.s.Sleep(ctx, c.s.Config().Limits.LoginDelay) {
		if err := ctx.Err(); err != nil {
			return true, err
		}
		return true, fmt.Errorf("telnet: session time ends within the login delay: %w", os.ErrDeadlineExceeded)
	}
	c.put("Login incorrect\r\n")
	if c.attempts++; c.attempts >= c.maxAttempts {
		return true, nil
	}
	c.prompt()
	return false, nil
}

func (c *conn) prompt() {
	c.put(c.host)
	c.put(" login: ")
}

// clearLine empties the line, giving a large buffer back to the heap so an
// idle connection holds only a small one.
func (c *conn) clearLine() {
	if cap(c.line) > keepLine {
		c.line = nil
		return
	}
	c.line = c.line[:0]
}

// echo echoes a character as a Linux tty does (ECHO, ECHOCTL).
func (c *conn) echo(b byte) {
	switch {
	case b < 0x20 && b != '\t':
		c.put2('^', b+0x40)
	case b == cmdIAC: // data 0xFF goes out as IAC IAC
		c.put2(cmdIAC, cmdIAC)
	default:
		if len(c.out) == cap(c.out) {
			c.flush()
		}
		c.out = append(c.out, b)
	}
}

// eraseChar drops the last character of the line (a whole UTF-8 sequence)
// and, echoing, rubs it out on the screen (ECHOE; ECHOCTL shows controls in
// two columns).
func (c *conn) eraseChar(echo bool) {
	if len(c.line) == 0 {
		return
	}
	last := c.line[len(c.line)-1]
	size := 1
	if last >= 0x80 {
		if _, n := utf8.DecodeLastRune(c.line); n > 1 {
			size = n
		}
	}
	c.line = c.line[:len(c.line)-size]
	if !echo {
		return
	}
	c.put("\b \b")
	if last < 0x20 && last != '\t' {
		c.put("\b \b")
	}
}

// invalid records malformed input, at most maxInvalid times per connection
// unless final (the event that explains a closed connection).
func (c *conn) invalid(final bool, e event.Event) {
	if c.invalids >= maxInvalid && !final {
		return
	}
	c.invalids++
	if c.invalids == maxInvalid && !final {
		e.Detail += "; further invalid input not recorded"
	}
	e.Action = event.Invalid
	c.s.Emit(e)
}

// put queues output, writing when the buffer fills.
func (c *conn) put(s string) {
	for len(s) > 0 {
		if len(c.out) == cap(c.out) {
			if c.flush() != nil {
				return
			}
		}
		n := copy(c.out[len(c.out):cap(c.out)], s)
		c.out = c.out[:len(c.out)+n]
		s = s[n:]
	}
}

func (c *conn) put2(a, b byte) {
	if cap(c.out)-len(c.out) < 2 {
		c.flush()
	}
	c.out = append(c.out, a, b)
}

// flush writes the queued output. A write error is kept: the peer is gone or
// does not read, and nothing more is sent.
func (c *conn) flush() error {
	if c.werr == nil && len(c.out) > 0 {
		if _, err := c.s.Write(c.out); err != nil {
			c.werr = fmt.Errorf("telnet: write: %w", err)
		}
	}
	c.out = c.out[:0]
	return c.werr
}

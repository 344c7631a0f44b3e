// Package bot is a telnet client that logs in the way Mirai's scanner does,
// for tests and load generation against the fake telnetd.
//
// Its state machine is the one of Mirai's published scanner: after the
// connection, the first byte must be IAC, or the server is not taken for a
// telnetd and given up. Option requests are answered as Mirai answers them:
// DO NAWS with WILL NAWS and a window of 80x24, any other DO with WONT, any
// WILL with DO (DONT, WONT and subnegotiations get no answer; Mirai bounces
// them back, which no server needs). The login name is sent, followed by
// "\r\n", once a prompt shows (the text ends in ':', '>', '$', '#' or '%', or
// holds "ogin" or "enter"); the password once "assword" or a prompt shows.
// The answer is "ncorrect" somewhere, or a shell prompt.
//
// Every read is bounded: at most one buffer (512 bytes) of the server's text
// is kept, and each read waits at most Timeout and never past the context's
// deadline.
package bot

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"time"
)

// DefaultTimeout is how long the client waits for the server's next bytes:
// what Mirai waits once connected.
const DefaultTimeout = 30 * time.Second

// ErrNotTelnet means the server's first byte was not IAC: Mirai gives up.
var ErrNotTelnet = errors.New("bot: server did not open with telnet negotiation")

// Outcome is how the server answered a login.
type Outcome uint8

const (
	// Rejected: the server said "...ncorrect" (Login incorrect).
	Rejected Outcome = iota + 1
	// Shell: the server showed a shell prompt (ending in '#', '$', '>' or '%').
	Shell
	// Prompt: the server asked again (a prompt ending in ':') without
	// saying the login was incorrect.
	Prompt
)

func (o Outcome) String() string {
	switch o {
	case Rejected:
		return "rejected"
	case Shell:
		return "shell"
	case Prompt:
		return "prompt"
	}
	return fmt.Sprintf("outcome(%d)", uint8(o))
}

// Result is the end of one login.
type Result struct {
	Outcome Outcome
	// Elapsed is the time from sending the password to the answer.
	Elapsed time.Duration
}

// MiraiCommands are the lines Mirai sends after a login, in order, at each
// prompt that follows: they ask for a shell and probe for BusyBox.
func MiraiCommands() []string {
	return []string{"enable", "system", "shell", "sh", "/bin/busybox MIRAI"}
}

const (
	iac  = 255
	dont = 254
	do   = 253
	wont = 252
	will = 251
	sb   = 250
	se   = 240
	naws = 31

	bufSize = 512 // server text kept; Mirai keeps 256
	maxSub  = 512 // longest subnegotiation skipped before it is taken for text
)

// Client is one bot. It keeps its buffers from one connection to the next,
// so a load generator can reuse it; it is not safe for concurrent use.
type Client struct {
	// Timeout bounds each wait for the server; zero means DefaultTimeout.
	Timeout time.Duration

	conn    net.Conn
	started bool // the server's first byte was seen
	state   uint8
	verb    byte
	sbLen   int
	n       int // text bytes in buf
	buf     [bufSize]byte
	raw     [256]byte
	wbuf    [128]byte
	reply   []byte
	werr    error // a write that failed while answering negotiation
}

// Parser states for the server's stream.
const (
	sData uint8 = iota
	sIAC
	sOpt
	sSB
	sSBIAC
)

// Attempt connects to addr, logs in once with user and pass and hangs up,
// as one Mirai scanner connection does.
func Attempt(ctx context.Context, addr, user, pass string) (Result, error) {
	var c Client
	return c.Attempt(ctx, addr, user, pass)
}

// Attempt is Attempt with the client's buffers.
func (c *Client) Attempt(ctx context.Context, addr, user, pass string) (Result, error) {
	if err := c.Dial(ctx, addr); err != nil {
		return Result{}, err
	}
	r, err := c.Login(ctx, user, pass)
	if cerr := c.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("bot: close: %w", cerr)
	}
	return r, err
}

// Dial connects to addr.
func (c *Client) Dial(ctx context.Context, addr string) error {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("bot: %w", err)
	}
	c.Attach(conn)
	return nil
}

// Attach makes the client talk over conn, which it then owns.
func (c *Client) Attach(conn net.Conn) {
	c.conn, c.started, c.state, c.n, c.sbLen, c.werr = conn, false, sData, 0, 0, nil
}

// Close closes the connection.
func (c *Client) Close() error {
	if c.conn == nil {
		return nil
	}
	err := c.conn.Close()
	c.conn = nil
	return err
}

// Login waits for the login prompt, sends user and pass, and reports the
// server's answer. On a connection that already had a login, it picks up
// the prompt that followed it.
func (c *Client) Login(ctx context.Context, user, pass string) (Result, error) {
	if _, err := c.await(ctx, userPrompt); err != nil {
		return Result{}, fmt.Errorf("bot: waiting for the login prompt: %w", err)
	}
	if err := c.sendLine(user); err != nil {
		return Result{}, err
	}
	if _, err := c.await(ctx, passPrompt); err != nil {
		return Result{}, fmt.Errorf("bot: waiting for the password prompt: %w", err)
	}
	if err := c.sendLine(pass); err != nil {
		return Result{}, err
	}
	start := time.Now()
	o, err := c.await(ctx, answer)
	if err != nil {
		return Result{}, fmt.Errorf("bot: waiting for the answer: %w", err)
	}
	return Result{Outcome: o, Elapsed: time.Since(start)}, nil
}

// Command waits for the next prompt of any kind and sends line there, as
// Mirai sends its commands after a login. It reports the kind of prompt:
// Prompt for one ending in ':', Shell for the others.
func (c *Client) Command(ctx context.Context, line string) (Outcome, error) {
	o, err := c.await(ctx, anyPrompt)
	if err != nil {
		return 0, fmt.Errorf("bot: waiting for a prompt for %q: %w", line, err)
	}
	return o, c.sendLine(line)
}

// A matcher looks at the text received so far; it returns how much of it
// is consumed (0: keep waiting) and the outcome.
type matcher func(text []byte) (int, Outcome)

func isPromptEnd(b byte) bool {
	return b == ':' || b == '>' || b == '$' || b == '#' || b == '%'
}

// lastPrompt is the index after the last prompt character, or -1.
func lastPrompt(text []byte, chars string) int {
	return bytes.LastIndexAny(text, chars) + 1
}

func userPrompt(text []byte) (int, Outcome) {
	if i := lastPrompt(text, ":>$#%"); i > 0 {
		return i, Prompt
	}
	if i := bytes.Index(text, []byte("ogin")); i >= 0 {
		return i + len("ogin"), Prompt
	}
	if i := bytes.Index(text, []byte("enter")); i >= 0 {
		return i + len("enter"), Prompt
	}
	return 0, 0
}

// anyPrompt is Mirai's test for a prompt after a login: the last prompt
// character anywhere in the text.
func anyPrompt(text []byte) (int, Outcome) {
	i := lastPrompt(text, ":>$#%")
	if i == 0 {
		return 0, 0
	}
	if text[i-1] == ':' {
		return i, Prompt
	}
	return i, Shell
}

func passPrompt(text []byte) (int, Outcome) {
	if i := bytes.Index(text, []byte("assword")); i >= 0 {
		if j := bytes.IndexByte(text[i:], ':'); j >= 0 {
			return i + j + 1, Prompt
		}
		return i + len("assword"), Prompt
	}
	if i := lastPrompt(text, ":>$#"); i > 0 {
		return i, Prompt
	}
	return 0, 0
}

// answer waits for the verdict: "ncorrect" wins over any prompt; otherwise
// the text must end (blanks aside) in a prompt character.
func answer(text []byte) (int, Outcome) {
	if i := bytes.Index(text, []byte("ncorrect")); i >= 0 {
		return i + len("ncorrect"), Rejected
	}
	t := bytes.TrimRight(text, " ")
	if len(t) == 0 || !isPromptEnd(t[len(t)-1]) {
		return 0, 0
	}
	if t[len(t)-1] == ':' {
		return len(t), Prompt
	}
	return len(t), Shell
}

// await reads until m matches the text, then drops the matched text.
func (c *Client) await(ctx context.Context, m matcher) (Outcome, error) {
	if c.conn == nil {
		return 0, errors.New("bot: not connected")
	}
	for {
		if used, o := m(c.buf[:c.n]); used > 0 {
			c.n = copy(c.buf[:], c.buf[used:c.n])
			return o, nil
		}
		if err := c.read(ctx); err != nil {
			// A last answer may come with the close.
			if used, o := m(c.buf[:c.n]); used > 0 && errors.Is(err, io.EOF) {
				c.n = copy(c.buf[:], c.buf[used:c.n])
				return o, nil
			}
			return 0, err
		}
	}
}

// read reads once, answers negotiation and appends the text to buf.
func (c *Client) read(ctx context.Context) error {
	deadline := time.Now().Add(c.timeout())
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := c.conn.SetReadDeadline(deadline); err != nil {
		return err
	}
	n, err := c.conn.Read(c.raw[:])
	if n > 0 && !c.started {
		c.started = true
		if c.raw[0] != iac {
			return ErrNotTelnet
		}
	}
	c.reply = c.wbuf[:0]
	for _, b := range c.raw[:n] {
		c.feed(b)
	}
	if len(c.reply) > 0 {
		if werr := c.write(c.reply); werr != nil && c.werr == nil {
			c.werr = werr
		}
	}
	if err == nil {
		err, c.werr = c.werr, nil
	}
	return err
}

// feed handles one byte from the server.
func (c *Client) feed(b byte) {
	switch c.state {
	case sData:
		if b == iac {
			c.state = sIAC
			return
		}
		c.text(b)
	case sIAC:
		switch b {
		case iac:
			c.state = sData
			c.text(b)
		case do, dont, will, wont:
			c.verb, c.state = b, sOpt
		case sb:
			c.state, c.sbLen = sSB, 0
		default:
			c.state = sData
		}
	case sOpt:
		c.state = sData
		switch {
		case c.verb == do && b == naws:
			c.reply = append(c.reply, iac, will, naws, iac, sb, naws, 0, 80, 0, 24, iac, se)
		case c.verb == do:
			c.reply = append(c.reply, iac, wont, b)
		case c.verb == will:
			c.reply = append(c.reply, iac, do, b)
		}
		if len(c.reply) > len(c.wbuf)-12 { // keep the answers in wbuf
			if err := c.write(c.reply); err != nil && c.werr == nil {
				c.werr = err
			}
			c.reply = c.wbuf[:0]
		}
	case sSB:
		if b == iac {
			c.state = sSBIAC
		} else if c.sbLen++; c.sbLen > maxSub {
			c.state = sData
		}
	case sSBIAC:
		if b == se {
			c.state = sData
		} else {
			c.state = sSB
		}
	}
}

// text keeps a byte of the server's text, dropping the older half of the
// buffer when it is full (as Mirai drains its own).
func (c *Client) text(b byte) {
	if c.n == len(c.buf) {
		c.n = copy(c.buf[:], c.buf[len(c.buf)/2:])
	}
	c.buf[c.n] = b
	c.n++
}

func (c *Client) sendLine(s string) error {
	var line []byte
	if len(s)+2 <= len(c.wbuf) {
		line = append(append(c.wbuf[:0], s...), '\r', '\n')
	} else {
		line = append([]byte(s), '\r', '\n')
	}
	return c.write(line)
}

func (c *Client) write(p []byte) error {
	if err := c.conn.SetWriteDeadline(time.Now().Add(c.timeout())); err != nil {
		return fmt.Errorf("bot: %w", err)
	}
	if _, err := c.conn.Write(p); err != nil {
		return fmt.Errorf("bot: write: %w", err)
	}
	return nil
}

func (c *Client) timeout() time.Duration {
	if c.Timeout > 0 {
		return c.Timeout
	}
	return DefaultTimeout
}

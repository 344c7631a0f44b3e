// Package linefake is the conversation loop that the line-based fakes (FTP,
// SMTP) share: greet unless the agent did, read one bounded command line
// at a time and have the fake answer it, record the first few pieces of
// invalid input, and end as the real server ends when reading stops (a
// line over the limit, a client idle too long, the connection gone).
// What a fake answers to each line stays in its own package.
package linefake

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/minipot/minipot/agent/lineio"
	"github.com/minipot/minipot/agent/session"
	"github.com/minipot/minipot/internal/event"
)

// MaxInvalid is how many invalid events a connection records at most: a
// stream of garbage costs a bounded number of rows.
const MaxInvalid = 8

// Conversation is one connection of a fake: it answers command lines.
type Conversation interface {
	// Answer answers one command line; stop says the conversation is
	// over, with err saying why (nil: the server closed it normally).
	Answer(ctx context.Context, line []byte) (stop bool, err error)
}

// Endings are a server's last words when reading stops.
type Endings struct {
	Proto   string                        // names the protocol in errors: "ftp"
	TooLong string                        // the reply to a line over the limit
	Timeout func(*session.Session) string // the reply to a client idle too long
}

// Invalid records a connection's invalid input as events, the first
// MaxInvalid of them.
type Invalid struct{ n int }

// Record records detail as an invalid event, unless the connection has
// recorded MaxInvalid already.
func (v *Invalid) Record(s *session.Session, detail string) {
	if v.n++; v.n <= MaxInvalid {
		s.Emit(event.Event{Action: event.Invalid, Detail: detail})
	}
}

// Run greets with g unless the agent did, then reads lines from lr and has
// c answer each, until c stops or reading ends; inv records an over-long
// line. Run sits under every blocked Read of an idle connection (see
// agent.serve): its frame is small and the work is done in functions of
// their own, so that the goroutine keeps its stack small
// (agent.TestIdleConnectionStack).
func Run(ctx context.Context, s *session.Session, g session.Greeter, lr *lineio.Reader, c Conversation, inv *Invalid, end *Endings) error {
	if !s.Greeted() {
		if err := g.Greet(s); err != nil {
			return err
		}
	}
	for {
		line, err := lr.Line()
		if err != nil {
			return end.ReadError(ctx, s, err, inv)
		}
		if stop, err := c.Answer(ctx, line); stop {
			return err
		}
	}
}

// ReadError answers what ended the reading of s and says why; inv records
// an over-long line.
//
//go:noinline
func (end *Endings) ReadError(ctx context.Context, s *session.Session, err error, inv *Invalid) error {
	switch {
	case errors.Is(err, lineio.ErrTooLong):
		inv.Record(s, "command line too long")
		io.WriteString(s, end.TooLong)
		return fmt.Errorf("%s: %w: %w", end.Proto, err, session.ErrLimit)
	case ctx.Err() != nil:
		return fmt.Errorf("%s: %w", end.Proto, context.Cause(ctx))
	case session.Reason(err) == event.ReasonTimeout:
		io.WriteString(s, end.Timeout(s))
		return fmt.Errorf("%s: read: %w", end.Proto, err)
	case errors.Is(err, io.EOF):
		return io.EOF
	}
	return fmt.Errorf("%s: read: %w", end.Proto, err)
}

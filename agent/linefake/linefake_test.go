package linefake

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/minipot/minipot/agent/agenttest"
	"github.com/minipot/minipot/agent/lineio"
	"github.com/minipot/minipot/agent/session"
	"github.com/minipot/minipot/internal/event"
)

// echo is a fake that greets, echoes each line and stops at "quit"; every
// line "bad" is invalid input.
type echo struct{}

var echoEnd = Endings{Proto: "echo", TooLong: "500 too long\r\n",
	Timeout: func(s *session.Session) string { return "421 " + s.Config().Hostname + " timeout\r\n" }}

func (echo) Greet(s *session.Session) error { _, err := io.WriteString(s, "220 hi\r\n"); return err }

func (h echo) Serve(ctx context.Context, s *session.Session) error {
	c := &echoConn{s: s, lr: lineio.New(s, 16)}
	return Run(ctx, s, h, c.lr, c, &c.inv, &echoEnd)
}

type echoConn struct {
	s   *session.Session
	lr  *lineio.Reader
	inv Invalid
}

func (c *echoConn) Answer(ctx context.Context, line []byte) (bool, error) {
	if string(line) == "bad" {
		c.inv.Record(c.s, "bad line")
	}
	_, err := fmt.Fprintf(c.s, "%s\r\n", line)
	return string(line) == "quit" || err != nil, err
}

// TestRun: the loop greets, answers each line, and ends as the protocol
// says on each way reading stops; invalid events stop at MaxInvalid.
func TestRun(t *testing.T) {
	for _, c := range []struct {
		name, send, want string
		idle             time.Duration
		err              func(error) bool
		invalid          int
	}{
		{"quit", "a\r\nquit\r\n", "220 hi\r\na\r\nquit\r\n", 0, func(err error) bool { return err == nil }, 0},
		{"end of input", "a\r\n", "220 hi\r\na\r\n", 0, func(err error) bool { return err == io.EOF }, 0},
		{"too long", strings.Repeat("x", 40) + "\r\n", "220 hi\r\n500 too long\r\n", 0,
			func(err error) bool {
				return errors.Is(err, session.ErrLimit) && strings.HasPrefix(err.Error(), "echo: ")
			}, 1},
		{"idle", "", "220 hi\r\n421 box timeout\r\n", 100 * time.Millisecond,
			func(err error) bool { return session.Reason(err) == event.ReasonTimeout }, 0},
		{"garbage", strings.Repeat("bad\r\n", 3*MaxInvalid), "220 hi\r\n" + strings.Repeat("bad\r\n", 3*MaxInvalid), 0,
			func(err error) bool { return err == io.EOF }, MaxInvalid},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := agenttest.Config("box")
			if c.idle > 0 {
				cfg.Limits.Idle = c.idle
			}
			conn, r, rec, done := agenttest.Serve(t, echo{}, "21tcp", cfg)
			io.WriteString(conn, c.send)
			if c.idle == 0 && c.name != "quit" && c.name != "too long" {
				conn.(interface{ CloseWrite() error }).CloseWrite()
			}
			agenttest.Expect(t, r, c.want)
			if err := <-done; !c.err(err) {
				t.Errorf("Run: %v", err)
			}
			if n := len(rec.Of(event.Invalid)); n != c.invalid {
				t.Errorf("%d invalid events, want %d", n, c.invalid)
			}
		})
	}
}

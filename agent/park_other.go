//go:build !linux

package agent

import (
	"errors"

	"github.com/minipot/minipot/agent/session"
)

// parker is Linux's (park_linux.go); elsewhere every connection has a
// goroutine of its own from the start.
type parker struct{}

type parked struct{}

func newParker(*Agent) (*parker, error) { return nil, errors.New("parking needs Linux's epoll") }

func (*parker) park(*conn, *listener, *session.Session, func() bool, *slot) bool { return false }
func (*parker) end(*parked)                                                      {}
func (*parker) count() int                                                       { return 0 }
func (*parker) close()                                                           {}

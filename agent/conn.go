package agent

import (
	"net"
	"sync"
)

// conn is how a connection is ended from outside its goroutine: by
// eviction (limiter) or by its service stopping. While the connection is
// parked it has no net.Conn to close, and the parker ends it instead.
type conn struct {
	mu     sync.Mutex
	c      net.Conn // nil while parked
	parked *parked  // non-nil while parked
	pk     *parker
	ended  bool
}

func (cn *conn) end() {
	cn.mu.Lock()
	cn.ended = true
	c, pc := cn.c, cn.parked
	cn.mu.Unlock()
	switch {
	case c != nil:
		c.Close()
	case pc != nil:
		cn.pk.end(pc)
	}
}

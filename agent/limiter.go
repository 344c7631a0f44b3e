package agent

import (
	"net/netip"
	"sync"
)

// limiter bounds connections open at once, in total and per source address.
// It is checked before a connection gets a goroutine of its own, so a flood
// costs an accept and a close.
type limiter struct {
	mu       sync.Mutex
	total    int
	perIP    map[netip.Addr]int
	maxTotal int
	maxPerIP int
}

func newLimiter() *limiter { return &limiter{perIP: make(map[netip.Addr]int)} }

func (l *limiter) setMax(total, perIP int) {
	l.mu.Lock()
	l.maxTotal, l.maxPerIP = total, perIP
	l.mu.Unlock()
}

// acquire takes a slot for ip, or reports false when a limit is reached.
func (l *limiter) acquire(ip netip.Addr) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.total >= l.maxTotal || l.perIP[ip] >= l.maxPerIP {
		return false
	}
	l.total++
	l.perIP[ip]++
	return true
}

func (l *limiter) release(ip netip.Addr) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.total--
	if n := l.perIP[ip] - 1; n > 0 {
		l.perIP[ip] = n
	} else {
		delete(l.perIP, ip) // the map must not keep every address ever seen
	}
}

func (l *limiter) open() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.total
}

package agent

import (
	"container/heap"
	"net/netip"
	"sync"
	"sync/atomic"
)

// Networks group addresses for the per-network limit and for fair share:
// one party usually holds a whole IPv4 /24 or IPv6 /48 (an ISP gives a
// customer a /48 or /56, and a /64 holds 2^64 addresses).
const (
	netBits4 = 24
	netBits6 = 48
)

// limiter bounds connections open at once: in total, per source address and
// per source network. It is checked before a connection gets a goroutine of
// its own, so a flood costs an accept and a close.
//
// Fair share: when the total budget is full, a newcomer whose network holds
// no more slots than another network gets a slot by evicting a connection
// of the network holding the most: of its address holding the most, the
// oldest (see victim). So whoever hoards loses first, a botnet of thousands
// of addresses each holding one slot loses its oldest connections to
// newcomers, and a client is never refused while another network holds as
// much as its own. Only a newcomer whose network holds the most is refused.
type limiter struct {
	mu        sync.Mutex
	total     int
	perIP     map[netip.Addr]int
	nets      map[netip.Prefix]*netSlots
	byHeld    netHeap // the networks, the one holding the most first
	maxTotal  int
	maxPerIP  int
	maxPerNet int
	seq       uint64
	evicted   atomic.Uint64
	// grown: the maps held more than bigMaps entries since they were
	// made. A Go map keeps its largest size, so a burst from thousands of
	// addresses would stay; the maps are made anew when the last slot goes.
	grown bool
}

// bigMaps is the size past which the limiter's maps, and the parker's set
// and lists, are made anew once empty: below it they are worth keeping.
const bigMaps = 1024

// slot is one connection's hold on the budget.
type slot struct {
	ip         netip.Addr
	net        *netSlots
	seq        uint64 // order of acquisition: lower is older
	prev, next *slot  // in net's list, oldest first
	close      func() // ends the connection when it is evicted
	gone       atomic.Bool
}

// Evicted reports whether the slot was taken back for a newcomer.
func (s *slot) Evicted() bool { return s.gone.Load() }

// netSlots is the slots one network holds, oldest first.
type netSlots struct {
	prefix     netip.Prefix
	n          int
	head, tail *slot
	idx        int // in limiter.byHeld
}

// netHeap orders networks by slots held, most first, then by their oldest
// connection, so that the victim is found in constant time however many
// addresses hold the budget (a flood calls acquire for every connection).
type netHeap []*netSlots

func (h netHeap) Len() int { return len(h) }
func (h netHeap) Less(i, j int) bool {
	return h[i].n > h[j].n || (h[i].n == h[j].n && h[i].head.seq < h[j].head.seq)
}
func (h netHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].idx, h[j].idx = i, j
}
func (h *netHeap) Push(x any) {
	ns := x.(*netSlots)
	ns.idx = len(*h)
	*h = append(*h, ns)
}
func (h *netHeap) Pop() any {
	old := *h
	ns := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return ns
}

func newLimiter() *limiter {
	return &limiter{perIP: make(map[netip.Addr]int), nets: make(map[netip.Prefix]*netSlots)}
}

func (l *limiter) setMax(total, perIP, perNet int) {
	l.mu.Lock()
	l.maxTotal, l.maxPerIP, l.maxPerNet = total, perIP, perNet
	l.mu.Unlock()
}

// network is the group ip counts in.
func network(ip netip.Addr) netip.Prefix {
	bits := netBits6
	if ip.Is4() {
		bits = netBits4
	}
	p, _ := ip.Prefix(bits)
	return p
}

// acquire takes a slot for ip, evicting another connection if that is fair
// (see limiter), or reports nil when a limit refuses it. close is called,
// outside the limiter's lock, if the slot is later evicted.
func (l *limiter) acquire(ip netip.Addr, close func()) *slot {
	l.mu.Lock()
	pfx := network(ip)
	ns := l.nets[pfx]
	held := 0
	if ns != nil {
		held = ns.n
	}
	if l.perIP[ip] >= l.maxPerIP || (l.maxPerNet > 0 && held >= l.maxPerNet) {
		l.mu.Unlock()
		return nil
	}
	var evict func()
	if l.total >= l.maxTotal {
		victim := l.victim(ns, held)
		if victim == nil {
			l.mu.Unlock()
			return nil
		}
		l.remove(victim)
		victim.gone.Store(true)
		evict, victim.close = victim.close, nil
		l.evicted.Add(1)
	}
	l.seq++
	s := &slot{ip: ip, seq: l.seq, close: close}
	if ns = l.nets[pfx]; ns == nil { // the victim may have been its last
		ns = &netSlots{prefix: pfx, head: s, tail: s, n: 1}
		l.nets[pfx] = ns
		heap.Push(&l.byHeld, ns)
	} else {
		s.prev = ns.tail
		ns.tail.next = s
		ns.tail = s
		ns.n++
		heap.Fix(&l.byHeld, ns.idx)
	}
	s.net = ns
	l.perIP[ip]++
	l.total++
	l.grown = l.grown || len(l.perIP) > bigMaps
	l.mu.Unlock()
	if evict != nil {
		evict()
	}
	return s
}

// victim picks the connection a newcomer may take the place of: in the
// network holding the most other than the newcomer's own (ns, holding held;
// ns may be nil), the one with the oldest connection among equals, the
// oldest connection of the address holding the most. That network must
// hold at least as many as the newcomer's: equals trade places, oldest
// first, so that a newcomer is refused only when its own network holds
// more than any other. nil: refused.
func (l *limiter) victim(ns *netSlots, held int) *slot {
	h := l.byHeld
	if len(h) == 0 {
		return nil
	}
	big := h[0]
	if big == ns { // the runner-up is one of the root's children
		switch {
		case len(h) == 1:
			return nil
		case len(h) == 2 || h.Less(1, 2):
			big = h[1]
		default:
			big = h[2]
		}
	}
	if big.n < held {
		return nil
	}
	var pick *slot
	most := 0
	for s := big.head; s != nil; s = s.next {
		if n := l.perIP[s.ip]; n > most {
			pick, most = s, n
		}
	}
	return pick
}

// remove takes s's counts back and unlinks it (net nil: not held); the
// caller holds the lock.
func (l *limiter) remove(s *slot) {
	ns := s.net
	if s.prev != nil {
		s.prev.next = s.next
	} else {
		ns.head = s.next
	}
	if s.next != nil {
		s.next.prev = s.prev
	} else {
		ns.tail = s.prev
	}
	s.prev, s.next, s.net = nil, nil, nil
	if ns.n--; ns.n == 0 {
		delete(l.nets, ns.prefix) // the maps must not keep every network ever seen
		heap.Remove(&l.byHeld, ns.idx)
	} else {
		heap.Fix(&l.byHeld, ns.idx)
	}
	if n := l.perIP[s.ip] - 1; n > 0 {
		l.perIP[s.ip] = n
	} else {
		delete(l.perIP, s.ip)
	}
	if l.total--; l.total == 0 && l.grown {
		l.perIP, l.nets, l.byHeld, l.grown = make(map[netip.Addr]int), make(map[netip.Prefix]*netSlots), nil, false
	}
}

// release gives a slot back when its connection ends; an evicted slot was
// given back when it was evicted. Releasing twice does nothing.
func (l *limiter) release(s *slot) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if s.net != nil {
		l.remove(s)
	}
	s.close = nil
}

func (l *limiter) open() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.total
}

package agent

import (
	"container/heap"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/minipot/minipot/agent/session"
)

// parker holds connections that wait for their peer's first bytes without
// a goroutine or a place in Go's poller: the connection's descriptor sits
// in an epoll set of the parker's own, watched by one goroutine, until the
// peer sends (the connection gets its goroutine then), closes, idles out,
// is evicted, or its service stops.
//
// Why: every connection that had a goroutine leaves the runtime a
// goroutine descriptor (about 0.5 KB) it never frees, and every descriptor
// that was in Go's poller a record (about 0.6 KB) it keeps for reuse; with
// runtime metadata, a burst of 5,000 idle connections left RSS 10.9 MB
// above idle for good. Idle bots that connect and say nothing are what such
// a burst is made of; parked, they cost a few hundred bytes of heap each,
// all returned when they go.
type parker struct {
	a    *Agent
	epfd int // the epoll set
	wake int // an eventfd in the set: park and end wake the loop with it

	mu      sync.Mutex
	conns   map[int32]*parked // by descriptor
	byUntil untilHeap         // the same, the soonest deadline first
	ended   []*parked         // ended from outside (eviction, a stopped service), for the loop
	stop    bool
	done    chan struct{}
	closed  sync.Once
}

// parked is one connection the parker holds.
type parked struct {
	fd     int
	cn     *conn
	l      *listener
	s      *session.Session
	unhook func() bool
	slot   *slot
	until  time.Time // when a Read would have timed out
	idx    int       // in byUntil; -1: no longer held
}

// newParker opens the epoll set and starts its goroutine.
func newParker(a *Agent) (*parker, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("epoll: %w", err)
	}
	wake, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		unix.Close(epfd)
		return nil, fmt.Errorf("eventfd: %w", err)
	}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, wake, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(wake)}); err != nil {
		unix.Close(epfd)
		unix.Close(wake)
		return nil, fmt.Errorf("epoll: %w", err)
	}
	p := &parker{a: a, epfd: epfd, wake: wake, conns: make(map[int32]*parked), done: make(chan struct{})}
	go p.run()
	return p, nil
}

// park takes cn's connection over: a descriptor of its own for the same
// socket goes into the epoll set, and the net.Conn is closed, which gives
// its poller record back. false: not parked (cn was ended, or a system
// call failed); the caller serves the connection as usual.
func (p *parker) park(cn *conn, l *listener, s *session.Session, unhook func() bool, sl *slot) bool {
	sc, ok := cn.c.(syscall.Conn)
	if !ok {
		return false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	fd := -1
	if cerr := rc.Control(func(s uintptr) { fd, err = unix.FcntlInt(s, unix.F_DUPFD_CLOEXEC, 0) }); cerr != nil || err != nil {
		return false
	}
	pc := &parked{fd: fd, cn: cn, l: l, s: s, unhook: unhook, slot: sl, until: s.ReadDeadline()}
	p.mu.Lock()
	cn.mu.Lock()
	if cn.ended || p.stop {
		cn.mu.Unlock()
		p.mu.Unlock()
		unix.Close(fd)
		return false
	}
	// Registered under p.mu: the loop cannot see its events before it is
	// in conns.
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP, Fd: int32(fd)}
	if err := unix.EpollCtl(p.epfd, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
		cn.mu.Unlock()
		p.mu.Unlock()
		unix.Close(fd)
		return false
	}
	c := cn.c
	cn.c, cn.parked = nil, pc
	cn.mu.Unlock()
	p.conns[int32(fd)] = pc
	soonest := len(p.byUntil) == 0 || pc.until.Before(p.byUntil[0].until)
	heap.Push(&p.byUntil, pc)
	p.mu.Unlock()
	c.Close()
	if soonest {
		p.poke()
	}
	return true
}

// count is how many connections are parked; 0 for a nil parker.
func (p *parker) count() int {
	if p == nil {
		return 0
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.conns)
}

// end ends a parked connection from outside; the loop does the work.
func (p *parker) end(pc *parked) {
	p.mu.Lock()
	p.ended = append(p.ended, pc)
	p.mu.Unlock()
	p.poke()
}

// poke wakes the loop.
func (p *parker) poke() {
	one := [8]byte{1}
	unix.Write(p.wake, one[:]) // EAGAIN: it is awake already
}

// close stops the loop once no connection is parked (the agent closes it
// after every connection ended) and closes the epoll set; again, it does
// nothing (the descriptors' numbers may be another's by then).
func (p *parker) close() {
	p.closed.Do(func() {
		p.mu.Lock()
		p.stop = true
		p.mu.Unlock()
		p.poke()
		<-p.done
		unix.Close(p.epfd)
		unix.Close(p.wake)
	})
}

// outcome is what the loop found for one parked connection: resume it
// (err nil) or end it with err.
type outcome struct {
	pc  *parked
	err error
}

// errStopped ends a parked connection whose service stopped, as closing
// its net.Conn would have ended a Read.
var errStopped = fmt.Errorf("service stopped: %w", net.ErrClosed)

func (p *parker) run() {
	defer close(p.done)
	evs := make([]unix.EpollEvent, 128)
	var out []outcome
	for {
		p.mu.Lock()
		wait := -1
		if len(p.byUntil) > 0 {
			// Rounded up: woken a little early, the loop would find
			// nothing due and wait again.
			wait = int(max(time.Until(p.byUntil[0].until)+time.Millisecond-1, 0) / time.Millisecond)
		}
		stop := p.stop && len(p.conns) == 0
		p.mu.Unlock()
		if stop {
			return
		}
		n, err := unix.EpollWait(p.epfd, evs, wait)
		if err != nil {
			if err == unix.EINTR {
				continue
			}
			// Not seen; rather than spin, ends every parked connection.
			p.a.log.Error().Err(err).Msg("epoll_wait: parked connections ended")
			n = 0
			p.mu.Lock()
			for _, pc := range p.conns {
				p.ended = append(p.ended, pc)
			}
			p.mu.Unlock()
		}
		out = out[:0]
		p.mu.Lock()
		for _, ev := range evs[:n] {
			if ev.Fd == int32(p.wake) {
				var b [8]byte
				unix.Read(p.wake, b[:])
				continue
			}
			pc := p.conns[ev.Fd]
			if pc == nil {
				continue
			}
			p.forget(pc)
			if ev.Events&unix.EPOLLIN != 0 {
				out = append(out, outcome{pc: pc}) // bytes, or the peer's FIN: Serve reads either
			} else {
				out = append(out, outcome{pc: pc, err: io.EOF}) // reset
			}
		}
		for _, pc := range p.ended {
			if pc.idx >= 0 {
				p.forget(pc)
				out = append(out, outcome{pc: pc, err: errStopped})
			}
		}
		p.ended = p.ended[:0]
		if cap(p.ended) > bigMaps {
			p.ended = nil
		}
		now := time.Now()
		for len(p.byUntil) > 0 && !now.Before(p.byUntil[0].until) {
			pc := p.byUntil[0]
			p.forget(pc)
			out = append(out, outcome{pc: pc, err: os.ErrDeadlineExceeded})
		}
		if len(p.conns) == 0 && cap(p.byUntil) > bigMaps {
			// Maps and slices keep their largest size: a burst's would
			// stay for good. The heap's capacity is the set's peak.
			p.conns, p.byUntil = make(map[int32]*parked), nil
		}
		p.mu.Unlock()
		for _, o := range out {
			switch {
			case o.err == nil:
				p.resume(o.pc, false)
			case o.err == os.ErrDeadlineExceeded:
				p.resume(o.pc, true)
			default:
				p.finish(o.pc, o.err)
			}
		}
		if cap(out) > bigMaps {
			out = nil
		}
	}
}

// forget takes pc out of the set; the caller holds p.mu.
func (p *parker) forget(pc *parked) {
	unix.EpollCtl(p.epfd, unix.EPOLL_CTL_DEL, pc.fd, nil)
	delete(p.conns, int32(pc.fd))
	heap.Remove(&p.byUntil, pc.idx)
	pc.idx = -1
}

// resume gives the connection a net.Conn and its goroutine. One that
// idled out is served on the loop's goroutine instead, its first Read
// timing out at once: its handler says what the server says then (FTP's
// "421 Timeout."), a write to a send buffer that holds only a greeting,
// and the burst of idle connections that time out together never has a
// goroutine each.
func (p *parker) resume(pc *parked, expired bool) {
	// Blocking, so that os.NewFile does not put it in the poller only for
	// net.FileConn to put its own duplicate there too.
	unix.SetNonblock(pc.fd, false)
	f := os.NewFile(uintptr(pc.fd), "")
	nc, err := net.FileConn(f)
	f.Close()
	if err != nil {
		// Debug: out of descriptors, this would be a line per connection.
		p.a.log.Debug().Err(err).Msg("resuming a parked connection")
		p.a.finish(pc.s, pc.unhook, pc.slot, err)
		return
	}
	pc.cn.mu.Lock()
	pc.cn.c, pc.cn.parked = nc, nil
	ended := pc.cn.ended
	pc.cn.mu.Unlock()
	if ended { // between forget and here: Serve finds it closed
		nc.Close()
	}
	pc.s.Resume(nc)
	if expired {
		pc.s.Expire()
		p.a.serve(pc.l, pc.s, pc.unhook, pc.slot, nil)
		return
	}
	go p.a.serve(pc.l, pc.s, pc.unhook, pc.slot, nil)
}

// finish ends a parked connection as its goroutine would have.
func (p *parker) finish(pc *parked, err error) {
	pc.cn.mu.Lock()
	pc.cn.parked = nil
	pc.cn.mu.Unlock()
	unix.Close(pc.fd)
	p.a.finish(pc.s, pc.unhook, pc.slot, err)
}

// untilHeap orders parked connections by deadline.
type untilHeap []*parked

func (h untilHeap) Len() int           { return len(h) }
func (h untilHeap) Less(i, j int) bool { return h[i].until.Before(h[j].until) }
func (h untilHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].idx, h[j].idx = i, j
}
func (h *untilHeap) Push(x any) {
	pc := x.(*parked)
	pc.idx = len(*h)
	*h = append(*h, pc)
}
func (h *untilHeap) Pop() any {
	old := *h
	pc := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return pc
}

package agent

import (
	"fmt"
	"net/netip"
	"testing"
)

func TestLimiter(t *testing.T) {
	ip := netip.MustParseAddr
	a1, a2 := ip("192.0.2.1"), ip("192.0.2.2") // one /24
	b1 := ip("198.51.100.1")
	c1 := ip("203.0.113.9")
	v6a, v6b := ip("2001:db8:1:2::1"), ip("2001:db8:1:ffff::2") // one /48
	v6c := ip("2001:db8:2::1")
	type step struct {
		op      string // acquire, release (the n-th slot taken, counting from 0)
		ip      netip.Addr
		want    bool // acquire: a slot was given
		evicted int  // acquire: index of the slot it must have evicted, -1 none
		n       int  // release: which slot
	}
	acq := func(ip netip.Addr, want bool, evicted int) step {
		return step{op: "acquire", ip: ip, want: want, evicted: evicted}
	}
	rel := func(n int) step { return step{op: "release", n: n} }
	for _, tc := range []struct {
		name                  string
		total, perIP, perNet  int
		steps                 []step
		wantOpen, wantEvicted int
	}{
		{"per address", 10, 2, 10, []step{
			acq(a1, true, -1), acq(a1, true, -1), acq(a1, false, -1), acq(a2, true, -1),
		}, 3, 0},
		{"per network", 10, 5, 3, []step{
			acq(a1, true, -1), acq(a2, true, -1), acq(a2, true, -1), acq(a1, false, -1), acq(b1, true, -1),
		}, 4, 0},
		{"per IPv6 /48", 10, 5, 2, []step{
			acq(v6a, true, -1), acq(v6b, true, -1), acq(v6a, false, -1), acq(v6c, true, -1),
		}, 3, 0},
		{"full: the hoarder loses its oldest", 4, 4, 4, []step{
			acq(a1, true, -1), acq(a1, true, -1), acq(a1, true, -1), acq(b1, true, -1),
			acq(c1, true, 0),   // a1's network holds 3, c1's none
			acq(c1, true, 1),   // a1's holds 2, c1's 1
			acq(c1, false, -1), // a1's and c1's hold 2 each: no one hoards more
		}, 4, 2},
		{"full: the address holding most in the network loses", 3, 4, 4, []step{
			acq(a2, true, -1), acq(a1, true, -1), acq(a1, true, -1),
			acq(b1, true, 1), // a1 holds 2 of the network's 3: its oldest, not a2's older one
		}, 3, 1},
		{"full: equal holders, the oldest goes", 3, 4, 4, []step{
			acq(a1, true, -1), acq(b1, true, -1), acq(c1, true, -1),
			acq(v6a, true, 0), acq(v6c, true, 1),
		}, 3, 2},
		{"full: equals trade places, the largest holder is refused", 2, 4, 4, []step{
			acq(a1, true, -1), acq(b1, true, -1),
			acq(a2, true, 1),   // a's network and b's hold 1 each: b's goes, not a's own
			acq(a2, false, -1), // a's network holds the most
			acq(c1, true, 0),   // a1 and a2 hold 1 each in a's 2: the oldest, a1
		}, 2, 2},
		{"a released slot is not evicted, an evicted one not released twice", 2, 4, 4, []step{
			acq(a1, true, -1), acq(a1, true, -1), acq(b1, true, 0), rel(0), rel(1), acq(c1, true, -1),
		}, 2, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := newLimiter()
			l.setMax(tc.total, tc.perIP, tc.perNet)
			var slots []*slot
			closed := map[int]bool{}
			for i, s := range tc.steps {
				if s.op == "release" {
					l.release(slots[s.n])
					continue
				}
				n := len(slots)
				got := l.acquire(s.ip, func() { closed[n] = true })
				if (got != nil) != s.want {
					t.Fatalf("step %d: acquire(%s) gave %v, want %v", i, s.ip, got != nil, s.want)
				}
				if got != nil {
					slots = append(slots, got)
				}
				for j, sl := range slots {
					wantGone := closed[j]
					if sl.Evicted() != wantGone {
						t.Fatalf("step %d: slot %d evicted=%v but closed=%v", i, j, sl.Evicted(), wantGone)
					}
				}
				if s.evicted >= 0 && !closed[s.evicted] {
					t.Fatalf("step %d: slot %d not evicted (closed: %v)", i, s.evicted, closed)
				}
			}
			if l.open() != tc.wantOpen || int(l.evicted.Load()) != tc.wantEvicted {
				t.Fatalf("open %d, evicted %d; want %d, %d", l.open(), l.evicted.Load(), tc.wantOpen, tc.wantEvicted)
			}
			for _, sl := range slots {
				l.release(sl)
			}
			if len(l.perIP) != 0 || len(l.nets) != 0 || len(l.byHeld) != 0 || l.open() != 0 {
				t.Fatalf("released limiter keeps %v %v %d, %d open: addresses must not accumulate", l.perIP, l.nets, len(l.byHeld), l.open())
			}
		})
	}
}

// TestLimiterFlood: 2,000 addresses in 2,000 networks hold the whole budget;
// every newcomer from a fresh network still gets a slot, from the oldest.
func TestLimiterFlood(t *testing.T) {
	l := newLimiter()
	l.setMax(512, 16, 64)
	var slots []*slot
	for i := range 2000 {
		ip := netip.AddrFrom4([4]byte{10, byte(i >> 8), byte(i), 1})
		if s := l.acquire(ip, func() {}); s != nil {
			slots = append(slots, s)
		} else {
			t.Fatalf("flood address %d refused: each holds one slot, so the oldest must go", i)
		}
	}
	if l.open() != 512 || l.evicted.Load() != 2000-512 {
		t.Fatalf("open %d, evicted %d", l.open(), l.evicted.Load())
	}
	for i, s := range slots {
		if s.Evicted() != (i < 2000-512) {
			t.Fatalf("slot %d evicted=%v: eviction must go oldest first", i, s.Evicted())
		}
	}
	fresh := netip.MustParseAddr("2001:db8::7")
	if l.acquire(fresh, func() {}) == nil {
		t.Fatal("a fresh client was refused while a flood holds the budget")
	}
	if got := fmt.Sprint(len(l.nets), len(l.perIP)); got != "512 512" {
		t.Fatalf("limiter tracks %s networks and addresses, want 512 512", got)
	}
}

func BenchmarkLimiterFull(b *testing.B) {
	l := newLimiter()
	l.setMax(512, 16, 64)
	var slots []*slot
	for i := 0; i < b.N; i++ {
		ip := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		if s := l.acquire(ip, func() {}); s != nil {
			slots = append(slots, s)
		}
		if len(slots) > 4096 {
			for _, s := range slots[:2048] {
				l.release(s)
			}
			slots = append(slots[:0], slots[2048:]...)
		}
	}
}

// TestLimiterMapsMadeAnew: after a burst from thousands of addresses the
// limiter's maps are made anew once the last slot goes (a Go map keeps its
// largest size), and the limiter counts on as before.
func TestLimiterMapsMadeAnew(t *testing.T) {
	l := newLimiter()
	l.setMax(10000, 10, 1000)
	var slots []*slot
	for i := range bigMaps + 100 {
		ip := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		s := l.acquire(ip, func() {})
		if s == nil {
			t.Fatalf("slot %d refused", i)
		}
		slots = append(slots, s)
	}
	old := l.perIP
	for i, s := range slots {
		l.release(s)
		if i < len(slots)-1 && !l.grown {
			t.Fatalf("maps made anew with %d slots still held", l.total)
		}
	}
	if l.grown || l.total != 0 || len(l.perIP) != 0 || len(l.nets) != 0 || len(l.byHeld) != 0 {
		t.Fatalf("after the burst: grown %v, total %d, %d addresses, %d networks", l.grown, l.total, len(l.perIP), len(l.nets))
	}
	if fmt.Sprintf("%p", old) == fmt.Sprintf("%p", l.perIP) {
		t.Error("the address map is the burst's")
	}
	s := l.acquire(netip.MustParseAddr("192.0.2.1"), func() {})
	if s == nil || l.open() != 1 {
		t.Fatal("no slot after the burst")
	}
}

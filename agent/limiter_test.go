package agent

import (
	"net/netip"
	"testing"
)

func TestLimiter(t *testing.T) {
	a, b := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("2001:db8::1")
	l := newLimiter()
	l.setMax(3, 2)
	steps := []struct {
		op   string
		ip   netip.Addr
		want bool
	}{
		{"acquire", a, true},
		{"acquire", a, true},
		{"acquire", a, false}, // per address
		{"acquire", b, true},
		{"acquire", b, false}, // total
		{"release", a, true},
		{"acquire", b, true},
		{"acquire", a, false}, // total again
	}
	for i, s := range steps {
		if s.op == "release" {
			l.release(s.ip)
			continue
		}
		if got := l.acquire(s.ip); got != s.want {
			t.Fatalf("step %d: acquire(%s) = %v, want %v", i, s.ip, got, s.want)
		}
	}
	if l.open() != 3 {
		t.Fatalf("open = %d, want 3", l.open())
	}
	l.release(a)
	l.release(b)
	l.release(b)
	if len(l.perIP) != 0 || l.open() != 0 {
		t.Fatalf("released limiter keeps %v, %d open: addresses must not accumulate", l.perIP, l.open())
	}
}

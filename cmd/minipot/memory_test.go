package main

import (
	"runtime/debug"
	"testing"

	"github.com/minipot/minipot/internal/settings"
)

func TestMemoryBudget(t *testing.T) {
	s := settings.Defaults()
	base := memoryBudget(s)
	if base < 32<<20 || base > 96<<20 {
		t.Errorf("default budget %d MiB: not what a 128 MB router can give", base>>20)
	}
	s.Limits.MaxConns *= 2
	if got := memoryBudget(s); got <= base {
		t.Errorf("doubling max_connections moved the budget from %d to %d", base, got)
	}
	old := debug.SetMemoryLimit(-1)
	defer debug.SetMemoryLimit(old)
	if b := applyMemoryBudget(s, false); debug.SetMemoryLimit(-1) != b {
		t.Errorf("the runtime's soft limit is not the budget %d", b)
	}
}

func TestReclaimer(t *testing.T) {
	released := 0
	r := reclaimer{release: func() { released++ }}
	for i, step := range []struct {
		open int
		want bool
	}{
		{10, false}, {5000, false}, {4000, false}, // still above half the peak
		{100, true},              // the burst is over
		{90, false}, {90, false}, // not a burst; the second pass is due
		{90, true},                                         // settleTicks after the first
		{90, false}, {90, false}, {90, false}, {90, false}, // nothing more
		{1000, false}, {10, true}, // a second burst
		{40, false}, {0, false}, // fewer than reclaimMin closed
		{0, true}, // its second pass
	} {
		if got := r.observe(step.open); got != step.want {
			t.Errorf("step %d: observe(%d) = %v, want %v (peak %d)", i, step.open, got, step.want, r.peak)
		}
	}
	// Each pass gives SQLite's memory back before the collection.
	if released != 4 {
		t.Errorf("release called %d times, want 4 (once per pass)", released)
	}
}

package main

import (
	"runtime/debug"
	"time"

	"github.com/minipot/minipot/internal/settings"
	"github.com/minipot/minipot/internal/store"
)

// The agent's memory budget, from the settings that bound what it holds
// (docs/agent.md, "Memory"). Each figure was measured on amd64 and is what
// the Go runtime manages: SQLite's page cache lives outside it with
// modernc.org/sqlite, inside it with github.com/ncruces/go-sqlite3 (MIPS).
const (
	// baseMemory: the runtime, the settings, the listeners, the store's
	// prepared statements and the buffers of one batch (~5 MB measured
	// fresh) with room for the collector to work.
	baseMemory = 12 << 20
	// connMemory is a connection's worst case besides its header budget:
	// stack, read and write buffers, the session's state and its events in
	// flight. Idle, one costs about 6.5 KB (TestIdleConnectionStack).
	connMemory = 16 << 10
)

// memoryBudget is the soft limit for the Go runtime: the base, every
// connection the limits allow at its worst (header budget included), the
// store's queue at its byte bound, and the page cache.
func memoryBudget(s settings.Settings) int64 {
	perConn := int64(connMemory + s.Limits.HeaderBytes + s.Limits.RequestLine)
	return baseMemory + int64(s.Limits.MaxConns)*perConn + store.DefaultQueueBytes + store.DefaultCacheKiB<<10
}

// applyMemoryBudget sets the runtime's soft memory limit to the budget of
// s, unless GOMEMLIMIT is set (the owner's word wins). Past the limit the
// collector runs more often rather than let the heap grow; it is soft, so
// the agent never fails for it, and limits.* stay the hard bounds.
func applyMemoryBudget(s settings.Settings, fromEnv bool) int64 {
	if fromEnv {
		return debug.SetMemoryLimit(-1)
	}
	b := memoryBudget(s)
	debug.SetMemoryLimit(b)
	return b
}

// reclaimer gives memory back to the system after a burst of connections:
// when the open connections fall to half of their peak (and by at least
// reclaimMin), it has the store give back SQLite's spare memory (release)
// and a full collection return the freed heap and goroutine stacks at once;
// settleTicks later it does so once more. The runtime's background
// scavenger would return memory too, but only down to about the heap goal
// of the burst: measured, RSS stayed 20 MB above fresh after 5,000 idle
// connections closed. The second pass is there because a goroutine's stack
// outlives it: a dead goroutine keeps its stack until the collection after
// it exited frees it, so the stacks of those still finishing at the first
// pass (and the first pass's own freed stacks) come back only with the
// second; with one pass, 7 MB of stacks stayed resident.
type reclaimer struct {
	peak int
	// settle counts the looks until the second pass (0: none due).
	settle int
	// release, if set, frees memory held outside the Go heap; it is
	// called before each collection.
	release func()
}

// reclaimEvery is how often the reclaimer looks at the open connections:
// often enough to see a burst that lasts a few seconds; a look is an
// atomic load.
const reclaimEvery = time.Second

// reclaimMin connections closing is the least burst worth a collection.
const reclaimMin = 64

// settleTicks is how many looks after a burst's pass the second one comes:
// long enough for the closing connections' goroutines to have exited.
const settleTicks = 3

// observe is called with the open connections every reclaimEvery and
// reports whether it returned memory.
func (r *reclaimer) observe(open int) bool {
	r.peak = max(r.peak, open)
	switch {
	case r.peak-open >= reclaimMin && open <= r.peak/2:
		r.peak = open
		r.settle = settleTicks
	case r.settle > 0:
		r.settle--
		if r.settle > 0 {
			return false
		}
	default:
		return false
	}
	if r.release != nil {
		r.release()
	}
	debug.FreeOSMemory()
	return true
}

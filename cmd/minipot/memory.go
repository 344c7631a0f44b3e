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
// reclaimMin), a full collection returns the freed heap and goroutine
// stacks at once. The runtime's background scavenger would return them
// too, but over minutes and not all: measured, RSS stayed 20 MB above
// fresh after 5,000 idle connections closed.
type reclaimer struct {
	peak int
}

// reclaimEvery is how often the reclaimer looks at the open connections:
// often enough to see a burst that lasts a few seconds; a look is an
// atomic load.
const reclaimEvery = time.Second

// reclaimMin connections closing is the least burst worth a collection.
const reclaimMin = 64

// observe is called with the open connections every reclaimEvery and
// reports whether it returned memory.
func (r *reclaimer) observe(open int) bool {
	r.peak = max(r.peak, open)
	if r.peak-open < reclaimMin || open > r.peak/2 {
		return false
	}
	r.peak = open
	debug.FreeOSMemory()
	return true
}

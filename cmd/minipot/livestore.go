package main

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"

	"github.com/rs/zerolog"

	"github.com/minipot/minipot/internal/event"
	"github.com/minipot/minipot/internal/report"
	"github.com/minipot/minipot/internal/settings"
	"github.com/minipot/minipot/internal/store"
)

// Store states in the agent's report (report.StoreCounters.State).
const (
	storeOpen        = "open"
	storeUnavailable = "unavailable"
)

// liveStore is the agent's event sink: the store at store.path while it can
// be opened, and none while it cannot (another program's database there, a
// folder the agent may not write, a file system without shared memory
// maps). Without a store the fakes keep serving and their events are
// dropped and counted: a file the owner must move is no reason to take the
// minipots down, and exiting would only have procd restart the agent in a
// loop. A reload opens the store again when there is none, or when
// store.max_size changed (the bound is fixed when a store is opened: the
// database's page limit, the WAL's size, the page cache).
//
// Emit never waits for a reopen: the store is an atomic pointer, nil
// while being swapped (the events of those milliseconds are counted as
// dropped), so a connection never blocks on the store.
type liveStore struct {
	log zerolog.Logger
	cur atomic.Pointer[store.Store]
	// noStore counts the events emitted while there was no store.
	noStore atomic.Uint64

	// mu orders reopen against counters; Emit does not take it.
	mu      sync.Mutex
	path    string // absolute path written, or tried
	maxSize int    // store.max_size of the open store, MiB
	problem string // why there is no store ("" while there is)
	// retired is the store a reopen closed last: a connection may still
	// hand it an event (counted as its dropped), so its counters are read
	// live; those of the ones before it are in base.
	retired *store.Store
	base    report.StoreCounters
}

// openLiveStore opens the store of s. It fails only for a path that cannot
// be made absolute; a store that cannot be opened leaves the agent without
// one, said in the log and the report.
func openLiveStore(s settings.Settings, log zerolog.Logger) *liveStore {
	l := &liveStore{log: log}
	l.open(s)
	return l
}

// open opens the store of s; l.mu is held or l not yet shared.
func (l *liveStore) open(s settings.Settings) {
	l.path = s.Store.Path
	if abs, err := filepath.Abs(s.Store.Path); err == nil {
		l.path = abs
	}
	st, err := store.Open(s.Store.Path, storeOptions(s, l.log))
	if err != nil {
		l.problem = fmt.Sprintf("no events are stored: %v. The minipots keep running; their events are counted as dropped until the store opens: move the file away or set another store.path, then reload (reload_config)", err)
		l.log.Error().Err(err).Str("path", l.path).Msg("store unavailable: the fakes keep running without it; move the file or change store.path, then reload")
		return
	}
	l.problem, l.maxSize = "", s.Store.MaxSize
	if msg := st.Recovered(); msg != "" {
		l.log.Error().Str("path", l.path).Msg("store: " + msg)
	}
	l.log.Info().Str("path", l.path).Str("sqlite", store.Driver).Int("max_size_mib", s.Store.MaxSize).Msg("store open")
	l.cur.Store(st)
}

// Emit implements event.Sink.
func (l *liveStore) Emit(e *event.Event) {
	if st := l.cur.Load(); st != nil {
		st.Emit(e)
		return
	}
	l.noStore.Add(1)
}

// reload applies the store settings of next: without a store it tries to
// open one (at next's path: with no store written, nothing holds the old
// one); with a store, a new max_size reopens it, the retention limits
// apply in place. A new path with a store open takes effect at restart, as
// the API tells the owner. It reports whether store.path was left as it
// was for that reason.
func (l *liveStore) reload(next settings.Settings) (pathPending bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	st := l.cur.Load()
	switch {
	case st == nil:
		l.open(next)
		return false
	case next.Store.MaxSize != l.maxSize:
		// Close before opening: one writer per file. Events of the gap
		// are counted as dropped.
		l.cur.Store(nil)
		l.retire(st)
		s := next
		s.Store.Path = l.path // the path stays until restart
		l.open(s)
		l.log.Info().Int("max_size_mib", next.Store.MaxSize).Msg("reload: store reopened with the new store.max_size")
	default:
		st.SetRetention(next.Store.MaxAge, int64(next.Store.MaxRows))
	}
	return !sameFile(next.Store.Path, l.path)
}

// retire closes st, keeping its counters; l.mu is held.
func (l *liveStore) retire(st *store.Store) {
	if err := st.Close(); err != nil {
		l.log.Error().Err(err).Msg("store")
	}
	if r := l.retired; r != nil {
		l.base.Written += r.Written()
		l.base.Dropped += r.Dropped()
		l.base.Evicted += r.Evicted()
	}
	l.retired = st
}

// counters is the store's part of the agent's report.
func (l *liveStore) counters() report.StoreCounters {
	l.mu.Lock()
	defer l.mu.Unlock()
	c := l.base
	c.Path, c.State, c.Problem = l.path, storeOpen, l.problem
	c.Dropped += l.noStore.Load()
	for _, st := range []*store.Store{l.retired, l.cur.Load()} {
		if st != nil {
			c.Written += st.Written()
			c.Dropped += st.Dropped()
			c.Evicted += st.Evicted()
		}
	}
	if st := l.cur.Load(); st != nil {
		c.Recovered = st.Recovered()
	} else {
		c.State = storeUnavailable
	}
	return c
}

// releaseMemory has the store give back SQLite's spare memory.
func (l *liveStore) releaseMemory(ctx context.Context) error {
	if st := l.cur.Load(); st != nil {
		return st.ReleaseMemory(ctx)
	}
	return nil
}

// close closes the store, writing what is queued, and logs its totals.
func (l *liveStore) close() {
	l.mu.Lock()
	if st := l.cur.Swap(nil); st != nil {
		l.retire(st)
	}
	l.mu.Unlock()
	c := l.counters()
	l.log.Info().Uint64("written", c.Written).Uint64("dropped", c.Dropped).Msg("store closed")
}

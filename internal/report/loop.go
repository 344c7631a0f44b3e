package report

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// DefaultEvery is how often Loop refreshes the report when Every is zero:
// the counters change all the time, the rest only on Set.
const DefaultEvery = 10 * time.Second

// Loop keeps the report file in the run folder up to date: at once on
// every Set (a reload the API waits for), and every Every for the
// counters. Set and the periodic write may run in different goroutines.
type Loop struct {
	Dir   string
	Every time.Duration // zero: DefaultEvery
	// Live fills in what changes on its own (listeners, counters) just
	// before each write; it must be safe to call from Run's goroutine.
	Live func(*Report)
	// OnError is told about a write that failed (nil: ignored): a missing
	// report costs the API its view of the agent, not the agent its work.
	OnError func(error)

	mu      sync.Mutex
	base    Report
	stopped bool // Run has removed the report: write no more
}

// Set changes the report's fixed part with f and writes the report now.
func (l *Loop) Set(f func(*Report)) {
	l.mu.Lock()
	defer l.mu.Unlock()
	f(&l.base)
	if !l.stopped {
		l.writeLocked()
	}
}

// Run writes the report every Every until ctx ends, then removes it: an
// agent that has stopped leaves no report behind.
func (l *Loop) Run(ctx context.Context) {
	every := l.Every
	if every <= 0 {
		every = DefaultEvery
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			l.mu.Lock()
			l.stopped = true
			os.Remove(filepath.Join(l.Dir, File))
			l.mu.Unlock()
			return
		case <-t.C:
			l.mu.Lock()
			l.writeLocked()
			l.mu.Unlock()
		}
	}
}

func (l *Loop) writeLocked() {
	if l.Dir == "" { // no run folder: nobody to tell
		return
	}
	r := l.base
	if l.Live != nil {
		l.Live(&r)
	}
	r.Updated = time.Now().UTC()
	if err := Write(l.Dir, r); err != nil && l.OnError != nil {
		l.OnError(err)
	}
}

// Package eventtest has an event.Sink that records, for the tests of the
// packages that emit events.
package eventtest

import (
	"sync"
	"testing"
	"time"

	"github.com/minipot/minipot/internal/event"
)

// Recorder keeps every event emitted to it. It is safe for concurrent use.
type Recorder struct {
	mu   sync.Mutex
	evs  []event.Event
	more chan struct{} // signalled after each Emit, for Wait
}

// New makes an empty Recorder.
func New() *Recorder { return &Recorder{more: make(chan struct{}, 1)} }

// Emit records e.
func (r *Recorder) Emit(e *event.Event) {
	r.mu.Lock()
	r.evs = append(r.evs, *e)
	r.mu.Unlock()
	select {
	case r.more <- struct{}{}:
	default:
	}
}

// All returns a copy of the events so far.
func (r *Recorder) All() []event.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]event.Event(nil), r.evs...)
}

// Of returns the events so far with action a.
func (r *Recorder) Of(a event.Action) []event.Event {
	var out []event.Event
	for _, e := range r.All() {
		if e.Action == a {
			out = append(out, e)
		}
	}
	return out
}

// Wait returns the events once there are at least n, failing t after 5 s.
func (r *Recorder) Wait(t testing.TB, n int) []event.Event {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		if evs := r.All(); len(evs) >= n {
			return evs
		}
		select {
		case <-r.more:
		case <-deadline:
			evs := r.All()
			t.Fatalf("%d events, want %d: %+v", len(evs), n, evs)
		}
	}
}

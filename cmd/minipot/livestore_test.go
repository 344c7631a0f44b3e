package main

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/minipot/minipot/internal/event"
	"github.com/minipot/minipot/internal/settings"
)

// TestLiveStore: the agent's sink without a store counts what it drops and
// opens the store on reload once it can; a new max_size reopens the store
// with the new bound, and the counters carry across the reopen.
func TestLiveStore(t *testing.T) {
	dir := t.TempDir()
	s := settings.Defaults()
	s.Store.Path = filepath.Join(dir, "events.db")
	// Unusable: a folder where the file should be.
	if err := os.Mkdir(s.Store.Path, 0o755); err != nil {
		t.Fatal(err)
	}
	l := openLiveStore(s, zerolog.Nop())
	defer l.close()
	emit := func(n int) {
		for range n {
			l.Emit(&event.Event{Service: "23tcp", Action: event.Connect, SrcIP: "192.0.2.1", Time: time.Now()})
		}
	}
	emit(3)
	if c := l.counters(); c.State != storeUnavailable || c.Problem == "" || c.Dropped != 3 || c.Written != 0 {
		t.Fatalf("without a store: %+v", c)
	}

	if err := os.Remove(s.Store.Path); err != nil {
		t.Fatal(err)
	}
	if l.reload(s) {
		t.Error("reload reports the path pending though nothing was written")
	}
	emit(5)
	flush := func() {
		if err := l.cur.Load().Flush(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	flush()
	if c := l.counters(); c.State != storeOpen || c.Problem != "" || c.Written != 5 || c.Dropped != 3 {
		t.Fatalf("after the reload: %+v", c)
	}

	s.Store.MaxSize = 4
	l.reload(s)
	if got := l.cur.Load().Bound(); got != 4<<20 {
		t.Fatalf("after a reload with max_size 4 the bound is %d", got)
	}
	emit(2)
	flush()
	if c := l.counters(); c.Written != 7 || c.Dropped != 3 {
		t.Fatalf("the counters did not carry across the reopen: %+v", c)
	}

	moved := s
	moved.Store.Path = filepath.Join(dir, "other.db")
	if !l.reload(moved) {
		t.Error("a new store.path with a store open is not reported as pending")
	}
}

package store

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/minipot/minipot/internal/event"
)

func TestBudgetFor(t *testing.T) {
	for _, size := range []int64{0, MinMaxSize, 16 << 20, 1 << 30} {
		b := BudgetFor(size)
		if size == 0 {
			if b != (Budget{}) {
				t.Errorf("BudgetFor(0) = %+v, want zero", b)
			}
			continue
		}
		if sum := b.DB + b.WAL + b.Stats + b.Reserve; sum != size {
			t.Errorf("BudgetFor(%d): shares add up to %d", size, sum)
		}
		if b.DB < size/3 || b.Reserve > 1<<20 || b.WAL <= 0 || b.Stats <= 0 {
			t.Errorf("BudgetFor(%d) = %+v", size, b)
		}
	}
	if _, err := (Options{MaxSize: MinMaxSize - 1}).withDefaults(); err == nil {
		t.Error("a MaxSize below MinMaxSize was accepted")
	}
}

// A flood of events with distinct URLs far beyond what MaxSize holds: every
// file stays within its share after every batch, the oldest events go, the
// newest stay, ids keep growing, and the evictions are counted.
func TestMaxSizeFlood(t *testing.T) {
	const maxSize = 2 << 20
	s, _ := openTest(t, Options{MaxSize: maxSize, BatchSize: 512, QueueSize: 4096})
	b := BudgetFor(maxSize)
	ctx := context.Background()
	// A reader querying all along, as the API does: its snapshots are what
	// keep automatic checkpoints from restarting the WAL.
	r, err := OpenReader(s.reader.path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	stop := make(chan struct{})
	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		for {
			select {
			case <-stop:
				return
			default:
			}
			_, _, _ = r.Query(ctx, Filter{Limit: 500})
		}
	}()
	defer func() { close(stop); <-readerDone }()
	const rounds, perRound = 15, 1000
	var lastHi int64
	for r := range rounds {
		for i := range perRound {
			n := r*perRound + i
			s.Emit(&event.Event{Time: time.UnixMilli(1e12 + int64(n)), Service: "80tcp", Port: 80,
				SrcIP: fmt.Sprintf("198.51.%d.%d", n/250%250, n%250), SrcPort: 40000, ConnID: int64(n),
				Action: event.Request, Method: "GET", URL: fmt.Sprintf("/cgi-bin/%d/%s", n, strings.Repeat("x", 150)),
				UserAgent: "Mozilla/5.0 (flood)"})
			if i%500 == 499 {
				flush(t, s)
			}
		}
		flush(t, s)
		u, err := s.Usage()
		if err != nil {
			t.Fatal(err)
		}
		if u.Total() > maxSize {
			t.Fatalf("round %d: store files take %d bytes (%+v), over max size %d", r, u.Total(), u, maxSize)
		}
		if u.WAL > b.WAL+b.WAL/2 {
			t.Fatalf("round %d: WAL is %d bytes, its share is %d", r, u.WAL, b.WAL)
		}
		lo, hi, err := s.IDRange(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if hi <= lastHi || lo > hi {
			t.Fatalf("round %d: id range %d-%d after %d", r, lo, hi, lastHi)
		}
		lastHi = hi
	}
	if s.Dropped() != 0 {
		t.Errorf("%d events dropped; with flushes between rounds none should be", s.Dropped())
	}
	if s.Evicted() == 0 {
		t.Fatal("nothing evicted: the flood did not reach the bound")
	}
	n, err := s.Count(ctx, Filter{})
	if err != nil {
		t.Fatal(err)
	}
	lo, hi, _ := s.IDRange(ctx)
	if hi != rounds*perRound || uint64(n)+s.Evicted() != rounds*perRound || lo != hi-n+1 {
		t.Errorf("ids %d-%d, %d rows, %d evicted: want the newest kept and the rest counted", lo, hi, n, s.Evicted())
	}
	if n < 2000 {
		t.Errorf("only %d events kept in %d bytes", n, maxSize)
	}
	t.Logf("%d events kept, %d evicted", n, s.Evicted())
}

package export

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/minipot/minipot/internal/event"
	"github.com/minipot/minipot/internal/store"
)

// Source is the outbox: the store's events after a cursor.
// (*store.Reader).After implements it.
type Source interface {
	After(ctx context.Context, after int64, limit int) (store.OutboxPage, error)
}

// Sink is one destination of events.
type Sink interface {
	// Send delivers a batch and returns only once the receiver has
	// acknowledged all of it; an error means none of it counts.
	Send(ctx context.Context, evs []event.Event) error
	// Idle keeps an idle connection alive (MQTT's PINGREQ).
	Idle(ctx context.Context) error
	Close() error
}

// Pump moves events from a Source to a Sink: a batch at a time, after a
// persistent cursor that advances only on the Sink's acknowledgement.
type Pump struct {
	Name       string                                  // "mqtt" or "webhook", in logs
	Source     Source                                  //
	Connect    func(ctx context.Context) (Sink, error) //
	CursorPath string                                  // the cursor file
	Batch      int                                     // events per batch (default 100)
	Interval   time.Duration                           // poll when idle (default 5s)
	// Backoff bounds the reconnection delay, which doubles from
	// BackoffMin (default 1s) to BackoffMax (default 5m) with jitter.
	BackoffMin, BackoffMax time.Duration
	// PingEvery is how often an idle connection is kept alive (default 30s).
	PingEvery time.Duration
	Log       zerolog.Logger

	mu sync.Mutex
	st SinkStatus
}

// Status returns a copy of the pump's state.
func (p *Pump) Status() SinkStatus {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.st
}

func (p *Pump) update(fn func(*SinkStatus)) {
	p.mu.Lock()
	fn(&p.st)
	p.mu.Unlock()
}

func (p *Pump) fail(err error) {
	now := time.Now().UTC()
	p.update(func(s *SinkStatus) { s.Connected, s.LastError, s.ErrorAt = false, err.Error(), &now })
}

// Run exports until ctx ends. It returns an error only for a cursor it
// cannot read or write: everything else (broker down, store missing) is
// retried and reported in Status.
func (p *Pump) Run(ctx context.Context) error {
	batch := p.Batch
	if batch <= 0 {
		batch = 100
	}
	interval := orDefault(p.Interval, 5*time.Second)
	pingEvery := orDefault(p.PingEvery, 30*time.Second)
	minB, maxB := orDefault(p.BackoffMin, time.Second), orDefault(p.BackoffMax, 5*time.Minute)
	cur, err := LoadCursor(p.CursorPath)
	if err != nil {
		p.fail(err)
		return err
	}
	p.update(func(s *SinkStatus) { s.Enabled, s.Cursor, s.Lost = true, cur.After, cur.Lost })

	var sink Sink
	defer func() {
		if sink != nil {
			sink.Close()
		}
		p.update(func(s *SinkStatus) { s.Connected = false })
	}()
	backoff := minB
	retry := func(err error) bool {
		p.fail(err)
		p.Log.Warn().Err(err).Str("sink", p.Name).Dur("retry_in", backoff).Msg("export")
		if sink != nil {
			sink.Close()
			sink = nil
		}
		// Full jitter over the upper half: routers that lost the same
		// broker at once do not all come back in step.
		d := backoff/2 + rand.N(backoff/2+1)
		backoff = min(backoff*2, maxB)
		return sleep(ctx, d)
	}
	lastTraffic := time.Now()
	for ctx.Err() == nil {
		page, err := p.Source.After(ctx, cur.After, batch)
		if err != nil {
			if !retry(fmt.Errorf("read the store: %w", err)) {
				break
			}
			continue
		}
		// A store whose ids end below the cursor is a new file (deleted,
		// or /var lost at a reboot while the cursor was kept elsewhere):
		// start it from the beginning rather than skip its events.
		if page.LastID < cur.After {
			p.Log.Warn().Str("sink", p.Name).Int64("cursor", cur.After).Int64("last_id", page.LastID).
				Msg("the store is new (its ids end below the cursor): exporting it from the start")
			if err := p.advanceTo(&cur, 0); err != nil {
				return err
			}
			continue
		}
		// Ids are never reused and only retention or a purge deletes,
		// so an id missing after the cursor was deleted unsent.
		lost := int64(0)
		next := cur.After
		for _, e := range page.Events {
			lost += e.ID - next - 1
			next = e.ID
		}
		if len(page.Events) == 0 && page.LastID > cur.After {
			lost += page.LastID - cur.After
			next = page.LastID
		}
		waiting := page.LastID - max(next, page.MinID-1)
		if len(page.Events) > 0 {
			waiting = page.LastID - max(cur.After, page.MinID-1)
		}
		p.update(func(s *SinkStatus) { s.Waiting = max(waiting, 0) })

		// Connect even with nothing to send, so that a wrong URL,
		// certificate or password shows in the status at once.
		if sink == nil {
			s, err := p.Connect(ctx)
			if err != nil {
				if !retry(err) {
					break
				}
				continue
			}
			sink = s
			p.update(func(s *SinkStatus) { s.Connected = true })
			p.Log.Info().Str("sink", p.Name).Msg("export connected")
		}

		if len(page.Events) == 0 {
			if lost > 0 {
				if err := p.advance(&cur, next, lost, 0); err != nil {
					return err
				}
			}
			if sink != nil && time.Since(lastTraffic) >= pingEvery {
				if err := sink.Idle(ctx); err != nil {
					if !retry(err) {
						break
					}
					continue
				}
				lastTraffic = time.Now()
			}
			if !sleep(ctx, min(interval, pingEvery)) {
				break
			}
			continue
		}
		started := time.Now()
		if err := sink.Send(ctx, page.Events); err != nil {
			if ctx.Err() != nil {
				break
			}
			if !retry(err) {
				break
			}
			continue
		}
		backoff = minB
		lastTraffic = time.Now()
		if err := p.advance(&cur, next, lost, len(page.Events)); err != nil {
			return err
		}
		p.update(func(s *SinkStatus) {
			s.Waiting = max(page.LastID-max(next, page.MinID-1), 0)
			s.Connected = true
		})
		// The rate cap: a sink says what pause a batch it sent owes.
		if pc, ok := sink.(interface{ Pause(n int) time.Duration }); ok {
			if !sleep(ctx, pc.Pause(len(page.Events))-time.Since(started)) {
				break
			}
		}
	}
	return nil
}

// advance moves the cursor past what was acknowledged (or lost), on disk
// first: a crash after the file is written repeats nothing, a crash before
// it repeats the batch (at-least-once).
func (p *Pump) advance(cur *Cursor, next, lost int64, sent int) error {
	if lost > 0 {
		p.Log.Warn().Str("sink", p.Name).Int64("events", lost).Int64("after", cur.After).
			Msg("events deleted by retention or a purge before they were exported")
	}
	c := Cursor{After: next, Lost: cur.Lost + lost}
	if err := c.Save(p.CursorPath); err != nil {
		p.fail(err)
		return err
	}
	*cur = c
	now := time.Now().UTC()
	p.update(func(s *SinkStatus) {
		s.Cursor, s.Lost = c.After, c.Lost
		if sent > 0 {
			s.Sent += uint64(sent)
			s.LastExport = &now
			s.LastError, s.ErrorAt = "", nil
		}
	})
	return nil
}

// advanceTo resets the cursor to after (used when the store is new).
func (p *Pump) advanceTo(cur *Cursor, after int64) error {
	c := Cursor{After: after, Lost: cur.Lost}
	if err := c.Save(p.CursorPath); err != nil {
		p.fail(err)
		return err
	}
	*cur = c
	p.update(func(s *SinkStatus) { s.Cursor = after })
	return nil
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// sleep waits d or until ctx ends; false if ctx ended.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

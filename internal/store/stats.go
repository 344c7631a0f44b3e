package store

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/minipot/minipot/internal/event"
	"github.com/minipot/minipot/internal/settings"
)

// Statistics over a full store cannot be answered from the events table in
// time: grouping a million events by service or by source address reads
// the whole table (1-2 s on a 2-core x86, far more on a router), and the
// only indexes are ts and (src_ip, ts), chosen for the writer's sake.
//
// Stats therefore keeps summaries in a private SQLite file of its own: per
// hour, per day and per week, the count of each (kind, value) — service and action,
// source address, username, password, pair, URL, proxy target — plus the
// total over everything stored. It follows the store by event id: ids only
// grow (AUTOINCREMENT), so each refresh adds the events above the last id
// it saw. Deletions happen at the old end (retention by age and by row
// count): the hours they touched are dropped or recounted from the events
// that remain. A purge goes through Invalidate, and a count check catches
// anything else (a clock that jumped) by rebuilding.
//
// Windows are whole hours: Summary widens Since and Until to hour
// boundaries (UTC), so that every answer comes from the summaries.

const (
	hourMS       = int64(time.Hour / time.Millisecond)
	hoursPerDay  = 24
	hoursPerWeek = 7 * 24
	ingestChunk  = 20000
	maxTop       = 1000
	maxStatHours = 24 * 400 // longest hourly series Summary returns
)

// statKind is what a summary row counts.
type statKind int

const (
	kindAction   statKind = iota // value: service "\x00" action
	kindSource                   // connections (connect events) per source address
	kindUsername                 // login events per username
	kindPassword                 // login events per password
	kindPair                     // login events per pair (pairKey)
	kindURL                      // requests to an HTTP fake per URL
	kindTarget                   // requests to a proxy fake per target
	numKinds
)

const statsSchema = `
CREATE TABLE hours (hour INTEGER PRIMARY KEY, n INTEGER NOT NULL, min_id INTEGER NOT NULL, max_id INTEGER NOT NULL);
CREATE TABLE roll (kind INTEGER NOT NULL, hour INTEGER NOT NULL, value BLOB NOT NULL, n INTEGER NOT NULL,
	PRIMARY KEY (kind, hour, value)) WITHOUT ROWID;
CREATE TABLE rollday (kind INTEGER NOT NULL, day INTEGER NOT NULL, value BLOB NOT NULL, n INTEGER NOT NULL,
	PRIMARY KEY (kind, day, value)) WITHOUT ROWID;
CREATE TABLE rollweek (kind INTEGER NOT NULL, week INTEGER NOT NULL, value BLOB NOT NULL, n INTEGER NOT NULL,
	PRIMARY KEY (kind, week, value)) WITHOUT ROWID;
CREATE TABLE total (kind INTEGER NOT NULL, value BLOB NOT NULL, n INTEGER NOT NULL,
	PRIMARY KEY (kind, value)) WITHOUT ROWID;
CREATE INDEX total_n ON total (kind, n DESC, value);`

// Stats answers statistics about the events of a Reader from summaries it
// keeps up to date. It is safe for concurrent use; refreshes and queries
// are serialized.
type Stats struct {
	r    *Reader
	path string // the summary file, removed by Close
	db   *sql.DB
	// lockFile holds the flock that marks the file in use; maxBytes is
	// its bound (0: none).
	lockFile *os.File
	maxBytes int64

	// lock is a one-slot semaphore rather than a mutex so that a waiting
	// request can give up when its context ends (a first build of a large
	// store takes seconds).
	lock chan struct{}
	// Guarded by lock: the highest event id counted, the lowest event id
	// and time seen at the last refresh, and how many events the
	// summaries hold.
	lastID, minID, minTS int64
	counted              int64
	// floor: only events above this id are counted (0: all). It rises
	// when the summaries outgrow maxBytes; the answers are then partial
	// (Summary.Partial) until retention has deleted every event below it.
	floor int64

	// stale makes the next refresh start over; set without the lock so
	// that a purge never waits for a refresh.
	stale atomic.Bool
}

// OpenStats makes the summaries of r's events in a new file beside the
// store (dir "", what the API does) or in dir. They are built by the first
// Refresh or Summary. maxBytes bounds the file (Budget.Stats; 0: no bound):
// past it a refresh fails with an error that says so, and the file never
// grows further. Beside the store, the file counts in the store's Size and
// MaxSize; files left by a process that died are removed here.
func OpenStats(r *Reader, dir string, maxBytes int64) (*Stats, error) {
	pattern := filepath.Base(r.path) + ".stats-*"
	if dir == "" {
		dir = filepath.Dir(r.path)
		removeStaleStats(filepath.Join(dir, pattern))
	}
	f, err := os.CreateTemp(dir, pattern)
	if err != nil {
		return nil, fmt.Errorf("create statistics file: %w", err)
	}
	path := f.Name()
	// The flock says "in use" to removeStaleStats in other processes; it is
	// released when the process ends however it ends. SQLite's own locks
	// are fcntl locks, which flock does not touch.
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		os.Remove(path)
		return nil, fmt.Errorf("lock statistics file: %w", err)
	}
	// The summaries can always be rebuilt: no fsync, and the rollback
	// journal in memory.
	pragmas := []string{"journal_mode(memory)", "synchronous(off)", "cache_size(-4096)"}
	if maxBytes > 0 {
		pragmas = append(pragmas, "max_page_count("+strconv.FormatInt(max(maxBytes/4096, 16), 10)+")")
	}
	db, err := openDB(path, url.Values{"_pragma": pragmas})
	if err != nil {
		f.Close()
		os.Remove(path)
		return nil, fmt.Errorf("open statistics file: %w", err)
	}
	db.SetMaxOpenConns(1)
	if _, err := db.Exec(statsSchema); err != nil {
		db.Close()
		f.Close()
		os.Remove(path)
		return nil, fmt.Errorf("create statistics tables: %w", err)
	}
	return &Stats{r: r, path: path, db: db, lockFile: f, maxBytes: maxBytes, lock: make(chan struct{}, 1)}, nil
}

// withCtxErr makes err wrap ctx's error when ctx ended: modernc.org/sqlite
// returns the context's error for a statement it interrupted, ncruces
// (MIPS) its own "interrupted", and callers tell a deadline from a fault
// with errors.Is (the API answers 503 and Retry-After to the first).
func withCtxErr(ctx context.Context, err error) error {
	if err == nil || ctx.Err() == nil || errors.Is(err, ctx.Err()) {
		return err
	}
	return fmt.Errorf("%w: %w", ctx.Err(), err)
}

// removeStaleStats removes the statistics files matching pattern that no
// process holds (see OpenStats).
func removeStaleStats(pattern string) {
	paths, _ := filepath.Glob(pattern)
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			continue
		}
		if syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) == nil {
			os.Remove(p)
		}
		f.Close()
	}
}

// Close removes the summary file. It does not close the Reader.
func (s *Stats) Close() error {
	s.lock <- struct{}{}
	err := s.db.Close()
	s.lockFile.Close()
	if rerr := os.Remove(s.path); rerr != nil && err == nil && !errors.Is(rerr, os.ErrNotExist) {
		err = rerr
	}
	if err != nil {
		return fmt.Errorf("close statistics: %w", err)
	}
	return nil
}

func (s *Stats) acquire(ctx context.Context) error {
	select {
	case s.lock <- struct{}{}:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("statistics busy: %w", ctx.Err())
	}
}

func (s *Stats) release() { <-s.lock }

// Invalidate makes the next refresh start over: after a purge, which
// changes events in place rather than at the old end.
func (s *Stats) Invalidate() { s.stale.Store(true) }

// Refresh brings the summaries up to date. With check, it also compares
// the number of events counted with the store's and rebuilds on a
// mismatch; that costs a scan of the ts index (tens of ms for a million
// events), so it is for a periodic background refresh.
func (s *Stats) Refresh(ctx context.Context, check bool) error {
	if err := s.acquire(ctx); err != nil {
		return err
	}
	defer s.release()
	return s.refresh(ctx, check)
}

// floorTries bounds how often one refresh halves what it counts before it
// gives up: a sixteenth of the events not fitting means the share is far
// too small for them.
const floorTries = 4

// refresh is Refresh with the lock held. A refresh that finds its file at
// maxBytes starts over counting only the newer half of the events it was
// counting (see floor), and so on up to floorTries times: the owner gets
// statistics of the newest events, marked as partial, rather than none.
// Only past that does it fail, saying why; the summaries are then rebuilt
// next time (retention may have made room by then).
func (s *Stats) refresh(ctx context.Context, check bool) error {
	for try := 0; ; try++ {
		err := withCtxErr(ctx, s.refreshLocked(ctx, check))
		if !isFull(err) {
			return err
		}
		s.stale.Store(true)
		if try == floorTries {
			return fmt.Errorf("statistics need more than their share of store.max_size (%d bytes), even for the newest sixteenth of the events: %w", s.maxBytes, err)
		}
		if err := s.raiseFloor(ctx); err != nil {
			return err
		}
	}
}

// raiseFloor halves the events to be counted, keeping the newer half.
func (s *Stats) raiseFloor(ctx context.Context) error {
	var lo, hi sql.NullInt64
	if err := idRange(ctx, s.r.db, &lo, &hi); err != nil {
		return withCtxErr(ctx, fmt.Errorf("statistics: %w", err))
	}
	from := max(s.floor, lo.Int64-1)
	s.floor = from + max((hi.Int64-from)/2, 1)
	return nil
}

func (s *Stats) refreshLocked(ctx context.Context, check bool) error {
	if s.stale.Swap(false) {
		if err := s.reset(ctx); err != nil {
			s.stale.Store(true)
			return err
		}
	}
	// One read transaction: every read below sees the same snapshot.
	tx, err := s.r.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return fmt.Errorf("statistics: %w", err)
	}
	defer tx.Rollback()
	// One aggregate per statement: SQLite answers a lone min() or max()
	// from one end of an index, but scans the table for min() and max()
	// together.
	var minID, maxID, minTS sql.NullInt64
	if err := idRange(ctx, tx, &minID, &maxID); err != nil {
		return fmt.Errorf("statistics: %w", err)
	}
	if err := tx.QueryRowContext(ctx, "SELECT min(ts) FROM events").Scan(&minTS); err != nil {
		return fmt.Errorf("statistics: %w", err)
	}
	if !maxID.Valid { // empty store
		if s.counted > 0 {
			return s.reset(ctx)
		}
		return nil
	}
	if maxID.Int64 < s.lastID {
		// Ids never go back in a store: this is another file.
		s.floor = 0
		if err := s.reset(ctx); err != nil {
			return err
		}
	}
	if s.counted > 0 {
		if err := s.trimOld(ctx, tx, minID.Int64, minTS.Int64); err != nil {
			return err
		}
	}
	s.minID, s.minTS = minID.Int64, minTS.Int64
	for s.lastID < maxID.Int64 {
		if err := s.ingest(ctx, tx, maxID.Int64); err != nil {
			return err
		}
	}
	if check {
		var n int64
		// count(*) without a condition walks the small ts index; the
		// events above lastID arrived after the snapshot started, which
		// a read transaction does not see.
		if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM events WHERE id > ?", s.floor).Scan(&n); err != nil {
			return fmt.Errorf("statistics: %w", err)
		}
		if n != s.counted {
			if err := s.reset(ctx); err != nil {
				return err
			}
			for s.lastID < maxID.Int64 {
				if err := s.ingest(ctx, tx, maxID.Int64); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// reset empties the summaries.
func (s *Stats) reset(ctx context.Context) error {
	for _, t := range []string{"hours", "roll", "rollday", "rollweek", "total"} {
		if _, err := s.db.ExecContext(ctx, "DELETE FROM "+t); err != nil {
			return fmt.Errorf("statistics: reset: %w", err)
		}
	}
	s.lastID, s.minID, s.minTS, s.counted = s.floor, 0, 0, 0
	return nil
}

// rkey is one summary row.
type rkey struct {
	kind  statKind
	hour  int64
	value string
}

// delta accumulates changes of counts, and the id range and count per hour.
type delta struct {
	counts map[rkey]int64
	hours  map[int64]*hourInfo
}

type hourInfo struct{ n, minID, maxID int64 }

func newDelta() *delta {
	return &delta{counts: make(map[rkey]int64), hours: make(map[int64]*hourInfo)}
}

// statRow is what Stats reads of an event.
type statRow struct {
	id, ts                   int64
	count                    int64 // events the row stands for (event.Event.Count)
	service, action, src     string
	username, password, link string
}

const statColumns = "id, ts, service, action, src_ip, username, password, url, count"

func scanStatRow(rows *sql.Rows) (statRow, error) {
	var r statRow
	var user, pass, u sql.RawBytes
	if err := rows.Scan(&r.id, &r.ts, &r.service, &r.action, &r.src, &user, &pass, &u, &r.count); err != nil {
		return r, fmt.Errorf("statistics: read event: %w", err)
	}
	r.username, r.password, r.link = string(user), string(pass), string(u)
	return r, nil
}

// addRows counts every row of rows into d, closes rows, and returns the
// last id read (0 for none).
func (d *delta) addRows(rows *sql.Rows) (last int64, err error) {
	defer rows.Close()
	for rows.Next() {
		e, err := scanStatRow(rows)
		if err != nil {
			return 0, err
		}
		d.add(e, 1)
		last = e.id
	}
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("statistics: %w", err)
	}
	return last, nil
}

// add counts one event with sign +1 or -1. The summaries count events (a
// row of repeated requests counts as its Count), while hours.n counts
// rows, which the consistency check compares with the table.
func (d *delta) add(e statRow, sign int64) {
	h := floorDiv(e.ts, hourMS)
	w := sign * max(e.count, 1)
	d.counts[rkey{kindAction, h, e.service + "\x00" + e.action}] += w
	switch event.Action(e.action) {
	case event.Connect:
		d.counts[rkey{kindSource, h, e.src}] += w
	case event.Login, event.Request:
		if e.username != "" || e.password != "" {
			d.counts[rkey{kindUsername, h, e.username}] += w
			d.counts[rkey{kindPassword, h, e.password}] += w
			d.counts[rkey{kindPair, h, pairKey(e.username, e.password)}] += w
		}
		if e.link != "" {
			svc, _ := settings.LookupService(e.service)
			switch svc.Kind {
			case settings.HTTP:
				d.counts[rkey{kindURL, h, e.link}] += w
			case settings.Proxy:
				d.counts[rkey{kindTarget, h, e.link}] += w
			}
		}
	}
	hi := d.hours[h]
	if hi == nil {
		hi = &hourInfo{minID: e.id, maxID: e.id}
		d.hours[h] = hi
	}
	hi.n += sign
	hi.minID, hi.maxID = min(hi.minID, e.id), max(hi.maxID, e.id)
}

// ingest counts up to ingestChunk events above lastID.
func (s *Stats) ingest(ctx context.Context, tx *sql.Tx, maxID int64) error {
	rows, err := tx.QueryContext(ctx, "SELECT "+statColumns+" FROM events WHERE id > ? AND id <= ? ORDER BY id LIMIT ?",
		s.lastID, maxID, ingestChunk)
	if err != nil {
		return fmt.Errorf("statistics: %w", err)
	}
	d := newDelta()
	last, err := d.addRows(rows)
	if err != nil {
		return err
	}
	if last == 0 { // ids up to maxID were deleted meanwhile
		last = maxID
	}
	if err := s.apply(ctx, d, nil); err != nil {
		return err
	}
	s.lastID = last
	return nil
}

// trimOld accounts for retention: events below minID (by row count) or
// before minTS (by age) are gone. Hours all of whose counted events are
// gone are dropped; hours partly gone are counted again.
func (s *Stats) trimOld(ctx context.Context, tx *sql.Tx, minID, minTS int64) error {
	if minID <= s.minID && minTS <= s.minTS {
		return nil
	}
	minHour := floorDiv(minTS, hourMS)
	rows, err := s.db.QueryContext(ctx, "SELECT hour, n, min_id, max_id FROM hours WHERE min_id < ? OR hour <= ?", minID, minHour)
	if err != nil {
		return fmt.Errorf("statistics: %w", err)
	}
	type hourRow struct {
		hour int64
		hourInfo
	}
	var affected []hourRow
	for rows.Next() {
		var h hourRow
		if err := rows.Scan(&h.hour, &h.n, &h.minID, &h.maxID); err != nil {
			rows.Close()
			return fmt.Errorf("statistics: %w", err)
		}
		affected = append(affected, h)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("statistics: %w", err)
	}
	for _, h := range affected {
		// Recount what remains of the hour (only events already counted:
		// the newer ones are ingested after).
		d := newDelta()
		if h.maxID >= minID && h.hour >= minHour {
			rows, err := tx.QueryContext(ctx, "SELECT "+statColumns+" FROM events WHERE ts >= ? AND ts < ? AND id <= ?",
				h.hour*hourMS, (h.hour+1)*hourMS, s.lastID)
			if err != nil {
				return fmt.Errorf("statistics: %w", err)
			}
			if _, err := d.addRows(rows); err != nil {
				return err
			}
		}
		if err := s.apply(ctx, d, &h.hour); err != nil {
			return err
		}
	}
	return nil
}

// apply adds d to the summaries. With replace set, d is the new content of
// that hour: its old rows are subtracted first.
func (s *Stats) apply(ctx context.Context, d *delta, replace *int64) (err error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("statistics: %w", err)
	}
	defer func() {
		if err != nil {
			tx.Rollback()
		}
	}()
	var oldN int64
	if replace != nil {
		h := *replace
		rows, err := tx.QueryContext(ctx, "SELECT kind, value, n FROM roll WHERE hour = ?", h)
		if err != nil {
			return fmt.Errorf("statistics: %w", err)
		}
		for rows.Next() {
			var k rkey
			var n int64
			if err := rows.Scan(&k.kind, &k.value, &n); err != nil {
				rows.Close()
				return fmt.Errorf("statistics: %w", err)
			}
			k.hour = h
			d.counts[k] -= n
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("statistics: %w", err)
		}
		if err := tx.QueryRowContext(ctx, "SELECT coalesce(sum(n), 0) FROM hours WHERE hour = ?", h).Scan(&oldN); err != nil {
			return fmt.Errorf("statistics: %w", err)
		}
		hi := d.hours[h]
		if hi == nil {
			hi = &hourInfo{}
			d.hours[h] = hi
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM hours WHERE hour = ?", h); err != nil {
			return fmt.Errorf("statistics: %w", err)
		}
	}
	stmts := make([]*sql.Stmt, 0, 8)
	prep := func(q string) *sql.Stmt {
		if err != nil {
			return nil
		}
		var st *sql.Stmt
		st, err = tx.PrepareContext(ctx, q)
		stmts = append(stmts, st)
		return st
	}
	upRoll := prep("INSERT INTO roll VALUES (?, ?, ?, ?) ON CONFLICT DO UPDATE SET n = n + excluded.n")
	upDay := prep("INSERT INTO rollday VALUES (?, ?, ?, ?) ON CONFLICT DO UPDATE SET n = n + excluded.n")
	upWeek := prep("INSERT INTO rollweek VALUES (?, ?, ?, ?) ON CONFLICT DO UPDATE SET n = n + excluded.n")
	upTotal := prep("INSERT INTO total VALUES (?, ?, ?) ON CONFLICT DO UPDATE SET n = n + excluded.n")
	delRoll := prep("DELETE FROM roll WHERE kind = ? AND hour = ? AND value = ? AND n <= 0")
	delDay := prep("DELETE FROM rollday WHERE kind = ? AND day = ? AND value = ? AND n <= 0")
	delWeek := prep("DELETE FROM rollweek WHERE kind = ? AND week = ? AND value = ? AND n <= 0")
	delTotal := prep("DELETE FROM total WHERE kind = ? AND value = ? AND n <= 0")
	defer func() {
		for _, st := range stmts {
			if st != nil {
				st.Close()
			}
		}
	}()
	if err != nil {
		return fmt.Errorf("statistics: %w", err)
	}
	for k, n := range d.counts {
		if n == 0 {
			continue
		}
		v := []byte(k.value)
		day, week := floorDiv(k.hour, hoursPerDay), floorDiv(k.hour, hoursPerWeek)
		if _, err := upRoll.ExecContext(ctx, k.kind, k.hour, v, n); err != nil {
			return fmt.Errorf("statistics: %w", err)
		}
		if _, err := upDay.ExecContext(ctx, k.kind, day, v, n); err != nil {
			return fmt.Errorf("statistics: %w", err)
		}
		if _, err := upWeek.ExecContext(ctx, k.kind, week, v, n); err != nil {
			return fmt.Errorf("statistics: %w", err)
		}
		if _, err := upTotal.ExecContext(ctx, k.kind, v, n); err != nil {
			return fmt.Errorf("statistics: %w", err)
		}
		if n < 0 {
			for _, st := range []struct {
				st   *sql.Stmt
				args []any
			}{{delRoll, []any{k.kind, k.hour, v}}, {delDay, []any{k.kind, day, v}}, {delWeek, []any{k.kind, week, v}}, {delTotal, []any{k.kind, v}}} {
				if _, err := st.st.ExecContext(ctx, st.args...); err != nil {
					return fmt.Errorf("statistics: %w", err)
				}
			}
		}
	}
	var added int64
	for h, hi := range d.hours {
		added += hi.n
		if hi.n == 0 {
			continue
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO hours VALUES (?, ?, ?, ?) ON CONFLICT DO UPDATE SET
			n = n + excluded.n, min_id = min(min_id, excluded.min_id), max_id = max(max_id, excluded.max_id)`,
			h, hi.n, hi.minID, hi.maxID); err != nil {
			return fmt.Errorf("statistics: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("statistics: %w", err)
	}
	s.counted += added - oldN
	return nil
}

// Window selects the events Summary describes.
type Window struct {
	Since, Until time.Time // widened to whole hours; zero: unbounded
	Top          int       // entries of each top list (default 10, at most 1000)
}

// Count is one entry of a top list.
type Count struct {
	Value string
	N     int64
}

// Pair is one entry of the top username/password pairs.
type Pair struct {
	Username, Password string
	N                  int64
}

// Hour is the events of one hour, by service and action.
type Hour struct {
	Start  time.Time
	Counts map[string]map[event.Action]int64
}

// Summary is the statistics of a window.
type Summary struct {
	Since, Until time.Time // the window as counted: whole hours
	Events       int64
	Services     map[string]map[event.Action]int64 // events by service and action
	Hours        []Hour                            // hours with events, oldest first
	Sources      []Count                           // connections per source address
	Usernames    []Count
	Passwords    []Count
	Pairs        []Pair
	URLs         []Count // requests to the HTTP fakes per URL
	Targets      []Count // requests to the proxy fakes per target
	// Partial: the summaries outgrew their share of store.max_size, so
	// they count only the events stored since CountedSince (an hour
	// boundary); older stored events are left out of every figure.
	Partial      bool
	CountedSince time.Time
}

// Summary refreshes the summaries and answers for the window.
func (s *Stats) Summary(ctx context.Context, w Window) (_ Summary, err error) {
	defer func() { err = withCtxErr(ctx, err) }()
	if err := s.acquire(ctx); err != nil {
		return Summary{}, err
	}
	defer s.release()
	if err := s.refresh(ctx, false); err != nil {
		return Summary{}, err
	}
	top := w.Top
	switch {
	case top <= 0:
		top = 10
	case top > maxTop:
		top = maxTop
	}
	// The hours that have events bound an open window.
	var lo, hi sql.NullInt64
	if err := s.db.QueryRowContext(ctx, "SELECT min(hour) FROM hours").Scan(&lo); err != nil {
		return Summary{}, fmt.Errorf("statistics: %w", err)
	}
	if err := s.db.QueryRowContext(ctx, "SELECT max(hour) FROM hours").Scan(&hi); err != nil {
		return Summary{}, fmt.Errorf("statistics: %w", err)
	}
	h0, h1 := int64(0), int64(0)
	if !w.Since.IsZero() {
		h0 = floorDiv(w.Since.UnixMilli(), hourMS)
	} else if lo.Valid {
		h0 = lo.Int64
	}
	if !w.Until.IsZero() {
		h1 = -floorDiv(-w.Until.UnixMilli(), hourMS) // ceiling
	} else if hi.Valid {
		h1 = hi.Int64 + 1
	} else {
		h1 = h0
	}
	if w.Since.IsZero() && w.Until.IsZero() && !lo.Valid {
		now := floorDiv(time.Now().UnixMilli(), hourMS)
		h0, h1 = now, now+1
	}
	if h1 < h0 {
		h1 = h0
	}
	sum := Summary{
		Since:    time.UnixMilli(h0 * hourMS).UTC(),
		Until:    time.UnixMilli(h1 * hourMS).UTC(),
		Services: map[string]map[event.Action]int64{},
	}
	// Events at or below the floor are still stored: the answer leaves
	// them out.
	if s.floor > 0 && s.floor >= s.minID && lo.Valid {
		sum.Partial, sum.CountedSince = true, time.UnixMilli(lo.Int64*hourMS).UTC()
	}
	if !lo.Valid || h1 <= lo.Int64 || h0 > hi.Int64 {
		return sum, nil
	}
	// Clamp to the hours that have events: the rest count nothing.
	c0, c1 := max(h0, lo.Int64), min(h1, hi.Int64+1)
	if err := s.hourly(ctx, &sum, c0, c1); err != nil {
		return Summary{}, err
	}
	whole := c0 == lo.Int64 && c1 == hi.Int64+1
	for kind := kindSource; kind < numKinds; kind++ {
		var counts []Count
		var err error
		if whole || (c1-c0)*2 > hi.Int64+1-lo.Int64 {
			counts, err = s.topByComplement(ctx, kind, lo.Int64, hi.Int64+1, c0, c1, top)
		} else {
			counts, err = s.topInside(ctx, kind, c0, c1, top)
		}
		if err != nil {
			return Summary{}, err
		}
		switch kind {
		case kindSource:
			sum.Sources = counts
		case kindUsername:
			sum.Usernames = counts
		case kindPassword:
			sum.Passwords = counts
		case kindPair:
			for _, c := range counts {
				u, p := splitPair(c.Value)
				sum.Pairs = append(sum.Pairs, Pair{Username: u, Password: p, N: c.N})
			}
		case kindURL:
			sum.URLs = counts
		case kindTarget:
			sum.Targets = counts
		}
	}
	return sum, nil
}

// hourly fills the per-service counts and the hourly series of [h0, h1).
func (s *Stats) hourly(ctx context.Context, sum *Summary, h0, h1 int64) error {
	rows, err := s.db.QueryContext(ctx, "SELECT hour, value, n FROM roll WHERE kind = ? AND hour >= ? AND hour < ? ORDER BY hour",
		kindAction, h0, h1)
	if err != nil {
		return fmt.Errorf("statistics: %w", err)
	}
	defer rows.Close()
	series := h1-h0 <= maxStatHours
	for rows.Next() {
		var h, n int64
		var v string
		if err := rows.Scan(&h, &v, &n); err != nil {
			return fmt.Errorf("statistics: %w", err)
		}
		svc, act, _ := strings.Cut(v, "\x00")
		addCount(sum.Services, svc, event.Action(act), n)
		sum.Events += n
		if !series {
			continue
		}
		start := time.UnixMilli(h * hourMS).UTC()
		if len(sum.Hours) == 0 || !sum.Hours[len(sum.Hours)-1].Start.Equal(start) {
			sum.Hours = append(sum.Hours, Hour{Start: start, Counts: map[string]map[event.Action]int64{}})
		}
		addCount(sum.Hours[len(sum.Hours)-1].Counts, svc, event.Action(act), n)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("statistics: %w", err)
	}
	return nil
}

func addCount(m map[string]map[event.Action]int64, svc string, act event.Action, n int64) {
	if m[svc] == nil {
		m[svc] = map[event.Action]int64{}
	}
	m[svc][act] += n
}

// levels are the summaries by size, largest first: a range is read from
// as few rows as possible, whole weeks, then whole days, then hours.
var levels = [...]struct {
	table, column string
	hours         int64
}{{"rollweek", "week", hoursPerWeek}, {"rollday", "day", hoursPerDay}, {"roll", "hour", 1}}

// rangeCounts adds the counts of kind over the hours [h0, h1) into m.
func (s *Stats) rangeCounts(ctx context.Context, m map[string]int64, kind statKind, h0, h1 int64) error {
	return s.rangeLevel(ctx, m, kind, h0, h1, 0)
}

func (s *Stats) rangeLevel(ctx context.Context, m map[string]int64, kind statKind, h0, h1 int64, level int) error {
	if h0 >= h1 {
		return nil
	}
	l := levels[level]
	b0, b1 := -floorDiv(-h0, l.hours), floorDiv(h1, l.hours) // the whole buckets inside
	if b0 >= b1 {
		return s.rangeLevel(ctx, m, kind, h0, h1, level+1)
	}
	// The table and column names are constants of levels.
	rows, err := s.db.QueryContext(ctx, "SELECT value, n FROM "+l.table+" WHERE kind = ? AND "+l.column+" >= ? AND "+l.column+" < ?", kind, b0, b1)
	if err != nil {
		return fmt.Errorf("statistics: %w", err)
	}
	for rows.Next() {
		var v sql.RawBytes
		var n int64
		if err := rows.Scan(&v, &n); err != nil {
			rows.Close()
			return fmt.Errorf("statistics: %w", err)
		}
		m[string(v)] += n
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("statistics: %w", err)
	}
	if l.hours == 1 {
		return nil
	}
	if err := s.rangeLevel(ctx, m, kind, h0, b0*l.hours, level+1); err != nil {
		return err
	}
	return s.rangeLevel(ctx, m, kind, b1*l.hours, h1, level+1)
}

// topInside sums the window's own summaries: for windows up to half of
// the stored span.
func (s *Stats) topInside(ctx context.Context, kind statKind, h0, h1 int64, top int) ([]Count, error) {
	m := map[string]int64{}
	if err := s.rangeCounts(ctx, m, kind, h0, h1); err != nil {
		return nil, err
	}
	out := make([]Count, 0, len(m))
	for v, n := range m {
		out = append(out, Count{v, n})
	}
	slices.SortFunc(out, byCount)
	return out[:min(top, len(out))], nil
}

// topByComplement walks the totals, largest first, less what falls outside
// the window ([lo, h0) and [h1, hi)); it stops once no later total can
// enter the list. For a window over everything stored it reads just top
// rows of an index.
func (s *Stats) topByComplement(ctx context.Context, kind statKind, lo, hi, h0, h1 int64, top int) ([]Count, error) {
	out := map[string]int64{}
	if err := s.rangeCounts(ctx, out, kind, lo, h0); err != nil {
		return nil, err
	}
	if err := s.rangeCounts(ctx, out, kind, h1, hi); err != nil {
		return nil, err
	}
	rows, err := s.db.QueryContext(ctx, "SELECT value, n FROM total WHERE kind = ? ORDER BY n DESC, value", kind)
	if err != nil {
		return nil, fmt.Errorf("statistics: %w", err)
	}
	defer rows.Close()
	var best []Count // sorted by byCount, at most top
	for rows.Next() {
		var v sql.RawBytes
		var n int64
		if err := rows.Scan(&v, &n); err != nil {
			return nil, fmt.Errorf("statistics: %w", err)
		}
		if len(best) == top && best[top-1].N > n {
			break // every later total is at most n
		}
		c := Count{string(v), n - out[string(v)]}
		if c.N <= 0 {
			continue
		}
		i, _ := slices.BinarySearchFunc(best, c, byCount)
		if i < top {
			best = slices.Insert(best, i, c)
			best = best[:min(len(best), top)]
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("statistics: %w", err)
	}
	return best, nil
}

// pairKey joins a username and a password into one value: attacker bytes
// may hold any separator, so the username's length leads.
func pairKey(user, pass string) string { return strconv.Itoa(len(user)) + ":" + user + pass }

func splitPair(key string) (user, pass string) {
	n, rest, _ := strings.Cut(key, ":")
	i, err := strconv.Atoi(n)
	if err != nil || i < 0 || i > len(rest) {
		return "", key
	}
	return rest[:i], rest[i:]
}

// byCount orders by count, largest first, then by value.
func byCount(a, b Count) int {
	if c := cmp.Compare(b.N, a.N); c != 0 {
		return c
	}
	return strings.Compare(a.Value, b.Value)
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

package store

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/minipot/minipot/internal/event"
)

const (
	// retentionChunk bounds the rows one retention transaction deletes, so
	// batches keep flowing while a large backlog is trimmed.
	retentionChunk = 5000

	// writeAttempts and retryDelay: a batch is retried a couple of times
	// (another process may hold the lock past busy_timeout, e.g. a purge)
	// before it is dropped. Meanwhile Emit drops what does not fit.
	writeAttempts = 3
	retryDelay    = 200 * time.Millisecond
)

// insertRows is how many events one INSERT statement carries. Each
// statement costs a round through database/sql and the driver, a VDBE
// start, and (AUTOINCREMENT) an update of sqlite_sequence: per row, those
// cost about as much as the row itself.
const insertRows = 32

// columns is the number of values bound per event.
const columns = 20

// insertSQL returns the INSERT of n events. OR ROLLBACK: a statement that
// fails ends the whole transaction (writeBatch then retries the batch), so
// SQLite needs no statement journal to undo one multi-row statement alone;
// with the default OR ABORT it writes one, which tripled the bytes written
// per event.
func insertSQL(n int) string {
	var b strings.Builder
	b.WriteString(`INSERT OR ROLLBACK INTO events (ts, service, port, src_ip, src_port, conn_id, action,
	method, url, host, user_agent, username, password, body, detail,
	duration_ms, bytes_in, bytes_out, reason, count) VALUES `)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString("(?" + strings.Repeat(",?", columns-1) + ")")
	}
	return b.String()
}

// writer is the state of the goroutine that owns the write connection.
type writer struct {
	s      *Store
	opt    Options
	conn   *sql.Conn
	insert *sql.Stmt // one event
	multi  *sql.Stmt // insertRows events
	batch  []*event.Event
	args   []any

	// minID and maxID bound the ids in the table: maxID is the last id
	// inserted, minID is at most the smallest id present. Row retention
	// works from them without counting rows (count(*) is linear in SQLite).
	minID, maxID int64

	// path is the database file; budget its share of Options.MaxSize,
	// maxPages the database's in pages (0: unbounded).
	path     string
	budget   Budget
	maxPages int64
	// reserveGone: the purge reserve was used to make room; it is set
	// aside again when the disk has room.
	reserveGone bool
	// lowWater is the room on the file system below which the database
	// stops growing (checkDisk): a WAL's worth between checkpoints.
	lowWater int64
}

func newWriter(path string, db *sql.DB, opt Options, seed int64, walPages int) (*writer, error) {
	ctx := context.Background()
	conn, err := db.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	w := &writer{opt: opt, conn: conn, path: path, budget: BudgetFor(opt.MaxSize), lowWater: int64(walPages)*4096 + 256<<10, batch: make([]*event.Event, 0, min(opt.BatchSize, 256)), args: make([]any, columns*insertRows)}
	if err := w.init(ctx, path, seed); err != nil {
		w.close()
		return nil, err
	}
	return w, nil
}

func (w *writer) init(ctx context.Context, path string, seed int64) error {
	// SQLite silently keeps the old mode when it cannot use WAL (a file
	// system without shared mmap), and then readers would block the writer.
	var mode string
	if err := w.conn.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		return fmt.Errorf("open store %s: %w", path, err)
	}
	if mode != "wal" {
		return fmt.Errorf("open store %s: journal mode is %q, not wal (does the file system support shared mmap?)", path, mode)
	}
	// A damaged page fails here rather than in the middle of serving. It
	// reads every page: on a store within max_size, a second or two on a
	// MIPS router.
	var check string
	if err := w.conn.QueryRowContext(ctx, "PRAGMA quick_check(1)").Scan(&check); err != nil {
		return fmt.Errorf("open store %s: %w", path, err)
	}
	if check != "ok" {
		return fmt.Errorf("open store %s: integrity check: %s", path, check)
	}
	if err := migrate(ctx, w.conn); err != nil {
		return fmt.Errorf("open store %s: %w", path, err)
	}
	if seed > 0 {
		// sqlite_sequence exists once the AUTOINCREMENT table does.
		if _, err := w.conn.ExecContext(ctx, "INSERT INTO sqlite_sequence (name, seq) VALUES ('events', ?)", seed); err != nil {
			return fmt.Errorf("open store %s: continue ids: %w", path, err)
		}
	}
	if err := w.loadIDs(ctx); err != nil {
		return fmt.Errorf("open store %s: %w", path, err)
	}
	if w.budget.Total > 0 {
		if err := w.bound(ctx); err != nil {
			return fmt.Errorf("open store %s: %w", path, err)
		}
	} else if err := makeReserve(w.path, reserveSize(w.budget)); err != nil {
		w.report(err)
	}
	st, err := w.conn.PrepareContext(ctx, insertSQL(1))
	if err != nil {
		return fmt.Errorf("open store %s: prepare insert: %w", path, err)
	}
	w.insert = st
	if w.multi, err = w.conn.PrepareContext(ctx, insertSQL(insertRows)); err != nil {
		return fmt.Errorf("open store %s: prepare insert: %w", path, err)
	}
	return nil
}

// bound caps the database file at its share of MaxSize and sets the purge
// reserve aside. SQLite never lowers max_page_count below the pages the file
// already has: a file that grew under a larger bound keeps its size (its
// free pages are reused) until a PurgeAll.
func (w *writer) bound(ctx context.Context) error {
	_, _, pageSize, err := pageCounts(ctx, w.conn)
	if err != nil {
		return err
	}
	var got int64
	if err := w.conn.QueryRowContext(ctx, "PRAGMA max_page_count = "+strconv.FormatInt(max(w.budget.DB/pageSize, 1), 10)).Scan(&got); err != nil {
		return fmt.Errorf("set max_page_count: %w", err)
	}
	w.maxPages = got
	// Without room for the reserve the store still works; a purge on a
	// full disk then has less to start from.
	if err := makeReserve(w.path, reserveSize(w.budget)); err != nil {
		w.report(err)
	}
	return nil
}

// loadIDs reads the id bounds; both lookups are O(log n) on the rowid.
func (w *writer) loadIDs(ctx context.Context) error {
	var lo, hi, seq sql.NullInt64
	if err := idRange(ctx, w.conn, &lo, &hi); err != nil {
		return fmt.Errorf("read id range: %w", err)
	}
	err := w.conn.QueryRowContext(ctx, "SELECT seq FROM sqlite_sequence WHERE name = 'events'").Scan(&seq)
	if err != nil && err != sql.ErrNoRows {
		return fmt.Errorf("read id sequence: %w", err)
	}
	w.maxID = max(hi.Int64, seq.Int64)
	if lo.Valid {
		w.minID = lo.Int64
	} else {
		w.minID = w.maxID + 1
	}
	return nil
}

func (w *writer) close() {
	if w.insert != nil {
		_ = w.insert.Close()
	}
	if w.multi != nil {
		_ = w.multi.Close()
	}
	_ = w.conn.Close()
}

func (w *writer) report(err error) {
	if w.opt.OnError != nil {
		w.opt.OnError(err)
	}
}

func (w *writer) run() {
	defer close(w.s.done)
	defer w.close()

	timer := time.NewTimer(time.Hour)
	timer.Stop()
	var timerC <-chan time.Time // nil while no partial batch waits

	// The ticker runs even without limits: SetRetention may add some.
	ret := time.NewTicker(w.opt.RetentionInterval)
	defer ret.Stop()
	retC := ret.C
	w.retain() // a store reopened after a long pause starts trimmed

	for {
		select {
		case e := <-w.s.queue:
			w.batch = append(w.batch, e)
			w.take(w.opt.BatchSize - len(w.batch))
			if len(w.batch) >= w.opt.BatchSize {
				w.flush()
				if timerC != nil {
					timer.Stop()
					timerC = nil
				}
			} else if timerC == nil {
				timer.Reset(w.opt.FlushInterval)
				timerC = timer.C
			}
		case <-timerC:
			timerC = nil
			w.flush()
		case o := <-w.s.ops:
			w.writeQueued()
			err := o.ctx.Err()
			if err == nil {
				err = o.fn(o.ctx, w.conn)
			}
			// A purge may have removed the oldest rows.
			if lerr := w.loadIDs(context.Background()); lerr != nil {
				w.report(lerr)
			}
			o.errc <- err
		case <-retC:
			w.writeQueued()
			w.retain()
		case <-w.s.retainNow:
			w.writeQueued()
			w.retain()
		case <-w.s.stop:
			timer.Stop()
			// Close has set closed under the lock: nothing more arrives.
			for {
				w.take(w.opt.BatchSize - len(w.batch))
				if len(w.batch) == 0 {
					return
				}
				w.flush()
			}
		}
	}
}

// take moves up to n events that are already queued into the batch,
// without waiting for more.
func (w *writer) take(n int) {
	for ; n > 0; n-- {
		select {
		case e := <-w.s.queue:
			w.batch = append(w.batch, e)
		default:
			return
		}
	}
}

// writeQueued writes the pending batch and everything queued right now, so
// that an operation that follows sees every event emitted before it.
func (w *writer) writeQueued() {
	for n := len(w.s.queue); ; {
		k := min(n, w.opt.BatchSize-len(w.batch))
		w.take(k)
		n -= k
		w.flush()
		if n <= 0 {
			return
		}
	}
}

// flush writes the batch, retrying a few times, and counts it.
func (w *writer) flush() {
	if len(w.batch) == 0 {
		return
	}
	var err error
	for attempt := range writeAttempts {
		if attempt > 0 {
			time.Sleep(retryDelay * time.Duration(attempt))
		}
		if err = w.writeBatch(); err == nil {
			break
		}
		if noRoom(w.path, err) {
			// No room, in the file's share or on the disk: the oldest
			// quarter goes, and the batch is tried again.
			w.evictFraction(4)
		}
	}
	if err == nil {
		w.checkWAL()
		w.checkDisk()
		if w.reserveGone && makeReserve(w.path, reserveSize(w.budget)) == nil {
			w.reserveGone = false
		}
	}
	n := uint64(len(w.batch))
	if err != nil {
		w.s.dropped.Add(n)
		w.report(fmt.Errorf("store: %d events dropped: %w", n, err))
	} else {
		w.s.written.Add(n)
	}
	var size int64
	for i := range w.batch {
		size += eventSize(w.batch[i])
	}
	w.s.queued.Add(-size)
	clear(w.batch) // let the events be collected
	w.batch = w.batch[:0]
	clear(w.args) // and the last statement's values
}

// writeBatch inserts the batch in one transaction, and in the same
// transaction deletes what MaxRows no longer allows.
func (w *writer) writeBatch() (err error) {
	ctx := context.Background()
	if _, err := w.conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer func() {
		if err != nil {
			_, _ = w.conn.ExecContext(ctx, "ROLLBACK")
		}
	}()
	var res sql.Result
	for rest := w.batch; len(rest) > 0; {
		st, n := w.multi, insertRows
		if len(rest) < insertRows {
			st, n = w.insert, 1
		}
		for i := range n {
			w.bind(w.args[i*columns:(i+1)*columns], rest[i])
		}
		if res, err = st.ExecContext(ctx, w.args[:n*columns]...); err != nil {
			return fmt.Errorf("insert: %w", err)
		}
		rest = rest[n:]
		// A batch takes tens of milliseconds; left alone, the scheduler
		// preempts it only after 10 ms, and meanwhile connections queued
		// behind it on its P wait (on a one-core router, all of them).
		runtime.Gosched()
	}
	// The rows of one statement get consecutive ids; the last is the
	// batch's last.
	last, err := res.LastInsertId()
	if err != nil {
		return fmt.Errorf("insert: %w", err)
	}
	minID := w.minID
	if maxRows := w.s.maxRows.Load(); maxRows > 0 {
		// Keep ids above last-MaxRows. A huge backlog (MaxRows lowered) is
		// trimmed a few batches' worth at a time, the rest by retain.
		upTo := min(last-maxRows, minID+int64(4*w.opt.BatchSize)-1)
		if upTo >= minID {
			if _, err := w.conn.ExecContext(ctx, "DELETE FROM events WHERE id <= ?", upTo); err != nil {
				return fmt.Errorf("delete beyond max rows: %w", err)
			}
			minID = upTo + 1
		}
	}
	if w.maxPages > 0 {
		if minID, err = w.evictForSize(ctx, minID, last); err != nil {
			return err
		}
	}
	if _, err := w.conn.ExecContext(ctx, "COMMIT"); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	w.maxID, w.minID = last, minID
	return nil
}

// evictForSize deletes the oldest events, inside the batch's transaction,
// once the database uses nine tenths of its pages: as many as bring it back
// to three quarters, by the average bytes of a row. What they free is
// reused by the next batches, so the file stays within max_page_count with
// room for a batch. It returns the new lowest id.
func (w *writer) evictForSize(ctx context.Context, minID, last int64) (int64, error) {
	pages, free, _, err := pageCounts(ctx, w.conn)
	if err != nil {
		return minID, err
	}
	used, rows := pages-free, last-minID+1
	if used*10 < w.maxPages*9 || rows <= 0 {
		return minID, nil
	}
	n := max((used-w.maxPages*3/4)*rows/max(used, 1), 1)
	res, err := w.conn.ExecContext(ctx, "DELETE FROM events WHERE id < ?", minID+n)
	if err != nil {
		return minID, fmt.Errorf("delete beyond max size: %w", err)
	}
	gone, _ := res.RowsAffected()
	w.s.evicted.Add(uint64(gone))
	return minID + n, nil
}

// evictFraction deletes the oldest 1/part of the events in a transaction of
// its own, after a write found no room. Deleting needs room too (the WAL):
// if there is none, the WAL is emptied into the database (which frees its
// file on a disk that is full), and as a last resort the purge reserve is
// given up; the writer sets it aside again once there is room.
func (w *writer) evictFraction(part int64) {
	ctx := context.Background()
	// A failed batch may have left the ids unknown.
	if err := w.loadIDs(ctx); err != nil {
		w.report(err)
		return
	}
	n := max((w.maxID-w.minID+1)/part, 1)
	del := func() error {
		res, err := w.conn.ExecContext(ctx, "DELETE FROM events WHERE id < ?", w.minID+n)
		if err != nil {
			return err
		}
		gone, _ := res.RowsAffected()
		w.s.evicted.Add(uint64(gone))
		w.minID += n
		return nil
	}
	err := del()
	if noRoom(w.path, err) {
		_ = checkpointTruncate(ctx, w.conn)
		err = del()
	}
	if noRoom(w.path, err) && freeReserve(w.path) {
		w.reserveGone = true
		err = del()
	}
	if err != nil {
		w.report(fmt.Errorf("store: make room: %w", err))
	}
}

// checkDisk caps the database file at its present size when the file
// system has less room left than a WAL's worth: from then on the oldest
// events make way for new ones (evictForSize) instead of the file growing
// until the disk is full. On a full disk SQLite could no longer checkpoint
// (the file must grow to take the WAL's new pages), nor delete. The cap
// holds until the store is opened again.
func (w *writer) checkDisk() {
	var st syscall.Statfs_t
	if err := syscall.Statfs(filepath.Dir(w.path), &st); err != nil {
		return
	}
	if int64(st.Bavail)*int64(st.Bsize) >= w.lowWater {
		return
	}
	ctx := context.Background()
	pages, _, pageSize, err := pageCounts(ctx, w.conn)
	if err != nil || (w.maxPages > 0 && pages >= w.maxPages) {
		return
	}
	var got int64
	if err := w.conn.QueryRowContext(ctx, "PRAGMA max_page_count = "+strconv.FormatInt(pages, 10)).Scan(&got); err != nil {
		w.report(fmt.Errorf("store: cap at a nearly full disk: %w", err))
		return
	}
	w.maxPages = got
	w.report(fmt.Errorf("store: the disk is nearly full (%d bytes left): the store stops growing at %d bytes, the oldest events make way",
		int64(st.Bavail)*int64(st.Bsize), got*pageSize))
}

// checkWAL empties the WAL once it outgrows its share of MaxSize. The
// automatic checkpoints copy it back at half the share but cannot restart it
// while a reader holds an old snapshot, and a flood then grows it batch
// after batch; TRUNCATE waits for those readers (busy_timeout).
func (w *writer) checkWAL() {
	if w.budget.WAL <= 0 {
		return
	}
	// A reader that keeps starting snapshots can make one TRUNCATE give up
	// (it reports busy, not an error); a few tries a few ms apart cost the
	// writer little (it is off the connections' path) and keep a flood
	// from growing the WAL batch after batch.
	for try := 0; try < 4; try++ {
		fi, err := os.Stat(w.path + "-wal")
		if err != nil || fi.Size() <= w.budget.WAL {
			return
		}
		if try > 0 {
			time.Sleep(5 * time.Millisecond)
		}
		if err := checkpointTruncate(context.Background(), w.conn); err != nil {
			w.report(fmt.Errorf("store: WAL over its share of max size: %w", err))
			return
		}
	}
}

// bind fills a, columns values, for one event. Empty text becomes NULL
// (see schema.go).
func (w *writer) bind(a []any, e *event.Event) {
	a[0] = e.Time.UnixMilli()
	a[1] = event.Truncate(e.Service, event.MaxText)
	a[2] = int64(e.Port)
	a[3] = event.Truncate(e.SrcIP, event.MaxText)
	a[4] = int64(e.SrcPort)
	a[5] = e.ConnID
	a[6] = event.Truncate(string(e.Action), event.MaxText)
	a[7] = blob(e.Method)
	a[8] = blob(e.URL)
	a[9] = blob(e.Host)
	a[10] = blob(e.UserAgent)
	a[11] = blob(e.Username)
	a[12] = blob(e.Password)
	a[13] = blob(e.Body)
	a[14] = blob(e.Detail)
	a[15] = e.Duration.Milliseconds()
	a[16] = e.BytesIn
	a[17] = e.BytesOut
	a[18] = event.Truncate(e.Reason, event.MaxText)
	a[19] = max(e.Count, 1)
}

// blob returns s, cut to event.MaxText, as a BLOB value, or NULL if empty.
func blob(s string) any {
	if s == "" {
		return nil
	}
	return []byte(event.Truncate(s, event.MaxText))
}

// retain applies MaxAge and the rest of MaxRows in chunks, writing queued
// events between chunks so a long trim does not fill the queue.
func (w *writer) retain() {
	ctx := context.Background()
	if maxAge := time.Duration(w.s.maxAge.Load()); maxAge > 0 {
		cutoff := time.Now().Add(-maxAge).UnixMilli()
		for {
			// Through the ts index: the cost is the rows deleted, not
			// the table. By time rather than by id range, because a
			// router without a clock stamps its first events after
			// boot with a wrong time, so ids and times disagree.
			res, err := w.conn.ExecContext(ctx, `DELETE FROM events WHERE id IN
				(SELECT id FROM events WHERE ts < ? ORDER BY ts LIMIT ?)`, cutoff, retentionChunk)
			if err != nil {
				w.report(fmt.Errorf("store: retention by age: %w", err))
				break
			}
			n, _ := res.RowsAffected()
			if n < retentionChunk {
				break
			}
			w.writeQueued()
		}
		if err := w.loadIDs(ctx); err != nil {
			w.report(err)
		}
	}
	if maxRows := w.s.maxRows.Load(); maxRows > 0 {
		for upTo := w.maxID - maxRows; upTo >= w.minID; {
			chunkEnd := min(upTo, w.minID+retentionChunk-1)
			if _, err := w.conn.ExecContext(ctx, "DELETE FROM events WHERE id <= ?", chunkEnd); err != nil {
				w.report(fmt.Errorf("store: retention by rows: %w", err))
				break
			}
			w.minID = chunkEnd + 1
			w.writeQueued()
			upTo = w.maxID - maxRows
		}
	}
}

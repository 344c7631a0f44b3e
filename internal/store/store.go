// Package store keeps the agent's events in SQLite (pure Go: see
// driver_*.go for which SQLite each architecture gets) and reads them back
// for the API.
//
// One process writes: the agent opens a Store, and Emit hands events to a
// bounded queue that a single goroutine writes in batches, one transaction
// per batch. Emit never blocks; when the queue is full the event is dropped
// and counted. Other processes (the API) open a Reader; WAL mode lets them
// read while the agent writes.
//
// Durability: WAL with synchronous=NORMAL. A committed batch survives the
// process being killed (kill -9, a crash, the OOM killer); a power cut may
// lose the last batches but never corrupts the file. Events still in the
// queue when the process dies are lost: that is the price of never blocking
// a connection on the disk.
//
// Text the attacker supplied is stored byte for byte as BLOB, whether or not
// it is valid UTF-8 (see migrations in schema.go). Each text field is cut
// to event.MaxText bytes, as the event contract bounds it.
//
// Retention (Options.MaxRows, Options.MaxAge) runs in the writer: the row
// bound with every batch, by id range in the same transaction, the age bound
// every RetentionInterval, through the ts index, a chunk at a time.
//
// The file is created with mode 0600: with credential collection on it holds
// passwords. The purges overwrite what they remove in the file too (see
// PurgeCredentials). WAL needs a file system with shared memory maps: tmpfs
// and ext4 have them, jffs2 does not, and Open says so.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/minipot/minipot/internal/event"
)

// Defaults of Options that the agent's memory budget counts.
const (
	DefaultQueueBytes = defaultQueueBytes
	DefaultCacheKiB   = defaultCacheKiB
)

// ErrClosed is returned by operations on a closed Store.
var ErrClosed = errors.New("store closed")

// Options tune a Store. Zero values take the defaults below; negative
// values are an error.
type Options struct {
	// QueueSize bounds the events waiting for the writer (default 16384).
	// The queue holds pointers (128 KiB up front): an event's memory is
	// taken when it is emitted and given back once it is written, so a
	// burst leaves no resident ring of event copies behind (a queue of
	// values kept 280 bytes per slot resident after any burst that went
	// round it once: 4.5 MiB at the default).
	QueueSize int
	// QueueBytes bounds the memory of the events waiting for the writer or
	// being written, text included (default 16 MiB). Emit drops past either
	// bound. It matters because an event can carry several KiB of
	// attacker text and routers have little RAM.
	QueueBytes int64
	// BatchSize bounds the events in one transaction (default 8192). Larger
	// batches amortise the pages every transaction rewrites.
	BatchSize int
	// FlushInterval is the longest an event waits for its batch to fill
	// (default 1s). Each commit rewrites at least the last page of the table
	// and of each index, so on flash fewer commits at a low event rate mean
	// less wear; a second is still fresh for the owner's event list.
	FlushInterval time.Duration
	// MaxAge deletes events older than this; 0 keeps them forever.
	MaxAge time.Duration
	// MaxRows keeps at most this many events, deleting the oldest; 0 is
	// unbounded. It is enforced with every batch.
	MaxRows int64
	// MaxSize bounds the bytes of every file of the store, the API's
	// statistics included (see Budget); 0 is unbounded. The database file
	// cannot grow past its share (SQLite's max_page_count); as it nears
	// it, each batch deletes the oldest events (counted in Evicted). Below
	// MinMaxSize is an error. It takes effect when the store is opened.
	MaxSize int64
	// RetentionInterval is how often MaxAge is applied (default 1 minute).
	RetentionInterval time.Duration
	// CacheKiB is the writer's SQLite page cache (default 8192, or half
	// the database's share of MaxSize if that is less, at least 1024). The
	// source-address index takes inserts all over its tree; with 4 MiB a
	// batch already rewrites 15% more bytes than with 16, with 2 MiB the
	// insert rate falls by a sixth.
	CacheKiB int
	// OnError, if set, is told about failures of the writer (a batch that
	// could not be written, a retention pass that failed). It is called from
	// the writer goroutine and must not block.
	OnError func(error)
}

const (
	defaultQueueSize         = 16384
	defaultQueueBytes        = 16 << 20
	defaultBatchSize         = 8192
	defaultFlushInterval     = time.Second
	defaultRetentionInterval = time.Minute
	defaultCacheKiB          = 8 << 10

	// walAutocheckpoint is in pages (4 KiB): checkpoints copy each page
	// once however often it changed since the last one, so a larger WAL
	// means fewer page writes. journalSizeLimit trims the WAL file back
	// after a burst.
	walAutocheckpoint = 4000
	journalSizeLimit  = 32 << 20

	// busyTimeoutMS is how long a statement waits for another process's
	// lock (the API's purge) before failing.
	busyTimeoutMS = 5000

	// eventOverhead approximates an event's memory besides its text.
	eventOverhead = 256
)

func (o Options) withDefaults() (Options, error) {
	if o.QueueSize < 0 || o.QueueBytes < 0 || o.BatchSize < 0 || o.FlushInterval < 0 ||
		o.MaxAge < 0 || o.MaxRows < 0 || o.RetentionInterval < 0 || o.CacheKiB < 0 || o.MaxSize < 0 {
		return o, errors.New("store options must not be negative")
	}
	if o.MaxSize > 0 && o.MaxSize < MinMaxSize {
		return o, fmt.Errorf("store max size %d is below the smallest, %d bytes", o.MaxSize, MinMaxSize)
	}
	if o.QueueSize == 0 {
		o.QueueSize = defaultQueueSize
	}
	if o.QueueBytes == 0 {
		o.QueueBytes = defaultQueueBytes
	}
	if o.BatchSize == 0 {
		o.BatchSize = defaultBatchSize
	}
	if o.FlushInterval == 0 {
		o.FlushInterval = defaultFlushInterval
	}
	if o.RetentionInterval == 0 {
		o.RetentionInterval = defaultRetentionInterval
	}
	if o.CacheKiB == 0 {
		o.CacheKiB = defaultCacheKiB
		// No use caching more than half the database MaxSize allows: the
		// hot pages (the right edges, the source-address index) fit.
		if b := BudgetFor(o.MaxSize); b.Total > 0 {
			o.CacheKiB = int(min(max(b.DB/2>>10, 1024), defaultCacheKiB))
		}
	}
	return o, nil
}

// Store is the agent's handle: it writes events and can read them back.
// It is safe for concurrent use.
type Store struct {
	opt    Options
	reader *Reader
	db     *sql.DB // the writer's pool of exactly one connection

	// mu orders Emit's send against Close, so that no event is queued
	// after the writer's final drain and Written+Dropped accounts for
	// every Emit.
	mu     sync.RWMutex
	closed bool

	queue  chan *event.Event
	queued atomic.Int64 // bytes of events queued or in the writer's batch
	ops    chan op
	stop   chan struct{}
	done   chan struct{}

	written atomic.Uint64
	dropped atomic.Uint64
	evicted atomic.Uint64

	// recovered says what Open found damaged and moved aside ("": none).
	recovered string

	// The retention limits, changeable while the writer runs (SIGHUP).
	maxAge    atomic.Int64 // time.Duration
	maxRows   atomic.Int64
	retainNow chan struct{} // asks the writer for a retention pass

	closeOnce sync.Once
	closeErr  error
}

// op is work the writer does between batches, on its connection.
type op struct {
	ctx  context.Context
	fn   func(context.Context, *sql.Conn) error
	errc chan error
}

// Open opens the store at path, creating the folder, the file and the
// schema as needed, and starts the writer.
func Open(path string, opt Options) (*Store, error) {
	opt, err := opt.withDefaults()
	if err != nil {
		return nil, err
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("store path %q: %w", path, err)
	}
	if err := os.MkdirAll(filepath.Dir(abs), 0o750); err != nil {
		return nil, fmt.Errorf("create store folder: %w", err)
	}
	v, reason, err := checkFile(abs)
	if err != nil {
		return nil, err // a foreign file is refused here, untouched
	}
	if v == fileDamaged {
		return recoverStore(abs, opt, reason)
	}
	s, err := open(abs, opt, 0)
	if err != nil && v == fileOurs && isDamage(err) {
		return recoverStore(abs, opt, err.Error())
	}
	return s, err
}

// recoverStore moves the damaged store at abs aside and opens a fresh one
// whose ids continue above the damaged one's, as far as it can be read
// (else above the current time in microseconds: ids must only grow).
func recoverStore(abs string, opt Options, reason string) (*Store, error) {
	seed := lastID(abs)
	if seed == 0 {
		seed = time.Now().UnixMicro()
	}
	to, err := moveAside(abs)
	if err != nil {
		return nil, fmt.Errorf("store %s is damaged (%s): %w", abs, reason, err)
	}
	s, err := open(abs, opt, seed)
	if err != nil {
		return nil, err
	}
	s.recovered = fmt.Sprintf("the store was damaged (%s); it was moved to %s and a fresh one started at %s",
		reason, to, time.Now().UTC().Format(time.RFC3339))
	return s, nil
}

// open opens the store at abs, which checkFile found new or ours; seed, if
// not 0, is the id the fresh store's ids continue after.
func open(abs string, opt Options, seed int64) (*Store, error) {
	// Create the file ourselves for its mode: SQLite would use 0644, and
	// gives its -wal and -shm files the mode of the database file.
	f, err := os.OpenFile(abs, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("create store: %w", err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("create store: %w", err)
	}

	walPages, walLimit := walAutocheckpoint, int64(journalSizeLimit)
	if b := BudgetFor(opt.MaxSize); b.Total > 0 {
		// Checkpoint at half the WAL's share: a batch written after it
		// still fits, and the writer truncates past the share.
		walLimit = b.WAL
		walPages = int(max(b.WAL/2/4096, 16))
	}
	db, err := openDB(abs, url.Values{
		"_pragma": {
			"busy_timeout(" + strconv.Itoa(busyTimeoutMS) + ")",
			"journal_mode(WAL)",
			"synchronous(NORMAL)",
			"cache_size(-" + strconv.Itoa(opt.CacheKiB) + ")",
			"wal_autocheckpoint(" + strconv.Itoa(walPages) + ")",
			"journal_size_limit(" + strconv.FormatInt(walLimit, 10) + ")",
			// Zero what a delete frees inside a page, at no extra I/O,
			// so that attacker bytes (and passwords) do not linger in
			// page slack after retention or a purge.
			"secure_delete(FAST)",
		},
	})
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", abs, err)
	}
	db.SetMaxOpenConns(1)
	db.SetConnMaxIdleTime(0)
	db.SetConnMaxLifetime(0)

	w, err := newWriter(abs, db, opt, seed, walPages)
	if err != nil {
		_ = db.Close()
		return nil, err
	}
	r, err := openReader(abs, false)
	if err != nil {
		w.close()
		_ = db.Close()
		return nil, err
	}
	s := &Store{
		opt:    opt,
		reader: r,
		db:     db,
		queue:  make(chan *event.Event, opt.QueueSize),
		ops:    make(chan op),
		stop:   make(chan struct{}),
		done:   make(chan struct{}),

		retainNow: make(chan struct{}, 1),
	}
	w.s = s
	s.SetRetention(opt.MaxAge, opt.MaxRows)
	go w.run()
	return s, nil
}

// Emit queues e for writing and returns at once; if the queue is full, or
// the store is closed, e is dropped and counted. A zero e.Time is set to
// now. Emit implements event.Sink.
func (s *Store) Emit(e *event.Event) {
	if e.Time.IsZero() {
		s.emitNow(e)
		return
	}
	size := eventSize(e)
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		s.dropped.Add(1)
		return
	}
	if s.queued.Add(size) > s.opt.QueueBytes {
		s.queued.Add(-size)
		s.dropped.Add(1)
		return
	}
	if len(s.queue) == cap(s.queue) { // full: no copy to make
		s.queued.Add(-size)
		s.dropped.Add(1)
		return
	}
	p := new(event.Event)
	*p = *e
	select {
	case s.queue <- p:
	default:
		s.queued.Add(-size)
		s.dropped.Add(1)
	}
}

// emitNow emits e stamped with the current time. Apart from Emit, so that
// Emit's frame holds no event of its own.
//
//go:noinline
func (s *Store) emitNow(e *event.Event) {
	now := *e
	now.Time = time.Now()
	s.Emit(&now)
}

func eventSize(e *event.Event) int64 {
	return int64(eventOverhead + len(e.Service) + len(e.SrcIP) + len(e.Action) +
		len(e.Method) + len(e.URL) + len(e.Host) + len(e.UserAgent) +
		len(e.Username) + len(e.Password) + len(e.Body) + len(e.Detail) + len(e.Reason))
}

// Written returns how many events have been committed to the database.
func (s *Store) Written() uint64 { return s.written.Load() }

// Dropped returns how many events were not stored: queue full, store
// closed, or a batch that failed to write (reported to Options.OnError).
func (s *Store) Dropped() uint64 { return s.dropped.Load() }

// Evicted returns how many stored events were deleted, oldest first, to
// keep the store within Options.MaxSize.
func (s *Store) Evicted() uint64 { return s.evicted.Load() }

// Recovered says what was damaged in the store Open found and where it was
// moved; "" if nothing was.
func (s *Store) Recovered() string { return s.recovered }

// Bound returns Options.MaxSize (0: unbounded).
func (s *Store) Bound() int64 { return s.opt.MaxSize }

// Usage measures the store's files (see Budget).
func (s *Store) Usage() (Usage, error) { return usage(s.reader.path) }

// Flush returns once every event emitted before the call is written (or
// dropped).
func (s *Store) Flush(ctx context.Context) error {
	return s.do(ctx, func(context.Context, *sql.Conn) error { return nil })
}

// PurgeCredentials blanks username and password in every stored event,
// including those emitted before the call and still queued. The old bytes
// are overwritten in the file as well (secure_delete, then a checkpoint that
// empties the WAL), as far as SQLite can; flash wear levelling may keep
// copies below the file system.
func (s *Store) PurgeCredentials(ctx context.Context) error {
	return s.do(ctx, withRoom(s.reader.path, purgeCredentials))
}

// PurgeAll deletes every stored event, including those emitted before the
// call and still queued, and gives the space back to the file system.
func (s *Store) PurgeAll(ctx context.Context) error {
	return s.do(ctx, withRoom(s.reader.path, purgeAll))
}

// do runs fn on the writer's connection between two batches, after writing
// what was queued when the writer took the request.
func (s *Store) do(ctx context.Context, fn func(context.Context, *sql.Conn) error) error {
	o := op{ctx: ctx, fn: fn, errc: make(chan error, 1)}
	select {
	case s.ops <- o:
	case <-s.done:
		return ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-o.errc:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// SetRetention changes MaxAge and MaxRows and has the writer apply them
// soon, in a retention pass of its own.
func (s *Store) SetRetention(maxAge time.Duration, maxRows int64) {
	s.maxAge.Store(int64(max(maxAge, 0)))
	s.maxRows.Store(max(maxRows, 0))
	select {
	case s.retainNow <- struct{}{}:
	default: // a pass is already due
	}
}

// ReleaseMemory has SQLite give back what it holds beyond its current needs
// after a burst: the writer's page cache and lookaside (PRAGMA
// shrink_memory, between two batches) and the idle connections of the
// agent's reader, which are closed (the next read opens one). With
// modernc.org/sqlite the freed memory returns to the system except what
// its allocator keeps for reuse (up to 4 MiB per size class); with
// github.com/ncruces/go-sqlite3 it stays in SQLite's own heap for the next
// burst.
func (s *Store) ReleaseMemory(ctx context.Context) error {
	err := s.do(ctx, func(ctx context.Context, c *sql.Conn) error {
		_, err := c.ExecContext(ctx, "PRAGMA shrink_memory")
		return err
	})
	s.reader.closeIdle()
	if err != nil {
		return fmt.Errorf("release store memory: %w", err)
	}
	return nil
}

// Query is (*Reader).Query on the agent's own handle.
func (s *Store) Query(ctx context.Context, f Filter) ([]event.Event, Cursor, error) {
	return s.reader.Query(ctx, f)
}

// Count is (*Reader).Count on the agent's own handle.
func (s *Store) Count(ctx context.Context, f Filter) (int64, error) {
	return s.reader.Count(ctx, f)
}

// Size is (*Reader).Size on the agent's own handle.
func (s *Store) Size() (int64, error) { return s.reader.Size() }

// Close stops accepting events, writes every queued one, and closes the
// database. Later Emits are dropped and counted. Close is idempotent.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		s.mu.Unlock()
		close(s.stop)
		<-s.done
		// The writer's connection closes last: the last connection to a
		// WAL database checkpoints it and removes the -wal file.
		s.closeErr = errors.Join(s.reader.Close(), s.db.Close())
		if s.closeErr != nil {
			s.closeErr = fmt.Errorf("close store: %w", s.closeErr)
		}
	})
	return s.closeErr
}

// IDRange is (*Reader).IDRange on the agent's own handle.
func (s *Store) IDRange(ctx context.Context) (lo, hi int64, err error) {
	return s.reader.IDRange(ctx)
}

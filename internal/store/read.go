package store

import (
	"context"
	"database/sql"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/minipot/minipot/internal/event"
)

// Query limits.
const (
	DefaultLimit = 100
	MaxLimit     = 1000
)

// Filter selects events for Query and Count. Zero fields do not filter.
type Filter struct {
	Service string       // service key, e.g. "23tcp"
	SrcIP   string       // exactly as the agent recorded it
	Action  event.Action //
	Since   time.Time    // inclusive
	Until   time.Time    // exclusive
	Limit   int          // Query only: page size, DefaultLimit if 0, at most MaxLimit
	Cursor  Cursor       // Query only: continue after this position; zero = newest
}

// Cursor is a position in Query's newest-first order (time, then id). The
// zero Cursor is the start; Query returns the zero Cursor after the last
// page. It is keyset pagination: a page costs the same however deep it is,
// and events written meanwhile neither shift nor repeat later pages.
type Cursor struct {
	ts, id int64
}

// IsZero reports whether c is the start (or the end after the last page).
func (c Cursor) IsZero() bool { return c == Cursor{} }

// String encodes c as an opaque token for URLs; "" for the zero Cursor.
func (c Cursor) String() string {
	if c.IsZero() {
		return ""
	}
	return strconv.FormatInt(c.ts, 10) + "." + strconv.FormatInt(c.id, 10)
}

// ParseCursor decodes a token of Cursor.String; "" is the zero Cursor.
func ParseCursor(s string) (Cursor, error) {
	if s == "" {
		return Cursor{}, nil
	}
	a, b, ok := strings.Cut(s, ".")
	if ok {
		ts, err1 := strconv.ParseInt(a, 10, 64)
		id, err2 := strconv.ParseInt(b, 10, 64)
		if err1 == nil && err2 == nil && id > 0 {
			return Cursor{ts: ts, id: id}, nil
		}
	}
	return Cursor{}, fmt.Errorf("invalid cursor %q", s)
}

// Reader reads the store. It is what the API process uses while the agent
// writes: its connections are read-only (mode=ro), and in WAL mode readers
// and the one writer do not block each other. The purges are the one
// exception: each takes a short-lived write connection of its own.
// A Reader is safe for concurrent use.
type Reader struct {
	path string
	db   *sql.DB
}

// OpenReader opens the store at path for reading. It never creates the
// file: if the agent has not created it yet the error wraps fs.ErrNotExist.
func OpenReader(path string) (*Reader, error) { return openReader(path, true) }

// openReader is OpenReader; check false skips checkFile, for the agent's
// Open, which has just checked (or created) the file.
func openReader(path string, check bool) (*Reader, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("store path %q: %w", path, err)
	}
	if _, err := os.Stat(abs); err != nil {
		return nil, fmt.Errorf("open store for reading: %w", err)
	}
	// Not even read-only SQLite touches a file that is not a sound store
	// of ours: it may create a -shm file, or replay another program's
	// journal.
	switch v, reason, err := checkFile(abs); {
	case !check:
	case err != nil:
		return nil, err
	case v == fileDamaged:
		return nil, fmt.Errorf("store %s is damaged (%s); the agent moves it aside when it starts", abs, reason)
	}
	db, err := openDB(abs, url.Values{
		"mode":    {"ro"},
		"_pragma": {"busy_timeout(5000)", "query_only(1)"},
	})
	if err != nil {
		return nil, fmt.Errorf("open store %s for reading: %w", abs, err)
	}
	// A few concurrent API requests; every connection has its own page cache.
	db.SetMaxOpenConns(4)
	db.SetMaxIdleConns(readerIdle)
	r := &Reader{path: abs, db: db}
	v, err := userVersion(context.Background(), db)
	switch {
	case err == nil && v == 0:
		// The agent has created the file but not set it up yet (both
		// start together on a first run): no store yet, not a fault.
		err = fmt.Errorf("store %s is not set up yet: %w", abs, fs.ErrNotExist)
	case err == nil && v != len(migrations):
		err = fmt.Errorf("store %s has schema version %d, this program reads %d", abs, v, len(migrations))
	}
	if err != nil {
		_ = db.Close()
		return nil, err
	}
	return r, nil
}

// readerIdle is how many idle connections a Reader keeps open.
const readerIdle = 2

// closeIdle closes the idle connections, and their page caches with them.
func (r *Reader) closeIdle() {
	r.db.SetMaxIdleConns(0)
	r.db.SetMaxIdleConns(readerIdle)
}

// Close closes the Reader's connections.
func (r *Reader) Close() error {
	if err := r.db.Close(); err != nil {
		return fmt.Errorf("close store reader: %w", err)
	}
	return nil
}

const eventColumns = `id, ts, service, port, src_ip, src_port, conn_id, action,
	method, url, host, user_agent, username, password, body, detail,
	duration_ms, bytes_in, bytes_out, reason, count`

// where renders the filter's conditions. The Cursor condition is written as
// a range on ts plus a residual test, so that SQLite can still use it as an
// index range (it cannot always do that with a row-value comparison).
func (f Filter) where(withCursor bool) (string, []any) {
	var conds []string
	var args []any
	if f.Service != "" {
		conds = append(conds, "service = ?")
		args = append(args, f.Service)
	}
	if f.SrcIP != "" {
		conds = append(conds, "src_ip = ?")
		args = append(args, f.SrcIP)
	}
	if f.Action != "" {
		conds = append(conds, "action = ?")
		args = append(args, string(f.Action))
	}
	if !f.Since.IsZero() {
		conds = append(conds, "ts >= ?")
		args = append(args, f.Since.UnixMilli())
	}
	if !f.Until.IsZero() {
		conds = append(conds, "ts < ?")
		args = append(args, f.Until.UnixMilli())
	}
	if withCursor && !f.Cursor.IsZero() {
		conds = append(conds, "ts <= ? AND (ts < ? OR id < ?)")
		args = append(args, f.Cursor.ts, f.Cursor.ts, f.Cursor.id)
	}
	if len(conds) == 0 {
		return "", nil
	}
	return " WHERE " + strings.Join(conds, " AND "), args
}

// Query returns the events that match f, newest first, at most f.Limit of
// them, and the Cursor of the next page (zero if this was the last).
func (r *Reader) Query(ctx context.Context, f Filter) ([]event.Event, Cursor, error) {
	limit := f.Limit
	switch {
	case limit <= 0:
		limit = DefaultLimit
	case limit > MaxLimit:
		limit = MaxLimit
	}
	// One row more than asked tells whether there is a next page without a
	// second query.
	query, args := f.querySQL(limit + 1)
	rows, err := r.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, Cursor{}, withCtxErr(ctx, fmt.Errorf("query events: %w", err))
	}
	defer rows.Close()
	evs := make([]event.Event, 0, min(limit+1, 64))
	for rows.Next() {
		e, err := scanEvent(rows)
		if err != nil {
			return nil, Cursor{}, err
		}
		evs = append(evs, e)
	}
	if err := rows.Err(); err != nil {
		return nil, Cursor{}, withCtxErr(ctx, fmt.Errorf("query events: %w", err))
	}
	var next Cursor
	if len(evs) > limit {
		evs = evs[:limit]
		last := evs[limit-1]
		next = Cursor{ts: last.Time.UnixMilli(), id: last.ID}
	}
	return evs, next, nil
}

// querySQL is the statement of Query. The ORDER BY matches every index
// (column, ts, rowid), so SQLite reads the index backwards and stops after
// limit rows instead of sorting the matches.
func (f Filter) querySQL(limit int) (string, []any) {
	where, args := f.where(true)
	return "SELECT " + eventColumns + " FROM events" + where + " ORDER BY ts DESC, id DESC LIMIT ?",
		append(args, limit)
}

func scanEvent(rows *sql.Rows) (event.Event, error) {
	var (
		e                               event.Event
		ts, durMS                       int64
		action                          string
		method, u, host, ua, user, pass sql.RawBytes
		body, detail                    sql.RawBytes
	)
	err := rows.Scan(&e.ID, &ts, &e.Service, &e.Port, &e.SrcIP, &e.SrcPort, &e.ConnID, &action,
		&method, &u, &host, &ua, &user, &pass, &body, &detail,
		&durMS, &e.BytesIn, &e.BytesOut, &e.Reason, &e.Count)
	if err != nil {
		return event.Event{}, fmt.Errorf("read event: %w", err)
	}
	e.Time = time.UnixMilli(ts).UTC()
	e.Action = event.Action(action)
	// RawBytes point into the driver's buffer; string() copies them out.
	e.Method, e.URL, e.Host, e.UserAgent = string(method), string(u), string(host), string(ua)
	e.Username, e.Password, e.Body, e.Detail = string(user), string(pass), string(body), string(detail)
	e.Duration = time.Duration(durMS) * time.Millisecond
	return e, nil
}

// Count returns how many events match f (Limit and Cursor are ignored).
// Without a filter SQLite still walks the smallest index, so this is linear
// in the table; cheap for the sizes MaxRows allows on a router.
func (r *Reader) Count(ctx context.Context, f Filter) (int64, error) {
	where, args := f.where(false)
	var n int64
	if err := r.db.QueryRowContext(ctx, "SELECT count(*) FROM events"+where, args...).Scan(&n); err != nil {
		return 0, withCtxErr(ctx, fmt.Errorf("count events: %w", err))
	}
	return n, nil
}

// Size returns the bytes the store occupies on disk: the database file, its
// -wal and -shm companions, the statistics files and the purge reserve:
// what Options.MaxSize bounds.
func (r *Reader) Size() (int64, error) {
	u, err := usage(r.path)
	return u.Total(), err
}

// PurgeCredentials blanks the username and password of every stored event.
// See (*Store).PurgeCredentials; called from the API process, it waits for
// the agent's current batch through busy_timeout, and events the agent still
// holds in memory are written after it.
func (r *Reader) PurgeCredentials(ctx context.Context) error {
	return r.withWriteConn(ctx, withRoom(r.path, purgeCredentials))
}

// PurgeAll deletes every stored event. See (*Store).PurgeAll and
// PurgeCredentials about events still queued in the agent.
func (r *Reader) PurgeAll(ctx context.Context) error {
	return r.withWriteConn(ctx, withRoom(r.path, purgeAll))
}

func (r *Reader) withWriteConn(ctx context.Context, fn func(context.Context, *sql.Conn) error) error {
	// mode=rw: never create the file, and never as root a file the
	// unprivileged agent could then not write.
	db, err := openDB(r.path, url.Values{
		"mode":    {"rw"},
		"_txlock": {"immediate"},
		"_pragma": {"busy_timeout(5000)"},
	})
	if err != nil {
		return fmt.Errorf("open store for purge: %w", err)
	}
	defer db.Close()
	conn, err := db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("open store for purge: %w", err)
	}
	defer conn.Close()
	return fn(ctx, conn)
}

// IDRange returns the lowest and highest id stored, both 0 when the store
// is empty. Two lookups at the ends of the rowid b-tree: cheap at any size.
// Ids only grow, so an id below lo that a reader has not seen was deleted
// by retention (MaxAge, MaxRows, MaxSize) or a purge.
func (r *Reader) IDRange(ctx context.Context) (lo, hi int64, err error) {
	var l, h sql.NullInt64
	if err := idRange(ctx, r.db, &l, &h); err != nil {
		return 0, 0, fmt.Errorf("read id range: %w", err)
	}
	return l.Int64, h.Int64, nil
}

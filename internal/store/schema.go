package store

import (
	"context"
	"database/sql"
	"fmt"
	"maps"
	"net/url"
	"path/filepath"
	"strconv"
)

// migrations[i] brings the schema from user_version i to i+1. Append only:
// a released entry is never edited, because databases in the field have
// already run it.
var migrations = []string{
	// 1: the events table.
	//
	// STRICT keeps every value in the storage class written here, so no
	// affinity conversion ever touches attacker bytes. Attacker-supplied text
	// is BLOB: SQLite does not promise anything for TEXT that is not valid
	// UTF-8 (length(), LIKE, the CLI and exports may rewrite or cut it),
	// while a BLOB is returned byte for byte. NULL stands for the empty
	// string in these columns: it costs the same as an empty BLOB and is
	// cheaper to bind. Text the agent itself produces (service key, address,
	// action, reason) is TEXT.
	//
	// AUTOINCREMENT so that an id is never handed out twice, even after
	// PurgeAll: the API may remember ids (cursors, "seen up to") across a
	// purge. It costs one small sqlite_sequence update per insert.
	//
	// Two secondary indexes, chosen by what each costs the writer (see
	// BenchmarkWrite): ts serves newest first, time ranges, per-hour scans
	// and age retention, all appending at the right edge; (src_ip, ts)
	// serves one attacker's events, newest first, in a time range. The
	// latter is the expensive one: its inserts land all over the tree, and
	// every leaf a batch touches is written again, WAL and checkpoint.
	// Service and action have six values each, so a filter on them scans ts
	// backwards and stops after a page of matches; an index on each cost
	// about a fifth of the insert rate. Counts per service or action belong
	// in a summary table, not in a scan of either.
	`CREATE TABLE events (
		id          INTEGER PRIMARY KEY AUTOINCREMENT,
		ts          INTEGER NOT NULL, -- ms since the Unix epoch, UTC
		service     TEXT    NOT NULL,
		port        INTEGER NOT NULL,
		src_ip      TEXT    NOT NULL,
		src_port    INTEGER NOT NULL,
		conn_id     INTEGER NOT NULL,
		action      TEXT    NOT NULL,
		method      BLOB,
		url         BLOB,
		host        BLOB,
		user_agent  BLOB,
		username    BLOB,
		password    BLOB,
		body        BLOB,
		detail      BLOB,
		duration_ms INTEGER NOT NULL,
		bytes_in    INTEGER NOT NULL,
		bytes_out   INTEGER NOT NULL,
		reason      TEXT    NOT NULL
	) STRICT;
	CREATE INDEX events_ts ON events(ts);
	CREATE INDEX events_src_ip_ts ON events(src_ip, ts);`,

	// 2: count, the number of identical requests an event stands for
	// (event.Event.Count); every row written before stands for one.
	`ALTER TABLE events ADD COLUMN count INTEGER NOT NULL DEFAULT 1;`,

	// 3: the application id, "mpot", which tells a minipot store from
	// another program's SQLite file before opening it (recover.go).
	`PRAGMA application_id = 1836085108;`,
}

// migrate brings the database on conn to the newest schema inside one
// transaction, so a crash mid-migration leaves the old version intact.
func migrate(ctx context.Context, conn *sql.Conn) (err error) {
	// IMMEDIATE takes the write lock before reading user_version, so two
	// processes opening a new file cannot both create the table.
	if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		return fmt.Errorf("begin migration: %w", err)
	}
	defer func() {
		if err != nil {
			_, _ = conn.ExecContext(context.WithoutCancel(ctx), "ROLLBACK")
		}
	}()
	v, err := userVersion(ctx, conn)
	if err != nil {
		return err
	}
	if v > len(migrations) {
		return fmt.Errorf("database schema version %d is newer than this program's %d", v, len(migrations))
	}
	for i := v; i < len(migrations); i++ {
		if _, err := conn.ExecContext(ctx, migrations[i]); err != nil {
			return fmt.Errorf("migrate schema to version %d: %w", i+1, err)
		}
	}
	if v < len(migrations) {
		// PRAGMA takes no parameters; the value is our own integer.
		if _, err := conn.ExecContext(ctx, "PRAGMA user_version = "+strconv.Itoa(len(migrations))); err != nil {
			return fmt.Errorf("set schema version: %w", err)
		}
	}
	if _, err := conn.ExecContext(ctx, "COMMIT"); err != nil {
		return fmt.Errorf("commit migration: %w", err)
	}
	return nil
}

type queryer interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func userVersion(ctx context.Context, q queryer) (int, error) {
	var v int
	if err := q.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil {
		return 0, fmt.Errorf("read schema version: %w", err)
	}
	return v, nil
}

// openDB opens the SQLite file at path (absolute) through the driver of
// this build (driver_*.go): the one place that knows the data source name
// syntax, which both drivers share. The path goes through SQLite's URI
// parser, so characters such as '?', '#' and '%' in folder names are
// escaped rather than cutting it. Transactions begun through database/sql
// are DEFERRED unless params say otherwise: the drivers' defaults differ.
func openDB(path string, params url.Values) (*sql.DB, error) {
	return sql.Open(driverName, dsn(path, params))
}

func dsn(path string, params url.Values) string {
	if params.Get("_txlock") == "" {
		params = maps.Clone(params)
		if params == nil {
			params = url.Values{}
		}
		params.Set("_txlock", "deferred")
	}
	u := url.URL{Path: filepath.ToSlash(path)}
	// url.Values.Encode sorts keys but keeps each key's values in order:
	// busy_timeout stays the first _pragma, as ncruces wants it.
	return "file:" + u.EscapedPath() + "?" + params.Encode()
}

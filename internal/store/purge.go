package store

import (
	"context"
	"database/sql"
	"fmt"
	"os"
)

// purgeChunk is how many ids one purge transaction covers, so the agent's
// writer waits for a purge at most a short while between two of them.
const purgeChunk = 20000

// tightChunk is the ids per step of a purge on a full disk (see withRoom):
// a step's pages must fit in the WAL space that is left.
const tightChunk = 256

// withRoom runs the purge fn, and if it finds no room (a full disk: SQLite
// needs WAL space to change anything, even to delete), gives back the purge
// reserve, rewinds the WAL so its file is reused rather than grown, and
// runs fn again in small steps (tight), each checkpointed before the next so
// that the WAL needs room for one step only; then it sets the reserve aside again if there is room.
// fn is idempotent, and returns an error unless it finished: a purge never
// answers success with a password still stored.
func withRoom(path string, fn func(ctx context.Context, conn *sql.Conn, tight bool) error) func(context.Context, *sql.Conn) error {
	return func(ctx context.Context, conn *sql.Conn) error {
		err := fn(ctx, conn, false)
		if !noRoom(path, err) {
			return err
		}
		var reserve int64
		if fi, serr := os.Stat(reservePath(path)); serr == nil {
			reserve = fi.Size()
		}
		freeReserve(path)
		var busy, logFrames, done int64
		_ = conn.QueryRowContext(ctx, "PRAGMA wal_checkpoint(RESTART)").Scan(&busy, &logFrames, &done)
		if err = fn(ctx, conn, true); err != nil {
			return fmt.Errorf("%w (after freeing %d reserved bytes)", err, reserve)
		}
		if reserve > 0 {
			_ = makeReserve(path, reserve) // best effort: the disk may still be full
		}
		return nil
	}
}

// purgeCredentials blanks username and password everywhere. secure_delete
// zeroes the bytes the old values leave in the pages, and the checkpoint
// then overwrites the file's old copies of those pages and empties the WAL
// (which still holds earlier versions): a purge should not leave the
// password readable with strings(1).
func purgeCredentials(ctx context.Context, conn *sql.Conn, tight bool) error {
	chunk := int64(purgeChunk)
	if tight {
		chunk = tightChunk
	}
	return withSecureDelete(ctx, conn, func() error {
		var lo, hi sql.NullInt64
		if err := idRange(ctx, conn, &lo, &hi); err != nil {
			return fmt.Errorf("purge credentials: %w", err)
		}
		// Rows come later than hi only after the purge was asked for.
		for start := lo.Int64; lo.Valid && start <= hi.Int64; start += chunk {
			_, err := conn.ExecContext(ctx, `UPDATE events SET username = NULL, password = NULL
				WHERE id >= ? AND id < ? AND (username IS NOT NULL OR password IS NOT NULL)`,
				start, start+chunk)
			if err != nil {
				return fmt.Errorf("purge credentials: %w", err)
			}
			if tight {
				if err := checkpointRestart(ctx, conn); err != nil {
					return err
				}
			}
		}
		if err := scrubFreePages(ctx, conn, tight); err != nil {
			return err
		}
		return checkpointTruncate(ctx, conn)
	})
}

// purgeAll deletes every event. The id sequence is kept, so ids are never
// reused. VACUUM gives the space back to the file system; on a router's
// small flash that is the point of purging everything.
func purgeAll(ctx context.Context, conn *sql.Conn, tight bool) error {
	if tight {
		// Deleting everything at once rewrites every page into the WAL:
		// blank the credentials in small steps first, then delete.
		if err := purgeCredentials(ctx, conn, true); err != nil {
			return err
		}
	}
	return withSecureDelete(ctx, conn, func() error {
		if _, err := conn.ExecContext(ctx, "DELETE FROM events"); err != nil {
			return fmt.Errorf("purge events: %w", err)
		}
		if _, err := conn.ExecContext(ctx, "VACUUM"); err != nil {
			return fmt.Errorf("purge events: vacuum: %w", err)
		}
		return checkpointTruncate(ctx, conn)
	})
}

// withSecureDelete runs fn with PRAGMA secure_delete fully on for this
// connection, which also zeroes whole pages as they are freed; then it
// returns to FAST, the writer's setting.
func withSecureDelete(ctx context.Context, conn *sql.Conn, fn func() error) error {
	if _, err := conn.ExecContext(ctx, "PRAGMA secure_delete = ON"); err != nil {
		return fmt.Errorf("secure delete: %w", err)
	}
	err := fn()
	if _, err2 := conn.ExecContext(context.WithoutCancel(ctx), "PRAGMA secure_delete = FAST"); err2 != nil && err == nil {
		err = fmt.Errorf("secure delete: %w", err2)
	}
	return err
}

// scrubFreePages overwrites the pages on the free list. Rows deleted by
// retention left their bytes there (FAST does not zero whole free pages),
// and SQLite has no statement that clears the free list in place, so this
// takes every free page into a blob of zeros and frees it again.
func scrubFreePages(ctx context.Context, conn *sql.Conn, tight bool) error {
	var free, pageSize int64
	if err := conn.QueryRowContext(ctx, "PRAGMA freelist_count").Scan(&free); err != nil {
		return fmt.Errorf("scrub free pages: %w", err)
	}
	if free == 0 {
		return nil
	}
	if err := conn.QueryRowContext(ctx, "PRAGMA page_size").Scan(&pageSize); err != nil {
		return fmt.Errorf("scrub free pages: %w", err)
	}
	// Tight: the free pages are taken a few at a time, each step committed
	// and checkpointed, and kept by the table until all are taken (freed
	// back at once, they would be taken again by the next step). They are
	// zeros already when the table is dropped, so that is done with FAST,
	// which does not write them again.
	step := free
	if tight {
		step = tightChunk / 8
	}
	exec := func(q string, args ...any) error {
		if _, err := conn.ExecContext(ctx, q, args...); err != nil {
			return fmt.Errorf("scrub free pages: %w", err)
		}
		return nil
	}
	drop := func() {
		_, _ = conn.ExecContext(context.WithoutCancel(ctx), "PRAGMA secure_delete = FAST")
		_, _ = conn.ExecContext(context.WithoutCancel(ctx), "DROP TABLE IF EXISTS store_scrub")
		_, _ = conn.ExecContext(context.WithoutCancel(ctx), "PRAGMA secure_delete = ON")
	}
	if err := exec("CREATE TABLE IF NOT EXISTS store_scrub (b BLOB)"); err != nil {
		return err
	}
	for left := free; left > 0; {
		n := min(left, step)
		// An overflow page carries page size minus a 4-byte link.
		if err := exec("INSERT INTO store_scrub VALUES (zeroblob(?))", n*(pageSize-4)); err != nil {
			drop()
			return err
		}
		if err := conn.QueryRowContext(ctx, "PRAGMA freelist_count").Scan(&left); err != nil {
			drop()
			return fmt.Errorf("scrub free pages: %w", err)
		}
		if tight {
			if err := checkpointRestart(ctx, conn); err != nil {
				drop()
				return err
			}
		}
	}
	drop()
	return nil
}

// checkpointRestart copies the WAL into the database and has the next
// write start at the beginning of the WAL file, reusing its space.
func checkpointRestart(ctx context.Context, conn *sql.Conn) error {
	var busy, logFrames, done int64
	if err := conn.QueryRowContext(ctx, "PRAGMA wal_checkpoint(RESTART)").Scan(&busy, &logFrames, &done); err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	return nil
}

// checkpointTruncate copies the WAL into the database and empties it. It is
// best effort: while a reader still uses an older snapshot SQLite cannot
// finish, and the next automatic checkpoint completes the job.
func checkpointTruncate(ctx context.Context, conn *sql.Conn) error {
	var busy, logFrames, done int64
	if err := conn.QueryRowContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)").Scan(&busy, &logFrames, &done); err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	return nil
}

// idRange reads the smallest and largest id. Two statements, because
// SQLite answers min and max on the rowid from the b-tree's ends only when
// each is alone in its query; together they scan the whole table.
func idRange(ctx context.Context, conn interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}, lo, hi *sql.NullInt64) error {
	if err := conn.QueryRowContext(ctx, "SELECT min(id) FROM events").Scan(lo); err != nil {
		return err
	}
	return conn.QueryRowContext(ctx, "SELECT max(id) FROM events").Scan(hi)
}

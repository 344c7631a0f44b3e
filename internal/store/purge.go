package store

import (
	"context"
	"database/sql"
	"fmt"
)

// purgeChunk is how many ids one purge transaction covers, so the agent's
// writer waits for a purge at most a short while between two of them.
const purgeChunk = 20000

// purgeCredentials blanks username and password everywhere. secure_delete
// zeroes the bytes the old values leave in the pages, and the checkpoint
// then overwrites the file's old copies of those pages and empties the WAL
// (which still holds earlier versions): a purge should not leave the
// password readable with strings(1).
func purgeCredentials(ctx context.Context, conn *sql.Conn) error {
	return withSecureDelete(ctx, conn, func() error {
		var lo, hi sql.NullInt64
		if err := idRange(ctx, conn, &lo, &hi); err != nil {
			return fmt.Errorf("purge credentials: %w", err)
		}
		// Rows come later than hi only after the purge was asked for.
		for start := lo.Int64; lo.Valid && start <= hi.Int64; start += purgeChunk {
			_, err := conn.ExecContext(ctx, `UPDATE events SET username = NULL, password = NULL
				WHERE id >= ? AND id < ? AND (username IS NOT NULL OR password IS NOT NULL)`,
				start, start+purgeChunk)
			if err != nil {
				return fmt.Errorf("purge credentials: %w", err)
			}
		}
		if err := scrubFreePages(ctx, conn); err != nil {
			return err
		}
		return checkpointTruncate(ctx, conn)
	})
}

// purgeAll deletes every event. The id sequence is kept, so ids are never
// reused. VACUUM gives the space back to the file system; on a router's
// small flash that is the point of purging everything.
func purgeAll(ctx context.Context, conn *sql.Conn) error {
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
func scrubFreePages(ctx context.Context, conn *sql.Conn) error {
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
	if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		return fmt.Errorf("scrub free pages: %w", err)
	}
	for _, st := range []struct {
		sql  string
		args []any
	}{
		{"CREATE TABLE store_scrub (b BLOB)", nil},
		// An overflow page carries page size minus a 4-byte link.
		{"INSERT INTO store_scrub VALUES (zeroblob(?))", []any{free * (pageSize - 4)}},
		{"DROP TABLE store_scrub", nil},
	} {
		if _, err := conn.ExecContext(ctx, st.sql, st.args...); err != nil {
			_, _ = conn.ExecContext(context.WithoutCancel(ctx), "ROLLBACK")
			return fmt.Errorf("scrub free pages: %w", err)
		}
	}
	if _, err := conn.ExecContext(ctx, "COMMIT"); err != nil {
		return fmt.Errorf("scrub free pages: %w", err)
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

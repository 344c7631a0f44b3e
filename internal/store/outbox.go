package store

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/minipot/minipot/internal/event"
)

// OutboxPage is what the exporter reads after its cursor: events in id
// order, and the id bounds it needs to tell waiting events from events
// that retention deleted before they were exported.
type OutboxPage struct {
	Events []event.Event // ids > after, ascending, at most limit
	MinID  int64         // lowest id stored now; 0: the table is empty
	LastID int64         // highest id ever handed out (ids are never reused)
}

// After reads the oldest events with an id above after, for an exporter
// that keeps its own cursor: ids are assigned in commit order by the one
// writer and never reused (AUTOINCREMENT), so a cursor of "last id sent"
// misses nothing that is still stored.
func (r *Reader) After(ctx context.Context, after int64, limit int) (OutboxPage, error) {
	var p OutboxPage
	limit = min(max(limit, 1), MaxLimit)
	conn, err := r.db.Conn(ctx)
	if err != nil {
		return p, fmt.Errorf("read outbox: %w", err)
	}
	defer conn.Close()
	// One read transaction, so that the bounds and the page agree.
	tx, err := conn.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return p, fmt.Errorf("read outbox: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // read-only
	var lo sql.NullInt64
	if err := tx.QueryRowContext(ctx, "SELECT min(id) FROM events").Scan(&lo); err != nil {
		return p, fmt.Errorf("read outbox: %w", err)
	}
	p.MinID = lo.Int64
	var seq sql.NullInt64
	err = tx.QueryRowContext(ctx, "SELECT seq FROM sqlite_sequence WHERE name = 'events'").Scan(&seq)
	if err != nil && err != sql.ErrNoRows {
		return p, fmt.Errorf("read outbox: %w", err)
	}
	p.LastID = seq.Int64
	rows, err := tx.QueryContext(ctx, "SELECT "+eventColumns+" FROM events WHERE id > ? ORDER BY id LIMIT ?", after, limit)
	if err != nil {
		return p, fmt.Errorf("read outbox: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		e, err := scanEvent(rows)
		if err != nil {
			return p, err
		}
		p.Events = append(p.Events, e)
	}
	if err := rows.Err(); err != nil {
		return p, fmt.Errorf("read outbox: %w", err)
	}
	return p, nil
}

package tests

import (
	"context"
	"database/sql"
	"testing"

	_ "modernc.org/sqlite"

	"github.com/minipot/minipot/internal/event"
	"github.com/minipot/minipot/internal/store"
)

// readEvents reads every stored event, newest first, through the store's
// own reader, as the API will.
func readEvents(t *testing.T, path string) []event.Event {
	t.Helper()
	r, err := store.OpenReader(path)
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	defer r.Close()
	var all []event.Event
	f := store.Filter{Limit: store.MaxLimit}
	for {
		page, next, err := r.Query(context.Background(), f)
		if err != nil {
			t.Fatalf("query store: %v", err)
		}
		all = append(all, page...)
		if next.IsZero() {
			return all
		}
		f.Cursor = next
	}
}

func checkIntegrity(t *testing.T, path string) {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var res string
	if err := db.QueryRow("PRAGMA integrity_check").Scan(&res); err != nil || res != "ok" {
		t.Fatalf("integrity_check: %q %v", res, err)
	}
}

package tests

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/minipot/minipot/agent/telnet/bot"
	"github.com/minipot/minipot/internal/event"
	"github.com/minipot/minipot/internal/report"
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

// The agent finds its store damaged at start (here: overwritten with text):
// it moves the file aside unchanged, starts a fresh store, serves and
// records, and says so in its log and in the status report the API shows.
func TestAgentDamagedStore(t *testing.T) {
	a := startAgent(t, nil)
	var c bot.Client
	c.Attempt(context.Background(), a.Addr("23tcp"), "u", "p")
	a.Stop()
	junk := bytes.Repeat([]byte("not a database\n"), 500)
	for _, suf := range []string{"-wal", "-shm"} {
		os.Remove(a.DB + suf)
	}
	if err := os.WriteFile(a.DB, junk, 0o600); err != nil {
		t.Fatal(err)
	}
	chownNobody(t, a.Dir)

	b := startAgentIn(t, a)
	if got, err := os.ReadFile(a.DB + ".damaged"); err != nil || !bytes.Equal(got, junk) {
		t.Fatalf("the damaged store was not kept unchanged beside the store: %v", err)
	}
	if !strings.Contains(b.stderr.String(), "store was damaged") {
		t.Errorf("the log does not say the store was damaged:\n%s", tail(b.stderr.String(), 2000))
	}
	c.Attempt(context.Background(), b.Addr("23tcp"), "root", "hunter2")
	b.find(t, 1, logins("23tcp"))
	var rep report.Report
	eventually(t, 15*time.Second, "the status report says the store was recovered", func() (bool, string) {
		data, err := os.ReadFile(filepath.Join(a.Dir, "run", report.File))
		if err != nil || json.Unmarshal(data, &rep) != nil {
			return false, fmt.Sprint(err)
		}
		return strings.Contains(rep.Store.Recovered, ".damaged"), rep.Store.Recovered
	})
}

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
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
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

// A foreign SQLite file at store.path (another program's database): the
// agent does not touch it, keeps its fakes answering without a store, and
// says why in its log and in /status; once the owner has moved the file,
// a reload opens the store and events are stored again.
func TestAgentForeignStore(t *testing.T) {
	a := startAgent(t, nil)
	a.Stop()
	for _, suf := range []string{"", "-wal", "-shm"} {
		os.Remove(a.DB + suf)
	}
	// Another program's database, in the default rollback-journal mode.
	db, err := sql.Open("sqlite", a.DB)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT); INSERT INTO notes (text) VALUES ('mine')"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	foreign, err := os.ReadFile(a.DB)
	if err != nil {
		t.Fatal(err)
	}
	chownNobody(t, a.Dir)

	b := startAgentIn(t, a) // waits until every fake listens
	r, err := bot.Attempt(context.Background(), b.Addr("23tcp"), "root", "xc3511")
	if err != nil || r.Outcome != bot.Rejected {
		t.Fatalf("the telnet fake does not answer without a store: %+v, %v", r, err)
	}
	if !strings.Contains(b.stderr.String(), "store unavailable") {
		t.Errorf("the log does not say the store is unavailable:\n%s", tail(b.stderr.String(), 2000))
	}
	// A reload while the file is still there tries the store again and
	// leaves the file alone; it also rewrites the status report at once.
	b.Signal(syscall.SIGHUP)
	eventually(t, 10*time.Second, "the reload tried the store again", func() (bool, string) {
		return strings.Count(b.stderr.String(), "store unavailable") >= 2, ""
	})
	api := startAPI(t, b)
	var doc struct {
		Store struct {
			State, Problem string
			Dropped        uint64
		}
	}
	eventually(t, 15*time.Second, "/status says why no events are stored", func() (bool, string) {
		api.get(t, "/api/v1/status", &doc)
		return doc.Store.State == "unavailable" && strings.Contains(doc.Store.Problem, "another program's SQLite database") &&
			doc.Store.Dropped > 0, fmt.Sprintf("%+v", doc.Store)
	})
	// The owner's page says it too.
	br := startBrowser(t, "")
	if err := br.run(20*time.Second, chromedp.Navigate("http://"+api.Addr+"/#token=e2e-token-0123456789abcdef")); err != nil {
		t.Fatal(err)
	}
	br.waitFor("the page loads", `document.body.dataset.ready === "1"`)
	br.waitFor("the page says no events are stored", `document.getElementById("store-size").textContent.includes("another program's SQLite database")`)
	// And LuCI's settings view, in LuCI's runtime through rpcd.
	l := startLuCI(t, luciOpts{apiSocket: api.Socket})
	l.open(br, "luci-admin", "admin/services/minipot/settings")
	luciReady(t, br, "the LuCI settings view renders")
	br.waitFor("LuCI says no events are stored", `(document.getElementById("minipot-store-problem") || {textContent: ""}).textContent.includes("another program's SQLite database")`)
	if got, err := os.ReadFile(a.DB); err != nil || !bytes.Equal(got, foreign) {
		t.Fatalf("the foreign file changed: %v", err)
	}
	for _, suf := range []string{"-wal", "-shm", "-journal"} {
		if _, err := os.Stat(a.DB + suf); err == nil {
			t.Errorf("%s was created beside the foreign file", a.DB+suf)
		}
	}

	// The owner moves the file and reloads.
	if err := os.Rename(a.DB, a.DB+".mine"); err != nil {
		t.Fatal(err)
	}
	b.Signal(syscall.SIGHUP)
	eventually(t, 10*time.Second, "the reload opens the store", func() (bool, string) {
		return strings.Contains(b.stderr.String(), "store open"), ""
	})
	if r, err := bot.Attempt(context.Background(), b.Addr("23tcp"), "root", "hunter2"); err != nil || r.Outcome != bot.Rejected {
		t.Fatalf("telnet attempt after the reload: %+v, %v", r, err)
	}
	b.find(t, 1, logins("23tcp"))
	eventually(t, 15*time.Second, "/status says the store is open", func() (bool, string) {
		doc.Store.Problem = "" // absent when there is none
		api.get(t, "/api/v1/status", &doc)
		return doc.Store.State == "open" && doc.Store.Problem == "", fmt.Sprintf("%+v", doc.Store)
	})
	if got, err := os.ReadFile(a.DB + ".mine"); err != nil || !bytes.Equal(got, foreign) {
		t.Fatalf("the moved foreign file changed: %v", err)
	}
}

// A new store.max_size applies on reload: the agent reopens its store with
// the new bound, keeps the events stored so far, and goes on storing.
func TestAgentMaxSizeReload(t *testing.T) {
	a := startAgent(t, nil)
	if r, err := bot.Attempt(context.Background(), a.Addr("23tcp"), "root", "before"); err != nil || r.Outcome != bot.Rejected {
		t.Fatalf("attempt: %+v, %v", r, err)
	}
	a.find(t, 1, logins("23tcp"))
	a.UCI("set", "ucollect.store.max_size=4")
	a.UCI("commit", "ucollect")
	a.Signal(syscall.SIGHUP)
	eventually(t, 10*time.Second, "the store is reopened with the new bound", func() (bool, string) {
		return strings.Contains(a.stderr.String(), "store reopened with the new store.max_size") &&
			strings.Contains(a.stderr.String(), "max_size_mib=4"), ""
	})
	if r, err := bot.Attempt(context.Background(), a.Addr("23tcp"), "root", "after"); err != nil || r.Outcome != bot.Rejected {
		t.Fatalf("attempt after the reload: %+v, %v", r, err)
	}
	got := a.find(t, 2, logins("23tcp"))
	if got[0].Password != "after" || got[1].Password != "before" {
		t.Errorf("stored passwords %q, %q; want after, before", got[0].Password, got[1].Password)
	}
}

package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/minipot/minipot/internal/event"
)

// writeEvents makes a store at path with n events and closes it.
func writeEvents(t *testing.T, path string, n int) {
	t.Helper()
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		s.Emit(&event.Event{Time: time.UnixMilli(1e12 + int64(i)), Service: "23tcp", Port: 23, SrcIP: "192.0.2.7",
			SrcPort: 5555, ConnID: int64(i), Action: event.Login, Username: "root", Password: "hunter2"})
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

func fileSum(t *testing.T, path string) [32]byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(data)
}

// A damaged store of ours, or a file that is no database at all, is moved
// aside byte for byte, a fresh store starts, takes events, says so, and its
// ids continue above the old ones.
func TestOpenDamaged(t *testing.T) {
	cases := []struct {
		name   string
		damage func(t *testing.T, path string)
	}{
		{"truncated", func(t *testing.T, path string) {
			fi, _ := os.Stat(path)
			if err := os.Truncate(path, fi.Size()/2); err != nil {
				t.Fatal(err)
			}
		}},
		{"truncated to a few bytes", func(t *testing.T, path string) {
			if err := os.Truncate(path, 40); err != nil {
				t.Fatal(err)
			}
		}},
		{"corrupt pages", func(t *testing.T, path string) {
			f, err := os.OpenFile(path, os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			// Page 2 on: the schema page survives, the b-trees do not.
			if _, err := f.WriteAt(bytes.Repeat([]byte{0xA5}, 3*4096), 4096); err != nil {
				t.Fatal(err)
			}
			f.Close()
		}},
		{"not a database", func(t *testing.T, path string) {
			if err := os.WriteFile(path, bytes.Repeat([]byte("minipot? no, a text file\n"), 1000), 0o600); err != nil {
				t.Fatal(err)
			}
		}},
		{"header overwritten", func(t *testing.T, path string) {
			f, err := os.OpenFile(path, os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.WriteAt(make([]byte, 100), 0); err != nil {
				t.Fatal(err)
			}
			f.Close()
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "events.db")
			writeEvents(t, path, 3000)
			tc.damage(t, path)
			before := fileSum(t, path)

			var reported []error
			s, err := Open(path, Options{OnError: func(err error) { reported = append(reported, err) }})
			if err != nil {
				t.Fatalf("Open of a damaged store: %v", err)
			}
			defer s.Close()
			if s.Recovered() == "" {
				t.Error("Recovered() is empty after moving a damaged store aside")
			}
			if got := fileSum(t, path+damagedSuffix); got != before {
				t.Error("the damaged store was changed when moved aside")
			}
			s.Emit(&event.Event{Time: time.Now(), Service: "23tcp", Port: 23, SrcIP: "198.51.100.1", Action: event.Connect})
			flush(t, s)
			lo, hi, err := s.IDRange(context.Background())
			if err != nil || lo != hi || hi <= 3000 {
				t.Errorf("fresh store holds ids %d-%d (%v); want one event with an id above the old 3000", lo, hi, err)
			}
			if len(reported) > 0 {
				t.Errorf("writer errors: %v", reported)
			}
			t.Log(s.Recovered())
		})
	}
}

// A second damaged store replaces the first one kept: at most one is kept.
func TestOpenDamagedKeepsOne(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.db")
	for i := range 2 {
		if err := os.WriteFile(path, []byte{byte(i), 'x'}, 0o600); err != nil {
			t.Fatal(err)
		}
		s, err := Open(path, Options{})
		if err != nil {
			t.Fatal(err)
		}
		s.Close()
	}
	got, err := os.ReadFile(path + damagedSuffix)
	if err != nil || !bytes.Equal(got, []byte{1, 'x'}) {
		t.Errorf("kept %q (%v), want the latest damaged file", got, err)
	}
	left, _ := filepath.Glob(path + "*")
	for _, p := range left {
		if p != path && p != path+damagedSuffix && p != reservePath(path) {
			t.Errorf("unexpected file %s", p)
		}
	}
}

// Another program's SQLite database at the path is refused by the agent and
// the API alike, without a byte of it changing and without a -wal or -shm
// file appearing (SQLite in WAL mode would create both, and switching its
// journal mode would rewrite the header).
func TestOpenForeign(t *testing.T) {
	for _, tc := range []struct{ name, journal, schema string }{
		{"rollback journal", "DELETE", "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)"},
		{"WAL", "WAL", "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)"},
		{"user_version like ours", "DELETE", "CREATE TABLE events (id INTEGER PRIMARY KEY, what TEXT); PRAGMA user_version = 2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "other.db")
			db, err := openDB(path, nil)
			if err != nil {
				t.Fatal(err)
			}
			for _, q := range []string{"PRAGMA journal_mode = " + tc.journal, tc.schema, "INSERT INTO " + map[bool]string{true: "events", false: "notes"}[tc.name == "user_version like ours"] + " VALUES (1, 'keep me')"} {
				if _, err := db.Exec(q); err != nil {
					t.Fatalf("%s: %v", q, err)
				}
			}
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
			before := fileSum(t, path)
			fi0, _ := os.Stat(path)

			if s, err := Open(path, Options{}); !errors.Is(err, ErrForeign) {
				if err == nil {
					s.Close()
				}
				t.Fatalf("Open of a foreign database: %v, want ErrForeign", err)
			}
			if _, err := OpenReader(path); !errors.Is(err, ErrForeign) {
				t.Fatalf("OpenReader of a foreign database: %v, want ErrForeign", err)
			}
			if fileSum(t, path) != before {
				t.Error("the foreign database was changed")
			}
			if fi, _ := os.Stat(path); !fi.ModTime().Equal(fi0.ModTime()) || fi.Mode() != fi0.Mode() {
				t.Error("the foreign database's time or mode changed")
			}
			left, _ := filepath.Glob(path + "*")
			if len(left) != 1 {
				t.Errorf("files beside the foreign database: %v", left)
			}
		})
	}
}

// A blank SQLite file (the agent's own, caught between creating the file
// and committing its schema) is a new store: the reader says "not set up
// yet", and the agent opens it and sets it up. One with a table is
// another program's (TestOpenForeign).
func TestOpenBlank(t *testing.T) {
	for _, journal := range []string{"DELETE", "WAL"} {
		t.Run(journal, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "events.db")
			db, err := openDB(path, nil)
			if err != nil {
				t.Fatal(err)
			}
			// Setting user_version writes the header of an empty
			// database without moving its schema cookie (VACUUM would).
			for _, q := range []string{"PRAGMA journal_mode = " + journal, "PRAGMA user_version = 0"} {
				if _, err := db.Exec(q); err != nil {
					t.Fatalf("%s: %v", q, err)
				}
			}
			db.Close()
			if fi, err := os.Stat(path); err != nil || fi.Size() == 0 {
				t.Fatalf("the blank file was not written: %v", err)
			}
			if v, _, err := checkFile(path); v != fileNew || err != nil {
				t.Fatalf("checkFile of a blank file: %v, %v; want a new store", v, err)
			}
			if _, err := OpenReader(path); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("OpenReader of a blank file: %v, want not set up yet (fs.ErrNotExist)", err)
			}
			s, err := Open(path, Options{})
			if err != nil {
				t.Fatalf("Open of a blank file: %v", err)
			}
			s.Close()
			if v, _, err := checkFile(path); v != fileOurs || err != nil {
				t.Errorf("after Open: %v, %v; want ours", v, err)
			}
		})
	}
}

// A store made before the application id existed (schema version 2, no id)
// is still ours: opened, its events kept, and marked.
func TestOpenLegacyStore(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.db")
	writeEvents(t, path, 10)
	db := rawDB(t, path)
	if _, err := db.Exec("PRAGMA application_id = 0; PRAGMA user_version = 2"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if v, _, err := checkFile(path); v != fileOurs || err != nil {
		t.Fatalf("checkFile of a legacy store: %v, %v", v, err)
	}
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if n, _ := s.Count(context.Background(), Filter{}); n != 10 || s.Recovered() != "" {
		t.Errorf("legacy store: %d events, recovered %q; want 10 and nothing", n, s.Recovered())
	}
}

package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/minipot/minipot/internal/event"
)

// smallFSEnv tells a re-executed test binary the folder of its small file
// system.
const smallFSEnv = "MINIPOT_TEST_SMALLFS"

// onSmallFS runs the calling test again in a mount namespace of its own,
// with a tmpfs of size bytes mounted at a folder that the child receives in
// smallFSEnv, and returns that folder when called in the child. A full disk
// is then real: ENOSPC from the kernel, not a mock. It needs root (CI runs
// as root); elsewhere it skips saying so.
func onSmallFS(t *testing.T, size int64) (dir string, child bool) {
	t.Helper()
	if d := os.Getenv(smallFSEnv); d != "" {
		return d, true
	}
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("the disk-full tests need root to mount a small tmpfs (CI=true)")
		}
		t.Skip("needs root: mounts a small tmpfs in a mount namespace of its own to fill it")
	}
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		t.Fatalf("unshare (util-linux) is needed: %v", err)
	}
	dir = t.TempDir()
	self := selfCommand("-test.run=^"+t.Name()+"$", "-test.v", "-test.count=1")
	args := append([]string{"--mount", "--propagation", "private", "sh", "-c",
		`mount -t tmpfs -o size=` + strconv.FormatInt(size, 10) + ` minipot-test "$0" && exec "$@"`, dir}, self.Args...)
	cmd := exec.Command(unshare, args...)
	cmd.Env = append(os.Environ(), smallFSEnv+"="+dir)
	out, err := cmd.CombinedOutput()
	if err != nil || !bytes.Contains(out, []byte("--- PASS")) {
		t.Fatalf("%s on a %d-byte tmpfs: %v\n%s", t.Name(), size, err, out)
	}
	t.Logf("child:\n%s", out)
	return "", false
}

// fill writes a file of zeros into dir until the file system is full.
func fill(t *testing.T, dir string) {
	t.Helper()
	f, err := os.Create(filepath.Join(dir, "filler"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 4096)
	for {
		if _, err := f.Write(buf); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("fill: %v", err)
			}
			return
		}
	}
}

func credEvent(n int) *event.Event {
	return &event.Event{Time: time.UnixMilli(1e12 + int64(n)), Service: "23tcp", Port: 23,
		SrcIP: fmt.Sprintf("203.0.%d.%d", n/250%250, n%250), SrcPort: 4000, ConnID: int64(n), Action: event.Login,
		Username: "admin", Password: fmt.Sprintf("Sw0rdfish-%07d", n), URL: fmt.Sprintf("/%d", n)}
}

// A disk that fills up while the store writes (the default 16 MiB bound on
// a 6 MiB file system): batches that find no room make room by deleting the oldest
// events and are written again; the store keeps taking events, stays sound,
// and does not stop.
func TestDiskFullWhileWriting(t *testing.T) {
	dir, child := onSmallFS(t, 6<<20)
	if !child {
		return
	}
	path := filepath.Join(dir, "events.db")
	var failures int
	s, err := Open(path, Options{MaxSize: 16 << 20, BatchSize: 256, OnError: func(err error) {
		if failures++; failures < 4 {
			t.Log(err)
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for n := range 40000 {
		s.Emit(credEvent(n))
		if n%1000 == 999 {
			flush(t, s)
		}
	}
	flush(t, s)
	if s.Evicted() == 0 {
		t.Fatal("the disk never filled: nothing was evicted")
	}
	// Still writing after the disk filled.
	before := s.Written()
	s.Emit(credEvent(99999))
	flush(t, s)
	if s.Written() != before+1 {
		t.Fatalf("an event after the disk filled was not written (written %d -> %d, dropped %d)", before, s.Written(), s.Dropped())
	}
	var check string
	if err := s.reader.db.QueryRow("PRAGMA integrity_check").Scan(&check); err != nil || check != "ok" {
		t.Fatalf("integrity check: %q, %v", check, err)
	}
	t.Logf("written %d, evicted %d, dropped %d, errors reported %d", s.Written(), s.Evicted(), s.Dropped(), failures)
}

// The owner purges credentials on a disk that is full to the last byte:
// the purge succeeds (through the agent and through the API's reader), and
// no password is left in the database or its WAL.
func TestDiskFullPurge(t *testing.T) {
	dir, child := onSmallFS(t, 4<<20)
	if !child {
		return
	}
	ctx := context.Background()
	for _, via := range []string{"store", "reader"} {
		path := filepath.Join(dir, via, "events.db")
		s, err := Open(path, Options{MaxSize: 2 << 20})
		if err != nil {
			t.Fatal(err)
		}
		for n := range 8000 {
			s.Emit(credEvent(n))
			if n%1000 == 999 {
				flush(t, s)
			}
		}
		flush(t, s)
		fill(t, dir)
		var perr error
		if via == "store" {
			perr = s.PurgeCredentials(ctx)
		} else {
			r, err := OpenReader(path)
			if err != nil {
				t.Fatal(err)
			}
			perr = r.PurgeCredentials(ctx)
			r.Close()
		}
		if perr != nil {
			t.Fatalf("purge via %s on a full disk: %v", via, perr)
		}
		for _, p := range []string{path, path + "-wal"} {
			data, err := os.ReadFile(p)
			if err != nil && !errors.Is(err, os.ErrNotExist) {
				t.Fatal(err)
			}
			if i := bytes.Index(data, []byte("Sw0rdfish-")); i >= 0 {
				t.Fatalf("purge via %s answered success, but %s still holds a password at byte %d", via, p, i)
			}
		}
		s.Close()
		os.Remove(filepath.Join(dir, "filler"))
	}
}

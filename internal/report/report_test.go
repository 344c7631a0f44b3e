package report

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestWriteRead(t *testing.T) {
	dir := t.TempDir()
	want := Report{PID: 7, Version: "v", ConfigDigest: "d", Enabled: true,
		Services: []ServiceStatus{{Key: "23tcp", Port: 23, FakePort: 1392, Listening: true, Address: "[::]:1392"}}}
	if err := Write(dir, want); err != nil {
		t.Fatal(err)
	}
	got, err := Read(dir)
	if err != nil || got.PID != 7 || len(got.Services) != 1 || got.Services[0] != want.Services[0] {
		t.Fatalf("read back %+v, %v", got, err)
	}
	fi, err := os.Stat(filepath.Join(dir, File))
	if err != nil || fi.Mode().Perm() != 0o644 {
		t.Errorf("report mode: %v %v", fi, err)
	}
}

// TestReadRefusesHostileFiles: the run folder belongs to the agent, the
// reader is root: what lies there is bounded in size and never blocks.
func TestReadRefusesHostileFiles(t *testing.T) {
	cases := []struct {
		name string
		make func(path string) error
		want string
	}{
		{"missing", func(string) error { return nil }, "no such file"},
		{"too large", func(p string) error {
			return os.WriteFile(p, []byte(`{"version":"`+strings.Repeat("a", maxSize)+`"}`), 0o644)
		}, "larger than"},
		{"not JSON", func(p string) error { return os.WriteFile(p, []byte("{"), 0o644) }, "unexpected end"},
		{"fifo", func(p string) error { return syscall.Mkfifo(p, 0o644) }, "not a regular file"},
		{"folder", func(p string) error { return os.Mkdir(p, 0o755) }, "not a regular file"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := c.make(filepath.Join(dir, File)); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { _, err := Read(dir); done <- err }()
			select {
			case err := <-done:
				if err == nil || !strings.Contains(err.Error(), c.want) {
					t.Errorf("error %v, want one saying %q", err, c.want)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("Read blocks")
			}
		})
	}
}

// TestLoop: Set writes at once with the live part filled in, Run refreshes
// and, once stopped, removes the report and writes no more.
func TestLoop(t *testing.T) {
	dir := t.TempDir()
	live := 0
	l := &Loop{Dir: dir, Every: time.Millisecond, Live: func(r *Report) { live++; r.Connections.Open = live }}
	l.Set(func(r *Report) { r.PID, r.ConfigDigest = 9, "one" })
	r, err := Read(dir)
	if err != nil || r.PID != 9 || r.ConfigDigest != "one" || r.Connections.Open != 1 || r.Updated.IsZero() {
		t.Fatalf("after Set: %+v, %v", r, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { l.Run(ctx); close(done) }()
	deadline := time.Now().Add(5 * time.Second)
	for {
		r, err = Read(dir)
		if err == nil && r.Connections.Open > 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Run does not refresh: %+v, %v", r, err)
		}
		time.Sleep(time.Millisecond)
	}
	cancel()
	<-done
	l.Set(func(r *Report) { r.ConfigDigest = "two" })
	if _, err := Read(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("after Run ended: %v, want no report", err)
	}
	if _, err := ReadLive(dir); !errors.Is(err, ErrNotRunning) {
		t.Errorf("ReadLive without a report: %v", err)
	}
}

package store

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// crashChildEnv selects the child mode of TestKill9Durability: the test
// binary re-executed with it set writes to the store it names.
const crashChildEnv = "MINIPOT_STORE_CRASH_CHILD"

// TestKill9Durability kills a writing process with SIGKILL in the middle of
// its batches and checks that the file is intact and holds at least every
// event the process had seen committed.
func TestKill9Durability(t *testing.T) {
	if path := os.Getenv(crashChildEnv); path != "" {
		crashChild(path)
		return
	}
	if testing.Short() {
		t.Skip("re-executes the test binary")
	}
	path := filepath.Join(t.TempDir(), "events.db")
	var total int64 // events that must be in the file
	for round := range 4 {
		committed := runAndKill(t, path, time.Duration(150+round*100)*time.Millisecond)
		total += committed

		db := rawDB(t, path) // opening recovers from the WAL
		var check string
		if err := db.QueryRow("PRAGMA integrity_check").Scan(&check); err != nil || check != "ok" {
			t.Fatalf("round %d: integrity_check = %q, %v", round, check, err)
		}
		var n int64
		if err := db.QueryRow("SELECT count(*) FROM events").Scan(&n); err != nil {
			t.Fatal(err)
		}
		t.Logf("round %d: child reported %d committed, file holds %d (at least %d expected)", round, committed, n, total)
		if n < total {
			t.Fatalf("round %d: %d events in the file, want at least %d", round, n, total)
		}
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
		total = n // what was committed beyond the last report counts from now on
	}
	// The store opens normally after all this.
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

// runAndKill starts the child, lets it write for about d once it has
// committed something, kills it, and returns the last committed count it
// reported.
func runAndKill(t *testing.T, path string, d time.Duration) int64 {
	t.Helper()
	cmd := selfCommand("-test.run=^TestKill9Durability$")
	cmd.Env = append(os.Environ(), crashChildEnv+"="+path)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	reports := make(chan int64, 1024)
	go func() {
		defer close(reports)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), "committed "); ok {
				if n, err := strconv.ParseInt(v, 10, 64); err == nil {
					reports <- n
				}
			}
		}
	}()
	var last int64
	var kill <-chan time.Time // armed by the first commit
	timeout := time.After(60 * time.Second)
wait:
	for {
		select {
		case n, ok := <-reports:
			if !ok {
				t.Fatalf("child exited early: %v", cmd.Wait())
			}
			last = n
			if kill == nil && n > 0 {
				kill = time.After(d)
			}
		case <-kill:
			break wait
		case <-timeout:
			_ = cmd.Process.Kill()
			t.Fatal("child reported nothing committed")
		}
	}
	// Only reports read before the kill count: the promise under test is
	// about what the process had seen committed when it died.
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	for range reports { // drain the reader goroutine
	}
	return last
}

// crashChild writes realistic events as fast as the store takes them and
// prints Written after every change; it never returns normally.
func crashChild(path string) {
	s, err := Open(path, Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		os.Exit(2)
	}
	go func() {
		var seen uint64
		for {
			if w := s.Written(); w != seen {
				seen = w
				fmt.Printf("committed %d\n", w)
			}
			time.Sleep(time.Millisecond)
		}
	}()
	// The parent kills us; exit on our own should it have vanished.
	stop := time.Now().Add(30 * time.Second)
	gen := newTraffic(1, 20000)
	for time.Now().Before(stop) {
		for range 1000 {
			emitv(s, gen.next())
		}
		if len(s.queue) > cap(s.queue)/2 {
			time.Sleep(time.Millisecond)
		}
	}
	_ = s.Close()
	os.Exit(3)
}

// selfCommand runs this test binary again with args. Under qemu-user (the
// MIPS runs, see tests/mips_test.go) the binary is not native: the emulator
// named by MINIPOT_TEST_EMULATOR has to run it.
func selfCommand(args ...string) *exec.Cmd {
	if emu := os.Getenv("MINIPOT_TEST_EMULATOR"); emu != "" {
		return exec.Command(emu, append([]string{os.Args[0]}, args...)...)
	}
	return exec.Command(os.Args[0], args...)
}

package tests

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// mipsStoreTests is the part of internal/store's tests that runs under
// qemu-user: writing, reading, paging, retention, the size bound, the
// faults at start and on a full disk, the purges, kill -9. Left out are
// the statistics tests: they check the API's SQL (the same on every
// architecture, and run with the MIPS driver on the build machine by
// TestStoreNcruces) and take minutes under emulation.
const mipsStoreTests = `^(TestRoundTrip|TestEmitStampsZeroTime|TestQueryLimitAndCursor|TestParseCursor|TestQueryPlans|` +
	`TestRetentionRows|TestDropWhenFull|TestCloseFlushes|TestFlushInterval|TestPurge.*|TestOpen.*|TestBudgetFor|` +
	`TestMaxSizeFlood|TestKill9Durability|TestSetRetention|TestDiskFull.*)$`

// The store on the routers most OpenWrt users have: its tests built for
// big- and little-endian MIPS (softfloat, as OpenWrt's MIPS targets) and run
// by qemu-user, named explicitly (no binfmt). The binary is the MIPS build's,
// so the SQLite under test is the one a MIPS router gets.
func TestStoreOnMIPS(t *testing.T) {
	for _, arch := range []string{"mipsle", "mips"} {
		t.Run(arch, func(t *testing.T) {
			t.Parallel() // one emulator per core
			emu := need(t, map[string]string{"mipsle": "qemu-mipsel", "mips": "qemu-mips"}[arch])
			bin := filepath.Join(t.TempDir(), "store.test")
			start := time.Now()
			build := exec.Command("go", "test", "-c", "-o", bin, "../internal/store/")
			build.Env = append(os.Environ(), "GOOS=linux", "GOARCH="+arch, "GOMIPS=softfloat", "CGO_ENABLED=0")
			if out, err := build.CombinedOutput(); err != nil {
				t.Fatalf("build the store tests for %s: %v\n%s", arch, err, out)
			}
			built := time.Since(start)
			run := exec.Command(emu, bin, "-test.short", "-test.count=1", "-test.run", mipsStoreTests)
			run.Dir = filepath.Dir(bin)
			run.Env = append(os.Environ(), "MINIPOT_TEST_EMULATOR="+emu, "TMPDIR="+t.TempDir())
			out, err := run.CombinedOutput()
			if err != nil {
				t.Fatalf("store tests under %s: %v\n%s", emu, err, out)
			}
			if !strings.Contains(string(out), "PASS") {
				t.Fatalf("store tests under %s printed no PASS:\n%s", emu, out)
			}
			t.Logf("%s: built in %s, ran in %s", arch, built.Round(time.Second), (time.Since(start) - built).Round(time.Second))
		})
	}
}

// Every store test with the SQLite that MIPS builds get
// (github.com/ncruces/go-sqlite3), on the build machine, where it is fast:
// the statistics tests that TestStoreOnMIPS leaves out included.
func TestStoreNcruces(t *testing.T) {
	cmd := exec.Command("go", "test", "-count=1", "-tags", "sqlite_ncruces", "../internal/store/")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("store tests with -tags sqlite_ncruces: %v\n%s", err, out)
	}
	t.Logf("%s", out)
}

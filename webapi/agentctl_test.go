package webapi

import (
	"context"
	"errors"
	"os"
	"testing"

	"github.com/minipot/minipot/internal/report"
)

// TestRunDirAgentRefusesStaleReports: a report whose pid is gone, or is
// not a minipot agent (a stale report after a crash, or a forged one in the
// agent-writable run folder), means no agent: the API signals nobody.
func TestRunDirAgentRefusesStaleReports(t *testing.T) {
	dir := t.TempDir()
	a := RunDirAgent{Dir: dir}
	if _, err := a.Report(); !errors.Is(err, ErrAgentNotRunning) {
		t.Errorf("no report: %v", err)
	}
	for _, pid := range []int{0, 1, os.Getpid(), 1 << 30} {
		if err := report.Write(dir, report.Report{PID: pid, ConfigDigest: "x"}); err != nil {
			t.Fatal(err)
		}
		if _, err := a.Report(); !errors.Is(err, ErrAgentNotRunning) {
			t.Errorf("report with pid %d: %v", pid, err)
		}
		if _, err := a.Reload(context.Background(), "y"); !errors.Is(err, ErrAgentNotRunning) {
			t.Errorf("reload with pid %d: %v", pid, err)
		}
	}
}

package webapi

import (
	"context"
	"fmt"
	"syscall"
	"time"

	"github.com/minipot/minipot/internal/report"
)

// ErrAgentNotRunning reports that no agent runs (no report, or the report
// of a process that has ended).
var ErrAgentNotRunning = report.ErrNotRunning

// AgentControl is what the API needs of the running agent: its report, and
// a reload that waits until the agent has loaded a given file.
type AgentControl interface {
	// Report returns the running agent's report, or an error wrapping
	// ErrAgentNotRunning.
	Report() (report.Report, error)
	// Reload asks the agent to read its settings again and waits until it
	// reports the file with this digest loaded, or ctx ends. The report
	// returned is the agent's last.
	Reload(ctx context.Context, digest string) (report.Report, error)
}

// RunDirAgent controls the agent through its run folder: agent.json tells
// the pid, SIGHUP reloads, and the report's config_digest confirms.
type RunDirAgent struct {
	Dir  string
	Poll time.Duration // how often the report is read while waiting (default 5ms)
}

var _ AgentControl = RunDirAgent{}

// Report reads the run folder's report of a live agent (report.ReadLive):
// a stale or forged report never makes the API signal another process.
func (a RunDirAgent) Report() (report.Report, error) {
	return report.ReadLive(a.Dir)
}

// Reload sends SIGHUP and waits for the report to show digest loaded. If
// the agent already runs with that file it is not signalled. Signals
// coalesce, and a reload reads the file as it is then: if someone changes
// the file again meanwhile, the digest never shows and ctx ends; the
// caller tells that case apart by the file's digest.
func (a RunDirAgent) Reload(ctx context.Context, digest string) (report.Report, error) {
	rep, err := a.Report()
	if err != nil {
		return rep, err
	}
	if rep.ConfigDigest == digest {
		return rep, nil
	}
	if err := syscall.Kill(rep.PID, syscall.SIGHUP); err != nil {
		return rep, fmt.Errorf("signal the agent (pid %d): %w", rep.PID, err)
	}
	poll := a.Poll
	if poll <= 0 {
		poll = 5 * time.Millisecond
	}
	t := time.NewTicker(poll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return rep, fmt.Errorf("the agent (pid %d) did not report loading the new settings in time: %w", rep.PID, ctx.Err())
		case <-t.C:
		}
		now, err := a.Report()
		if err != nil {
			return rep, err
		}
		rep = now
		if rep.ConfigDigest == digest {
			return rep, nil
		}
	}
}

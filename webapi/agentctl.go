package webapi

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/minipot/minipot/agent"
)

// ErrAgentNotRunning reports that no agent runs (no report, or the report
// of a process that has ended).
var ErrAgentNotRunning = errors.New("the agent is not running")

// AgentControl is what the API needs of the running agent: its report, and
// a reload that waits until the agent has loaded a given file.
type AgentControl interface {
	// Report returns the running agent's report, or an error wrapping
	// ErrAgentNotRunning.
	Report() (agent.Report, error)
	// Reload asks the agent to read its settings again and waits until it
	// reports the file with this digest loaded, or ctx ends. The report
	// returned is the agent's last.
	Reload(ctx context.Context, digest string) (agent.Report, error)
}

// RunDirAgent controls the agent through its run folder: agent.json tells
// the pid, SIGHUP reloads, and the report's config_digest confirms.
type RunDirAgent struct {
	Dir  string
	Poll time.Duration // how often the report is read while waiting (default 5ms)
}

var _ AgentControl = RunDirAgent{}

// Report reads agent.json and checks that its pid is a live minipot agent
// run by the owner of the report, so that a stale report (the agent was
// killed) or a forged one (the run folder belongs to the unprivileged
// agent) never makes the API signal another process.
func (a RunDirAgent) Report() (agent.Report, error) {
	path := filepath.Join(a.Dir, agent.ReportFile)
	fi, err := os.Stat(path)
	if errors.Is(err, os.ErrNotExist) {
		return agent.Report{}, ErrAgentNotRunning
	}
	if err != nil {
		return agent.Report{}, fmt.Errorf("agent report: %w", err)
	}
	rep, err := agent.ReadReport(a.Dir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) { // removed as the agent stopped
			return agent.Report{}, ErrAgentNotRunning
		}
		return agent.Report{}, err
	}
	owner := -1
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		owner = int(st.Uid)
	}
	if err := checkAgentProcess(rep.PID, owner); err != nil {
		return rep, fmt.Errorf("%w (%s has a stale report: %v)", ErrAgentNotRunning, path, err)
	}
	return rep, nil
}

// checkAgentProcess verifies that pid is a running `minipot agent` whose
// real uid is owner (-1: any).
func checkAgentProcess(pid, owner int) error {
	if pid <= 1 {
		return fmt.Errorf("pid %d", pid)
	}
	proc := "/proc/" + strconv.Itoa(pid)
	cmdline, err := os.ReadFile(proc + "/cmdline")
	if err != nil {
		return fmt.Errorf("pid %d is not running", pid)
	}
	args := strings.Split(strings.TrimRight(string(cmdline), "\x00"), "\x00")
	isAgent := len(args) > 1 && strings.HasPrefix(filepath.Base(args[0]), "minipot")
	if isAgent {
		isAgent = false
		for _, a := range args[1:] {
			if a == "agent" {
				isAgent = true
				break
			}
		}
	}
	if !isAgent {
		return fmt.Errorf("pid %d is not a minipot agent", pid)
	}
	if owner < 0 {
		return nil
	}
	status, err := os.ReadFile(proc + "/status")
	if err != nil {
		return fmt.Errorf("pid %d is not running", pid)
	}
	for line := range bytes.Lines(status) {
		if rest, ok := bytes.CutPrefix(line, []byte("Uid:")); ok {
			f := strings.Fields(string(rest))
			if len(f) == 0 || f[0] != strconv.Itoa(owner) {
				return fmt.Errorf("pid %d runs as another user than the report's owner (uid %d)", pid, owner)
			}
			return nil
		}
	}
	return fmt.Errorf("pid %d: no uid in /proc", pid)
}

// Reload sends SIGHUP and waits for the report to show digest loaded. If
// the agent already runs with that file it is not signalled. Signals
// coalesce, and a reload reads the file as it is then: if someone changes
// the file again meanwhile, the digest never shows and ctx ends; the
// caller tells that case apart by the file's digest.
func (a RunDirAgent) Reload(ctx context.Context, digest string) (agent.Report, error) {
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

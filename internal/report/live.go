package report

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// ErrNotRunning reports that no agent runs (no report, or the report of a
// process that has ended).
var ErrNotRunning = errors.New("the agent is not running")

// ReadLive reads the report and checks that its pid is a live minipot agent
// run by the owner of the report, so that a stale report (the agent was
// killed) or a forged one (the run folder belongs to the unprivileged
// agent) never makes the API signal another process.
func ReadLive(dir string) (Report, error) {
	path := filepath.Join(dir, File)
	fi, err := os.Stat(path)
	if errors.Is(err, os.ErrNotExist) {
		return Report{}, ErrNotRunning
	}
	if err != nil {
		return Report{}, fmt.Errorf("agent report: %w", err)
	}
	rep, err := Read(dir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) { // removed as the agent stopped
			return Report{}, ErrNotRunning
		}
		return Report{}, err
	}
	owner := -1
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		owner = int(st.Uid)
	}
	if err := checkAgentProcess(rep.PID, owner); err != nil {
		return rep, fmt.Errorf("%w (%s has a stale report: %v)", ErrNotRunning, path, err)
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

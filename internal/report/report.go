// Package report is the running agent's status report: what it tells other
// local processes (the control API, `minipot status`) through a file in its
// run folder, how that file is written and read, and the loop that keeps it
// fresh. The agent writes it and the API reads it; both import this package
// so that neither imports the other.
//
// A file, not a socket: the reader runs as another user and in another
// process, and a file needs no port and no privileges beyond the folder's
// mode.
package report

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/minipot/minipot/internal/atomicfile"
)

// Report is the agent's state as one JSON document.
type Report struct {
	PID            int             `json:"pid"`
	Version        string          `json:"version"`
	Started        time.Time       `json:"started"`
	Loaded         time.Time       `json:"loaded"`        // when the settings below were applied
	ConfigDigest   string          `json:"config_digest"` // sha256 of the ucollect file applied
	ConfigError    string          `json:"config_error,omitempty"`
	Enabled        bool            `json:"enabled"`
	LogCredentials bool            `json:"log_credentials"`
	Services       []ServiceStatus `json:"services"`
	Connections    Counters        `json:"connections"`
	Store          StoreCounters   `json:"store"`
	Updated        time.Time       `json:"updated"`
}

// ServiceStatus tells whether a service's fake is listening, and if not why.
type ServiceStatus struct {
	Key       string `json:"key"`
	Port      int    `json:"port"`
	FakePort  int    `json:"fake_port"`
	Address   string `json:"address,omitempty"`
	Listening bool   `json:"listening"`
	Reason    string `json:"reason,omitempty"` // "disabled", "feature off", or the bind error
}

// Counters are the agent's connection totals since it started.
type Counters struct {
	Accepted uint64 `json:"accepted"` // connections served
	Rejected uint64 `json:"rejected"` // connections closed at once by a limit
	Evicted  uint64 `json:"evicted"`  // connections closed to give their slot to a newcomer
	Open     int    `json:"open"`
	// Parked counts the open connections waiting for their peer's first
	// bytes without a goroutine (agent/park_linux.go).
	Parked int `json:"parked"`
}

// StoreCounters are the event store's totals since the agent started.
type StoreCounters struct {
	Path string `json:"path"`
	// State is "open" while the agent writes the store, "unavailable"
	// while it has none (its fakes serve on; their events count as
	// dropped); Problem then says why and what the owner can do.
	State   string `json:"state,omitempty"`
	Problem string `json:"problem,omitempty"`
	Written uint64 `json:"written"`
	Dropped uint64 `json:"dropped"`
	// Evicted counts events deleted to keep within store.max_size.
	Evicted uint64 `json:"evicted"`
	// Recovered says what was wrong with a damaged store found at start
	// and where it was moved; empty if nothing was.
	Recovered string `json:"recovered,omitempty"`
}

// File is the report's name in the run folder.
const File = "agent.json"

// maxSize bounds what Read accepts: a report of every service is a few
// KiB, and the run folder is writable by the unprivileged agent, so a
// reader running as root must not load whatever it finds there.
const maxSize = 1 << 20

// Write replaces the report atomically, so a reader never sees half of one.
func Write(dir string, r Report) error {
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("encode agent report: %w", err)
	}
	if err := atomicfile.Write(filepath.Join(dir, File), append(data, '\n'), 0o644); err != nil {
		return fmt.Errorf("agent report: %w", err)
	}
	return nil
}

// Read reads the report from the run folder.
func Read(dir string) (Report, error) {
	var r Report
	path := filepath.Join(dir, File)
	// Non-blocking and regular files only: a FIFO or a device planted in
	// the agent's folder must not hang the reader.
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return r, fmt.Errorf("read agent report: %w", err)
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		return r, fmt.Errorf("read agent report %s: not a regular file", path)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxSize+1))
	if err != nil {
		return r, fmt.Errorf("read agent report %s: %w", path, err)
	}
	if len(data) > maxSize {
		return r, fmt.Errorf("read agent report %s: larger than %d bytes", path, maxSize)
	}
	if err := json.Unmarshal(data, &r); err != nil {
		return r, fmt.Errorf("read agent report %s: %w", path, err)
	}
	return r, nil
}

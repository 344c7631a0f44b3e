package agent

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// Report is what the running agent tells other local processes (the
// control API, `minipot status`) through a file in its runtime folder: they
// run as other users and in other processes, and a file needs no socket,
// no port and no privileges beyond the folder's mode.
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

// StoreCounters are the event store's totals since the agent started.
type StoreCounters struct {
	Path    string `json:"path"`
	Written uint64 `json:"written"`
	Dropped uint64 `json:"dropped"`
	// Evicted counts events deleted to keep within store.max_size.
	Evicted uint64 `json:"evicted"`
	// Recovered says what was wrong with a damaged store found at start
	// and where it was moved; empty if nothing was.
	Recovered string `json:"recovered,omitempty"`
}

// ReportFile is the report's name in the runtime folder.
const ReportFile = "agent.json"

// WriteReport replaces the report atomically, so a reader never sees half
// of one.
func WriteReport(dir string, r Report) error {
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("encode agent report: %w", err)
	}
	tmp, err := os.CreateTemp(dir, ".agent-*.json")
	if err != nil {
		return fmt.Errorf("write agent report: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(append(data, '\n')); err != nil {
		tmp.Close()
		return fmt.Errorf("write agent report: %w", err)
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return fmt.Errorf("write agent report: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write agent report: %w", err)
	}
	if err := os.Rename(tmp.Name(), filepath.Join(dir, ReportFile)); err != nil {
		return fmt.Errorf("write agent report: %w", err)
	}
	return nil
}

// ReadReport reads the report from the runtime folder.
func ReadReport(dir string) (Report, error) {
	var r Report
	data, err := os.ReadFile(filepath.Join(dir, ReportFile))
	if err != nil {
		return r, fmt.Errorf("read agent report: %w", err)
	}
	if err := json.Unmarshal(data, &r); err != nil {
		return r, fmt.Errorf("read agent report %s: %w", filepath.Join(dir, ReportFile), err)
	}
	return r, nil
}

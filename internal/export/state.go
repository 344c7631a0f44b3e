package export

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/minipot/minipot/internal/atomicfile"
)

// Cursor is an outbox position kept in a small file beside the store,
// outside the SQLite schema: After is the highest event id the receiver
// acknowledged, Lost counts the ids that retention (or a purge) deleted
// before they were sent.
type Cursor struct {
	After int64 `json:"after"`
	Lost  int64 `json:"lost"`
}

// maxStateFile bounds what is read from a cursor or sensor-id file.
const maxStateFile = 4096

// LoadCursor reads a cursor file; a missing file is the start.
func LoadCursor(path string) (Cursor, error) {
	var c Cursor
	data, err := readSmall(path)
	if errors.Is(err, fs.ErrNotExist) {
		return c, nil
	}
	if err != nil {
		return c, fmt.Errorf("read cursor: %w", err)
	}
	if err := json.Unmarshal(data, &c); err != nil || c.After < 0 || c.Lost < 0 {
		// A damaged cursor must not restart the export from zero
		// silently, nor skip events: refuse, and say which file.
		return c, fmt.Errorf("cursor %s is damaged (remove it to export everything stored again): %v", path, err)
	}
	return c, nil
}

// Save writes the cursor atomically: temp file, fsync, rename.
func (c Cursor) Save(path string) error {
	data, _ := json.Marshal(c)
	return atomicfile.Write(path, append(data, '\n'), 0o600)
}

// SensorID returns the configured id, or else the random one kept in
// path, generating it on first use. A random id says nothing about the
// router or its owner; it stays the same across restarts so that the
// collector can tell routers apart.
func SensorID(configured, path string) (string, error) {
	if configured != "" {
		return configured, nil
	}
	data, err := readSmall(path)
	if err == nil {
		id := strings.TrimSpace(string(data))
		if len(id) == 16 && isHex(id) {
			return id, nil
		}
		return "", fmt.Errorf("sensor id file %s is damaged (remove it to generate a new id)", path)
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("read sensor id: %w", err)
	}
	var b [8]byte
	_, _ = rand.Read(b[:])
	id := hex.EncodeToString(b[:])
	if err := atomicfile.Write(path, []byte(id+"\n"), 0o644); err != nil {
		return "", fmt.Errorf("keep sensor id: %w", err)
	}
	return id, nil
}

func isHex(s string) bool {
	_, err := hex.DecodeString(s)
	return err == nil
}

func readSmall(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	buf := make([]byte, maxStateFile+1)
	n, err := f.Read(buf)
	if n > maxStateFile {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, maxStateFile)
	}
	if err != nil && n == 0 {
		return nil, err
	}
	return buf[:n], nil
}

// SinkStatus is one destination's state, as the status file and /status
// show it.
type SinkStatus struct {
	Enabled    bool       `json:"enabled"`
	Target     string     `json:"target,omitempty"` // broker or webhook URL
	Connected  bool       `json:"connected"`
	LastExport *time.Time `json:"last_export,omitempty"` // last acknowledged batch
	Sent       uint64     `json:"sent"`                  // events acknowledged since the exporter started
	Waiting    int64      `json:"waiting"`               // stored events not yet acknowledged
	Lost       int64      `json:"lost"`                  // deleted by retention or a purge before export
	Cursor     int64      `json:"cursor"`
	LastError  string     `json:"last_error,omitempty"`
	ErrorAt    *time.Time `json:"error_at,omitempty"`
}

// Status is the exporter's report, written to StatusFile in the runtime
// folder for the control API (as the agent writes its own).
type Status struct {
	PID     int        `json:"pid"`
	Started time.Time  `json:"started"`
	Updated time.Time  `json:"updated"`
	Sensor  string     `json:"sensor,omitempty"`
	Topic   string     `json:"topic,omitempty"`
	MQTT    SinkStatus `json:"mqtt"`
	Webhook SinkStatus `json:"webhook"`
	Error   string     `json:"error,omitempty"` // settings or store trouble shared by both
}

// StatusFile is the report's name in the runtime folder.
const StatusFile = "export.json"

// WriteStatus replaces the report atomically. The file is on /var (RAM)
// on a router: no fsync wear to worry about.
func WriteStatus(dir string, s Status) error {
	data, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return fmt.Errorf("encode export status: %w", err)
	}
	return atomicfile.Write(filepath.Join(dir, StatusFile), append(data, '\n'), 0o644)
}

// ReadStatus reads the report from the runtime folder.
func ReadStatus(dir string) (Status, error) {
	var s Status
	data, err := os.ReadFile(filepath.Join(dir, StatusFile))
	if err != nil {
		return s, fmt.Errorf("read export status: %w", err)
	}
	if err := json.Unmarshal(data, &s); err != nil {
		return s, fmt.Errorf("read export status: %w", err)
	}
	return s, nil
}

package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"strings"
	"time"
)

// applicationID marks a minipot store in the SQLite header ("mpot"), so
// that another program's database at store.path is told apart without
// opening it through SQLite (which could switch it to WAL, or replay and
// delete its journal).
const applicationID = 0x6d706f74

// ErrForeign is wrapped by Open's error when store.path holds another
// program's SQLite database: the file is refused and left untouched.
var ErrForeign = errors.New("another program's SQLite database")

// headerSize is the SQLite file header; sqliteMagic starts it.
const (
	headerSize  = 100
	sqliteMagic = "SQLite format 3\x00"
)

// verdict is what checkFile found at the store path.
type verdict int

const (
	fileNew     verdict = iota // missing, empty or a blank SQLite file: a new store
	fileOurs                   // a minipot store, to be opened
	fileDamaged                // minipot's, or not a database at all: move aside
	fileForeign                // another program's SQLite database: refuse
)

// checkFile looks at the file at path before SQLite does, reading its header
// only (100 bytes, never writing). A file that is not SQLite, or is shorter
// than its header says, is damaged: it is not another program's database,
// and nothing of it can be read as ours. An SQLite file is ours if it bears
// applicationID, or (stores made before the id existed) has no id, a
// schema version this program knows, and an events table of ours.
func checkFile(path string) (verdict, string, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return fileNew, "", nil
	}
	if err != nil {
		return 0, "", fmt.Errorf("check store: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return 0, "", fmt.Errorf("check store: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return fileForeign, "", fmt.Errorf("store %s is not a regular file", path)
	}
	if fi.Size() == 0 {
		return fileNew, "", nil
	}
	var h [headerSize]byte
	if _, err := io.ReadFull(f, h[:]); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return fileDamaged, fmt.Sprintf("truncated: %d bytes, shorter than an SQLite header", fi.Size()), nil
		}
		return 0, "", fmt.Errorf("check store: %w", err)
	}
	if string(h[:16]) != sqliteMagic {
		return fileDamaged, "not an SQLite database", nil
	}
	pageSize := int64(binary.BigEndian.Uint16(h[16:18]))
	if pageSize == 1 {
		pageSize = 65536
	}
	disk := h // the file's own header, for the truncation check below
	// In WAL mode the newest page 1 may be in the -wal file only (a store
	// that was never checkpointed: a crash soon after creating it).
	if h[18] == 2 {
		walPageOne(path+"-wal", &h)
	}
	appID := binary.BigEndian.Uint32(h[68:72])
	userVersion := int(binary.BigEndian.Uint32(h[60:64]))
	switch {
	case appID == applicationID:
	case appID == 0 && userVersion == 0 && binary.BigEndian.Uint32(h[40:44]) == 0:
		// Blank: no id, no version, and a schema cookie that never moved,
		// so no table was ever created. The agent leaves this behind
		// between creating the file and committing its schema (one
		// transaction): an API reading then, or an agent starting after a
		// crash there, finds a new store, not another program's.
		return fileNew, "", nil
	case appID == 0 && userVersion >= 1 && userVersion <= len(migrations) && hasOurTable(path):
	default:
		return fileForeign, "", fmt.Errorf("store %s: %w (application_id %#x, user_version %d): refusing to open or change it; point store.path at another file",
			path, ErrForeign, appID, userVersion)
	}
	// The page count in the header is valid when its change counter
	// matches (offsets 24 and 92); a file shorter than that lost pages.
	// (In the file's own header: the WAL's page 1 may count pages that
	// only the WAL holds yet.)
	if pages := int64(binary.BigEndian.Uint32(disk[28:32])); pageSize >= 512 && pages > 0 &&
		binary.BigEndian.Uint32(disk[24:28]) == binary.BigEndian.Uint32(disk[92:96]) && fi.Size() < pages*pageSize {
		return fileDamaged, fmt.Sprintf("truncated: %d bytes, its header says %d", fi.Size(), pages*pageSize), nil
	}
	return fileOurs, "", nil
}

// walPageOne copies the header of the last page 1 in the WAL at walPath
// over h, if there is one. Frames count when their salts match the WAL
// header's (those of an older generation do not); checksums are not
// verified: this only tells whose file it is, and SQLite verifies them when
// the file is opened. It reads 24 bytes per frame.
func walPageOne(walPath string, h *[headerSize]byte) {
	f, err := os.Open(walPath)
	if err != nil {
		return
	}
	defer f.Close()
	var wh [32]byte
	if _, err := io.ReadFull(f, wh[:]); err != nil {
		return
	}
	if m := binary.BigEndian.Uint32(wh[0:4]); m != 0x377f0682 && m != 0x377f0683 {
		return
	}
	pageSize := int64(binary.BigEndian.Uint32(wh[8:12]))
	if pageSize < 512 || pageSize > 65536 {
		return
	}
	var fh [24]byte
	found := int64(-1)
	for off := int64(32); ; off += 24 + pageSize {
		if _, err := f.ReadAt(fh[:], off); err != nil {
			break
		}
		if !bytes.Equal(fh[8:16], wh[16:24]) {
			break // a frame of an older generation: the log ends here
		}
		if binary.BigEndian.Uint32(fh[0:4]) == 1 {
			found = off + 24
		}
	}
	if found >= 0 {
		var p [headerSize]byte
		if _, err := f.ReadAt(p[:], found); err == nil && string(p[:16]) == sqliteMagic {
			*h = p
		}
	}
}

// hasOurTable reports whether the SQLite file at path has minipot's events
// table, reading it as immutable: SQLite then takes no lock and writes no
// file (no -shm, no WAL, no journal rollback).
func hasOurTable(path string) bool {
	db, err := openDB(path, url.Values{"mode": {"ro"}, "immutable": {"1"}})
	if err != nil {
		return false
	}
	defer db.Close()
	var sql string
	err = db.QueryRow("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'events'").Scan(&sql)
	return err == nil && strings.Contains(sql, "src_ip") && strings.Contains(sql, "conn_id")
}

// isDamage reports whether err is SQLite finding the file corrupt
// (SQLITE_CORRUPT, SQLITE_NOTADB); both drivers say it in these words.
func isDamage(err error) bool {
	if err == nil {
		return false
	}
	msg := err.Error()
	return strings.Contains(msg, "malformed") || strings.Contains(msg, "not a database") ||
		strings.Contains(msg, "file is not a database") || strings.Contains(msg, "integrity check")
}

// damagedSuffix names the one damaged store kept for the owner: a later
// one replaces it, so damage costs at most one store's size more.
const damagedSuffix = ".damaged"

// moveAside renames the damaged store at path, and its WAL and shared
// memory, to path+damagedSuffix (SQLite's naming, so the pair opens
// together with the sqlite3 tool). Renaming does not change a byte.
func moveAside(path string) (string, error) {
	to := path + damagedSuffix
	for _, suf := range []string{"-wal", "-shm", ""} {
		// A companion left from an earlier damaged store must not pair
		// with this one.
		if err := os.Remove(to + suf); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("move damaged store aside: %w", err)
		}
	}
	for _, suf := range []string{"-wal", "-shm", ""} {
		if err := os.Rename(path+suf, to+suf); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("move damaged store aside: %w", err)
		}
	}
	return to, nil
}

// lastID reads, best effort, the highest id a damaged store handed out,
// so that the fresh store's ids continue above it (readers such as the
// exporter keep cursors by id). Immutable: nothing is written.
func lastID(path string) int64 {
	db, err := openDB(path, url.Values{"mode": {"ro"}, "immutable": {"1"}})
	if err != nil {
		return 0
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var seq, hi int64
	_ = db.QueryRowContext(ctx, "SELECT seq FROM sqlite_sequence WHERE name = 'events'").Scan(&seq)
	_ = db.QueryRowContext(ctx, "SELECT max(id) FROM events").Scan(&hi)
	return max(seq, hi)
}

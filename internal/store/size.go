package store

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// Budget splits Options.MaxSize, the bytes of every file minipot writes for
// the store, among those files. It is the one place that knows the split:
// the agent's writer enforces DB and WAL, the API's statistics keep to
// Stats, and Reserve is set aside so that a purge can run on a full disk.
type Budget struct {
	Total   int64 // Options.MaxSize; 0: no bound, and every share is 0
	DB      int64 // the database file (SQLite's max_page_count)
	WAL     int64 // the -wal file, checked after every batch
	Stats   int64 // the API's statistics files (OpenStats)
	Reserve int64 // a file of zeros that a purge deletes first on a full disk
}

// Smallest accepted MaxSize: below it the shares cannot hold a batch.
const MinMaxSize = 1 << 20

// BudgetFor returns the split of maxSize bytes. The WAL gets an eighth:
// enough for a few batches between checkpoints; the statistics a quarter
// (measured: they take about a third of the events' bytes when every
// request has its own URL, much less otherwise); the purge reserve
// 1/32, at least 256 KiB (a purge on a full disk works in steps that fit)
// and at most 1 MiB; the database the rest.
func BudgetFor(maxSize int64) Budget {
	if maxSize <= 0 {
		return Budget{}
	}
	b := Budget{Total: maxSize, WAL: maxSize / 8, Stats: maxSize / 4, Reserve: min(max(maxSize/32, 256<<10), 1<<20)}
	b.DB = maxSize - b.WAL - b.Stats - b.Reserve
	return b
}

// unboundedReserve is the purge reserve of a store without MaxSize.
const unboundedReserve = 256 << 10

// reserveSize is b's purge reserve, or unboundedReserve without a bound:
// a full disk can happen either way.
func reserveSize(b Budget) int64 {
	if b.Total == 0 {
		return unboundedReserve
	}
	return b.Reserve
}

// statsPattern is the glob of the API's statistics files beside the store
// at path (see OpenStats).
func statsPattern(path string) string { return path + ".stats-*" }

// reservePath is the purge reserve beside the store at path.
func reservePath(path string) string { return path + ".reserve" }

// Usage is what the store's files occupy, by file, in bytes.
type Usage struct {
	DB, WAL, SHM, Stats, Reserve int64
}

// Total is the sum of every file.
func (u Usage) Total() int64 { return u.DB + u.WAL + u.SHM + u.Stats + u.Reserve }

// usage measures the files of the store at path. Missing companions count
// as zero; a missing database is an error.
func usage(path string) (Usage, error) {
	var u Usage
	size := func(p string, must bool) (int64, error) {
		fi, err := os.Stat(p)
		if err != nil {
			if !must && errors.Is(err, fs.ErrNotExist) {
				return 0, nil
			}
			return 0, fmt.Errorf("store size: %w", err)
		}
		return fi.Size(), nil
	}
	var err error
	if u.DB, err = size(path, true); err != nil {
		return u, err
	}
	if u.WAL, err = size(path+"-wal", false); err != nil {
		return u, err
	}
	if u.SHM, err = size(path+"-shm", false); err != nil {
		return u, err
	}
	if u.Reserve, err = size(reservePath(path), false); err != nil {
		return u, err
	}
	stats, _ := filepath.Glob(statsPattern(path)) // the pattern is valid
	for _, p := range stats {
		n, err := size(p, false)
		if err != nil {
			return u, err
		}
		u.Stats += n
	}
	return u, nil
}

// isFull reports whether err is SQLite's SQLITE_FULL: the disk, or
// max_page_count, has no room. Both drivers say it in these words.
func isFull(err error) bool {
	return err != nil && strings.Contains(err.Error(), "database or disk is full")
}

// noRoom reports whether err means the store at path found no room: an
// SQLITE_FULL, or an I/O error while its file system is nearly full
// (github.com/ncruces/go-sqlite3 reports ENOSPC as SQLITE_FULL from write
// only; growing a file by other means gives SQLITE_IOERR).
func noRoom(path string, err error) bool {
	if err == nil {
		return false
	}
	if isFull(err) {
		return true
	}
	if !strings.Contains(err.Error(), "disk I/O error") {
		return false
	}
	var st syscall.Statfs_t
	if syscall.Statfs(filepath.Dir(path), &st) != nil {
		return false
	}
	return int64(st.Bavail)*int64(st.Bsize) < 1<<20
}

// makeReserve (re)creates the purge reserve: size bytes written for real
// (not a sparse file), so that deleting it gives that much back.
func makeReserve(path string, size int64) error {
	p := reservePath(path)
	if size <= 0 {
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("remove purge reserve: %w", err)
		}
		return nil
	}
	if fi, err := os.Stat(p); err == nil && fi.Size() == size {
		return nil
	}
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("create purge reserve: %w", err)
	}
	buf := make([]byte, 64<<10)
	for left := size; left > 0; left -= int64(len(buf)) {
		if _, err := f.Write(buf[:min(left, int64(len(buf)))]); err != nil {
			f.Close()
			os.Remove(p) // a partial reserve would be counted for nothing
			return fmt.Errorf("create purge reserve: %w", err)
		}
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("create purge reserve: %w", err)
	}
	return nil
}

// freeReserve deletes the purge reserve, reporting whether there was one.
func freeReserve(path string) bool {
	return os.Remove(reservePath(path)) == nil
}

// pageCounts reads what the database holds: its pages, the free ones, and
// the page size. All three come from the header: cheap.
func pageCounts(ctx context.Context, q queryer) (pages, free, pageSize int64, err error) {
	for _, p := range []struct {
		pragma string
		v      *int64
	}{{"page_count", &pages}, {"freelist_count", &free}, {"page_size", &pageSize}} {
		if err = q.QueryRowContext(ctx, "PRAGMA "+p.pragma).Scan(p.v); err != nil {
			return 0, 0, 0, fmt.Errorf("read %s: %w", p.pragma, err)
		}
	}
	return pages, free, pageSize, nil
}

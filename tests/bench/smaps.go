package main

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// memParts splits a process's resident memory by where it lives, from
// /proc/PID/smaps, to tell what holds memory after a burst: the Go heap's
// arenas (heap objects and goroutine stacks), other anonymous memory (the
// Go runtime's metadata, thread stacks, and modernc.org/sqlite's C heap,
// which it maps itself), SQLite's shared-memory index (the -shm file) and
// the rest of the file-backed pages (the binary's text).
type memParts struct {
	arena, anon, shm, file int // KB
}

func (m memParts) String() string {
	return fmt.Sprintf("Go arenas %d KB, other anonymous %d KB, -shm %d KB, file %d KB", m.arena, m.anon, m.shm, m.file)
}

// goArenaLo, goArenaHi bound where the Go runtime places its heap arenas
// on 64-bit Linux (its arena hints start at 0x00c0<<32 and go up).
const goArenaLo, goArenaHi = 0x00c0 << 32, 0x7f00 << 32

func readMemParts(pid int) (memParts, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/smaps", pid))
	if err != nil {
		return memParts{}, err
	}
	defer f.Close()
	var m memParts
	var kind *int
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		if rest, ok := strings.CutPrefix(line, "Rss:"); ok {
			n, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(rest), " kB"))
			if kind != nil {
				*kind += n
			}
			continue
		}
		// A mapping's header: "lo-hi perms offset dev inode [path]".
		lo, _, ok := strings.Cut(fields[0], "-")
		if !ok || strings.HasSuffix(fields[0], ":") {
			continue
		}
		addr, err := strconv.ParseUint(lo, 16, 64)
		if err != nil {
			continue
		}
		path := ""
		if len(fields) >= 6 {
			path = fields[5]
		}
		switch {
		case strings.HasSuffix(path, "-shm"):
			kind = &m.shm
		case path != "" && !strings.HasPrefix(path, "["):
			kind = &m.file
		case addr >= goArenaLo && addr < goArenaHi && path == "":
			kind = &m.arena
		default:
			kind = &m.anon
		}
	}
	return m, sc.Err()
}

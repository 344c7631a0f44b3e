package export

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/netip"
	"os"
	"strings"

	"github.com/minipot/minipot/internal/atomicfile"
)

// SeenFile holds, beside the webhook's cursor, the addresses the webhook
// has already announced, so that a restarted exporter does not announce
// known attackers again.
const SeenFile = "export-webhook.seen"

// maxSeen bounds the addresses the webhook remembers as already
// announced; past it the oldest is forgotten first (it may then be
// announced again, never one missed). The file is then at most 16384
// lines of an address each: 256 KiB of IPv4, 640 KiB at worst of IPv6.
const maxSeen = 16384

// maxSeenLine bounds one line of the file: the longest IPv6 text with a
// zone is far shorter.
const maxSeenLine = 64

// seenSet is the set of addresses already announced, in the order they
// were, oldest first, bounded by max entries, and kept in a file (path
// "": in memory only). It is not safe for concurrent use: the webhook's
// one pump uses it.
type seenSet struct {
	path  string
	max   int
	set   map[string]struct{}
	order []string // oldest first; order[head:] then order[:head] when full
	head  int      // index of the oldest once len(order) == max
}

// loadSeen reads the set from path. A missing file is an empty set. A
// damaged line (a crash cannot leave one: the file is replaced whole, but
// hands can) is skipped: forgetting an address costs one alert again,
// which is better than no alerts at all. Only a file that cannot be read
// is an error.
func loadSeen(path string, max int) (*seenSet, error) {
	s := &seenSet{path: path, max: max, set: map[string]struct{}{}}
	if path == "" {
		return s, nil
	}
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return s, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read the webhook's seen addresses: %w", err)
	}
	defer f.Close()
	// Bounded: a file of max lines fits; a bigger one (an older, larger
	// bound, or a hand-made file) keeps its newest lines that fit.
	limit := int64(max) * maxSeenLine
	cut := false
	if st, err := f.Stat(); err == nil && st.Size() > limit {
		if _, err := f.Seek(st.Size()-limit, io.SeekStart); err != nil {
			return nil, fmt.Errorf("read the webhook's seen addresses: %w", err)
		}
		cut = true
	}
	data, err := io.ReadAll(io.LimitReader(f, limit))
	if err != nil {
		return nil, fmt.Errorf("read the webhook's seen addresses: %w", err)
	}
	if cut {
		// The first line read may be the tail of one ("db8::1" of
		// "2001:db8::1"), itself an address: drop it.
		_, data, _ = bytes.Cut(data, []byte{'\n'})
	}
	for line := range bytes.SplitSeq(data, []byte{'\n'}) {
		if a, err := netip.ParseAddr(strings.TrimSpace(string(line))); err == nil {
			s.add(a.String())
		}
	}
	return s, nil
}

func (s *seenSet) has(ip string) bool {
	_, ok := s.set[ip]
	return ok
}

func (s *seenSet) len() int { return len(s.set) }

// add remembers ip, forgetting the oldest address when the set is full.
func (s *seenSet) add(ip string) {
	if s.has(ip) || s.max <= 0 {
		return
	}
	s.set[ip] = struct{}{}
	if len(s.order) < s.max {
		s.order = append(s.order, ip)
		return
	}
	delete(s.set, s.order[s.head])
	s.order[s.head] = ip
	s.head = (s.head + 1) % s.max
}

// addAll remembers ips and writes the file once (temp file, fsync,
// rename, as the cursor): written only when something new came, at most
// export.webhook_rate times a minute.
func (s *seenSet) addAll(ips []string) error {
	if len(ips) == 0 {
		return nil
	}
	for _, ip := range ips {
		s.add(ip)
	}
	if s.path == "" {
		return nil
	}
	var b strings.Builder
	for _, ip := range s.order[s.head:] {
		b.WriteString(ip)
		b.WriteByte('\n')
	}
	for _, ip := range s.order[:s.head] {
		b.WriteString(ip)
		b.WriteByte('\n')
	}
	return atomicfile.Write(s.path, []byte(b.String()), 0o600)
}

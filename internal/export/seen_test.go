package export

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSeenSet: the set holds at most max addresses, forgets the oldest
// first, and a new exporter reads back what the last one wrote, in order.
func TestSeenSet(t *testing.T) {
	path := filepath.Join(t.TempDir(), SeenFile)
	s, err := loadSeen(path, 3)
	if err != nil || s.len() != 0 {
		t.Fatalf("missing file: %v, %d entries", err, s.len())
	}
	steps := []struct {
		add  []string
		want []string // oldest first
	}{
		{[]string{"192.0.2.1", "192.0.2.2"}, []string{"192.0.2.1", "192.0.2.2"}},
		{[]string{"192.0.2.2", "2001:db8::1"}, []string{"192.0.2.1", "192.0.2.2", "2001:db8::1"}},
		{[]string{"192.0.2.4"}, []string{"192.0.2.2", "2001:db8::1", "192.0.2.4"}},
		{[]string{"192.0.2.5", "192.0.2.6", "192.0.2.7", "192.0.2.8"}, []string{"192.0.2.6", "192.0.2.7", "192.0.2.8"}},
	}
	for i, st := range steps {
		if err := s.addAll(st.add); err != nil {
			t.Fatal(err)
		}
		data, _ := os.ReadFile(path)
		if got := strings.Fields(string(data)); strings.Join(got, " ") != strings.Join(st.want, " ") {
			t.Errorf("step %d: file %v, want %v", i, got, st.want)
		}
		r, err := loadSeen(path, 3)
		if err != nil || r.len() != len(st.want) {
			t.Fatalf("step %d: read back %v, %d entries", i, err, r.len())
		}
		for _, ip := range st.want {
			if !r.has(ip) || !s.has(ip) {
				t.Errorf("step %d: %s forgotten", i, ip)
			}
		}
		if s.len() > 3 {
			t.Errorf("step %d: %d entries past the bound", i, s.len())
		}
	}
	if st, err := os.Stat(path); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("file mode %v, %v", st.Mode(), err)
	}
}

// TestSeenFileHostile: damaged lines are skipped, a file larger than the
// bound keeps its newest addresses, and nothing read is more than max.
func TestSeenFileHostile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, SeenFile)
	os.WriteFile(path, []byte("192.0.2.1\nnot an address\n\x00\xff\n 192.0.2.2 \n999.1.1.1\n"+strings.Repeat("x", 500)+"\n"), 0o600)
	s, err := loadSeen(path, 10)
	if err != nil || s.len() != 2 || !s.has("192.0.2.1") || !s.has("192.0.2.2") {
		t.Errorf("damaged file: %v, %v", err, s.set)
	}
	var b strings.Builder
	for i := range 1000 {
		fmt.Fprintf(&b, "10.0.%d.%d\n", i/256, i%256)
	}
	os.WriteFile(path, []byte(b.String()), 0o600)
	s, err = loadSeen(path, 10)
	if err != nil || s.len() != 10 || !s.has("10.0.3.231") || s.has("10.0.0.0") {
		t.Errorf("oversize file: %v, %d entries", err, s.len())
	}
	// Cut inside "2001:db8::1": its tail "db8::1" is an address too.
	os.WriteFile(path, []byte("2001:db8::1\n"+strings.Repeat("192.0.2.9\n", 63)), 0o600)
	if s, _ = loadSeen(path, 10); s.len() != 1 || !s.has("192.0.2.9") {
		t.Errorf("a line cut by the bound was read as an address: %v", s.set)
	}
	os.Chmod(path, 0)
	if os.Geteuid() != 0 {
		if _, err := loadSeen(path, 10); err == nil {
			t.Error("an unreadable file read as empty")
		}
	}
}

// FuzzSeenFile: whatever the file holds, reading it gives at most max
// valid addresses and never a panic.
func FuzzSeenFile(f *testing.F) {
	for _, s := range []string{"192.0.2.1\n2001:db8::1\n", "", "\n\n", "fe80::1%eth0\n", "::ffff:192.0.2.1\n"} {
		f.Add(s)
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, content string) {
		path := filepath.Join(dir, "seen")
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		s, err := loadSeen(path, 4)
		if err != nil {
			t.Fatal(err)
		}
		if s.len() > 4 || len(s.order) != s.len() {
			t.Fatalf("%d entries, %d in order", s.len(), len(s.order))
		}
		for ip := range s.set {
			if _, err := netip.ParseAddr(ip); err != nil {
				t.Fatalf("%q kept", ip)
			}
		}
	})
}

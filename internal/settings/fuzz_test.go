package settings

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/minipot/minipot/internal/uci"
)

// FuzzDuration: ParseDuration never panics, and what it accepts formats
// back to the same duration.
func FuzzDuration(f *testing.F) {
	for _, s := range []string{"30", "1500ms", "30s", "5m", "2h", "7d", "0", "-1", "1.5s", "99999999999999999999d", " 3s "} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDuration(s)
		if err != nil {
			return
		}
		back, err := ParseDuration(FormatDuration(d))
		if err != nil || back != d {
			t.Fatalf("%q → %v → %q → %v, %v", s, d, FormatDuration(d), back, err)
		}
	})
}

// FuzzFromPackage: any file libuci would accept loads without a panic, and
// settings that validate survive Apply into an empty package and back.
func FuzzFromPackage(f *testing.F) {
	f.Add([]byte("config fakes 'fakes'\n\toption enabled '1'\n\tlist disable '23tcp'\n"))
	f.Add([]byte("config limits 'limits'\n\toption idle_timeout '2m'\nconfig agent 'agent'\n\toption hostname 'x'\n"))
	f.Add([]byte("config store 'store'\n\toption max_sise '8'\nconfig store\n\toption path '/x'\nconfig uplink\n\toption name 'api.turris.cz'\n"))
	if data, err := os.ReadFile(filepath.Join("..", "..", "openwrt", "minipot", "files", "ucollect.config")); err == nil {
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := uci.Parse(Package, data)
		if err != nil {
			return
		}
		for _, w := range Warnings(p) {
			if w.Field == "" || w.Message == "" {
				t.Fatalf("warning without its option or reason: %+v", w)
			}
		}
		s, err := FromPackage(p)
		if err != nil {
			return
		}
		fresh, _ := uci.Parse(Package, nil)
		if err := s.Apply(fresh); err != nil {
			t.Fatalf("valid settings do not apply: %v", err)
		}
		back, err := FromPackage(fresh)
		if err != nil {
			t.Fatalf("applied settings do not load: %v\n%s", err, fresh.Marshal())
		}
		for _, fl := range fields {
			if fl.format(&back) != fl.format(&s) {
				t.Fatalf("%s: %q after the round trip, was %q", fl.path(), fl.format(&back), fl.format(&s))
			}
		}
	})
}

package ucicli

import (
	"slices"
	"strings"
	"testing"
)

// FuzzOptionsFirst: whatever the arguments, moving the options before the
// command (MainStrict) never panics and adds nothing but the one "--" that
// ends the options.
func FuzzOptionsFirst(f *testing.F) {
	for _, s := range []string{"show\x00-h", "-c\x00/x\x00get\x00a.b.c\x00-d,", "get\x00--\x00-x", "-qc", "show\x00-c", "-\x00--help\x00set\x00a.b=-1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		in := strings.Split(s, "\x00")
		out := optionsFirst(in)
		if len(out) > len(in)+1 {
			t.Fatalf("%q → %q: longer", in, out)
		}
		added := 0
		for _, a := range out {
			if !slices.Contains(in, a) {
				if a != "--" || added > 0 {
					t.Fatalf("%q → %q: %q is new", in, out, a)
				}
				added++
			}
		}
	})
}

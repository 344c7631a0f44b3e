package store

import "testing"

// FuzzParseCursor: a cursor token from a request never panics the parser,
// and what it accepts is what Cursor.String makes.
func FuzzParseCursor(f *testing.F) {
	for _, s := range []string{"", "1700000000000.42", "0.1", "-5.3", "1.0", "x.y", "1.2.3", "9223372036854775807.9223372036854775807"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ParseCursor(s)
		if err != nil {
			return
		}
		again, err := ParseCursor(c.String())
		if err != nil || again != c {
			t.Fatalf("%q → %+v → %q → %+v, %v", s, c, c.String(), again, err)
		}
	})
}

package lineio

import (
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

func TestLines(t *testing.T) {
	for _, c := range []struct {
		name, in string
		max      int
		want     []string // "!" for ErrTooLong
		end      error
	}{
		{"crlf and lf", "USER a\r\nPASS b\nQUIT\r\n", 16, []string{"USER a", "PASS b", "QUIT"}, io.EOF},
		{"cut by the end", "USER a\r\nPAS", 16, []string{"USER a", "PAS"}, io.EOF},
		{"exactly max", "12345678\r\n", 8, []string{"12345678"}, io.EOF},
		{"over max", "123456789\r\nnext\r\n", 8, []string{"!"}, nil},
		{"no line end at all", strings.Repeat("x", 1000), 8, []string{"!"}, nil},
		{"empty lines", "\r\n\n", 8, []string{"", ""}, io.EOF},
	} {
		t.Run(c.name, func(t *testing.T) {
			// One byte per Read: the worst split a peer can choose.
			r := New(iotest.OneByteReader(strings.NewReader(c.in)), c.max)
			for i, w := range c.want {
				line, err := r.Line()
				if w == "!" {
					if !errors.Is(err, ErrTooLong) {
						t.Fatalf("line %d: %q, %v, want ErrTooLong", i, line, err)
					}
					return
				}
				if string(line) != w || (err != nil && i != len(c.want)-1) {
					t.Fatalf("line %d: %q, %v, want %q", i, line, err, w)
				}
			}
			if _, err := r.Line(); err != c.end {
				t.Errorf("end: %v, want %v", err, c.end)
			}
			if len(r.buf) > c.max+2 {
				t.Errorf("buffer grew to %d bytes", len(r.buf))
			}
		})
	}
}

// Package lineio reads the command lines of the line-based fakes (FTP,
// SMTP): one line at a time, each bounded in bytes, from a reader whose
// every Read is already bounded in time (a session.Session).
package lineio

import (
	"bytes"
	"errors"
	"io"
)

// ErrTooLong is returned by Line for a line longer than the limit; the rest
// of that line is left unread, as the fakes close the connection on it.
var ErrTooLong = errors.New("line too long")

// Reader reads lines ended by LF (an optional CR before it is dropped). It
// buffers at most the line limit, so a 10 MB line costs no more than a
// short one.
type Reader struct {
	r   io.Reader
	buf []byte // allocated at the first Line: an idle connection holds none
	max int
	r0  int   // start of unread bytes in buf
	w   int   // end of read bytes in buf
	err error // sticky: a reader that failed is not read again
}

// New reads lines of at most max bytes (line end excluded) from r.
func New(r io.Reader, max int) *Reader {
	if max <= 0 {
		max = 512
	}
	return &Reader{r: r, max: max}
}

// Line returns the next line without its line end. The slice is valid until
// the next call. A line cut by the end of the stream is returned with the
// stream's error.
func (l *Reader) Line() ([]byte, error) {
	if l.buf == nil {
		l.buf = make([]byte, l.max+2) // the line, CR, LF
	}
	for {
		if i := bytes.IndexByte(l.buf[l.r0:l.w], '\n'); i >= 0 {
			line := l.buf[l.r0 : l.r0+i]
			l.r0 += i + 1
			line = bytes.TrimSuffix(line, []byte{'\r'})
			if len(line) > l.max {
				return nil, ErrTooLong
			}
			return line, nil
		}
		if l.w-l.r0 > l.max+1 {
			return nil, ErrTooLong
		}
		if l.r0 > 0 { // move the partial line to the front
			l.w = copy(l.buf, l.buf[l.r0:l.w])
			l.r0 = 0
		}
		if l.err == nil {
			var n int
			n, l.err = l.r.Read(l.buf[l.w:])
			l.w += n
			if n > 0 {
				continue // lines that came with an error come first
			}
		}
		if l.err != nil {
			if l.w > l.r0 {
				line := l.buf[l.r0:l.w]
				l.r0 = l.w
				return line, l.err
			}
			return nil, l.err
		}
	}
}

// Buffered reports whether a part of a further line has been read already
// (a client that pipelines commands).
func (l *Reader) Buffered() bool { return l.w > l.r0 }

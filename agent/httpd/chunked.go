package httpd

import "math"

// chunked skips a chunked request body (RFC 9112, section 7.1) as its bytes
// arrive, handing back the payload for the excerpt. Every line it reads is
// bounded, and so is the payload's total.
type chunked struct {
	st     uint8
	size   int64 // of the current chunk: being read, then left to skip
	digits int
	line   int // bytes of the current size or trailer line
	total  int64
	fields int // trailer fields
	tbytes int // trailer bytes

	max       int64 // Limits.BodyMax
	lineMax   int
	headBytes int
	headCount int
}

const (
	chSize        = iota // chunk size digits
	chExt                // chunk extensions, skipped
	chSizeLF             // CR after the size line seen
	chData               // payload
	chDataCR             // after the payload, before its CRLF
	chDataLF             // CR after the payload seen
	chTrailer            // at the start of a trailer line (or the final empty one)
	chTrailerLine        // in a trailer field
	chEndLF              // CR of the final empty line seen
	chDone
)

// maxChunkLine bounds a chunk size line with its extensions.
const maxChunkLine = 1024

var (
	errBadChunk   = &ParseError{KindFraming, "malformed chunked body"}
	errBigBody    = &ParseError{KindFraming, "request body over the limit"}
	errBadTrailer = &ParseError{KindFraming, "chunked trailer too large"}
)

func (c *chunked) reset(bodyMax, headBytes, headCount int) {
	*c = chunked{max: int64(max(bodyMax, 0)), lineMax: maxChunkLine, headBytes: max(headBytes, 1), headCount: max(headCount, 1)}
}

// done tells whether the whole body has been read.
func (c *chunked) done() bool { return c.st == chDone }

// next reads framing from b until it reaches payload, the body's end or
// the end of b. It returns how many bytes it consumed, of which data (a
// subslice of b) is payload; the caller calls again with the rest.
func (c *chunked) next(b []byte) (n int, data []byte, err *ParseError) {
	for i := 0; i < len(b); i++ {
		ch := b[i]
		switch c.st {
		case chSize:
			c.line++
			if c.line > c.lineMax {
				return i, nil, errBadChunk
			}
			if d, ok := unhex(ch); ok {
				if c.size > (math.MaxInt64-15)>>4 {
					return i, nil, errBigBody
				}
				c.digits++
				c.size = c.size<<4 | int64(d)
				if c.size > c.max-c.total {
					return i, nil, errBigBody
				}
				continue
			}
			if c.digits == 0 {
				return i, nil, errBadChunk
			}
			switch ch {
			case ';', ' ', '\t':
				c.st = chExt
			case '\r':
				c.st = chSizeLF
			case '\n':
				c.endSizeLine()
			default:
				return i, nil, errBadChunk
			}
		case chExt:
			c.line++
			switch {
			case c.line > c.lineMax:
				return i, nil, errBadChunk
			case ch == '\r':
				c.st = chSizeLF
			case ch == '\n':
				c.endSizeLine()
			case ch < ' ' && ch != '\t' || ch == 0x7f:
				return i, nil, errBadChunk
			}
		case chSizeLF:
			if ch != '\n' {
				return i, nil, errBadChunk
			}
			c.endSizeLine()
		case chData:
			take := min(int64(len(b)-i), c.size)
			c.size -= take
			c.total += take
			if c.size == 0 {
				c.st = chDataCR
			}
			end := i + int(take)
			return end, b[i:end], nil
		case chDataCR:
			switch ch {
			case '\r':
				c.st = chDataLF
			case '\n':
				c.st = chSize
			default:
				return i, nil, errBadChunk
			}
		case chDataLF:
			if ch != '\n' {
				return i, nil, errBadChunk
			}
			c.st = chSize
		case chTrailer:
			switch ch {
			case '\r':
				c.st = chEndLF
			case '\n':
				c.st = chDone
				return i + 1, nil, nil
			default:
				c.fields++
				if c.fields > c.headCount {
					return i, nil, errBadTrailer
				}
				c.st = chTrailerLine
				c.tbytes++
			}
		case chTrailerLine:
			c.tbytes++
			if c.tbytes > c.headBytes {
				return i, nil, errBadTrailer
			}
			if ch == '\n' {
				c.st = chTrailer
			}
		case chEndLF:
			if ch != '\n' {
				return i, nil, errBadChunk
			}
			c.st = chDone
			return i + 1, nil, nil
		case chDone:
			return i, nil, nil
		}
	}
	return len(b), nil, nil
}

func (c *chunked) endSizeLine() {
	c.line, c.digits = 0, 0
	if c.size == 0 {
		c.st = chTrailer
		return
	}
	c.st = chData
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

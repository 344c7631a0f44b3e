package httpd

import (
	"strconv"
	"time"
)

// A response is a list of pieces: fixed text laid out when the handler is
// made, and a few slots filled per request without formatting (the cached
// Date, the host name, the escaped target, the lengths). Rendering is a
// handful of appends into the connection's output buffer.
type slot uint8

const (
	sLit     slot = iota // text
	sDate                // IMF-fixdate, "Sat, 21 Nov 2026 05:22:12 GMT"
	sDateUTC             // the same ending in "UTC", as Polipo's pages say
	sHost                // the router's host name
	sURL                 // the request target, HTML-escaped
	sLength              // Content-Length of the body
	sConn                // "keep-alive" or "close"
)

type piece struct {
	slot slot
	text string
}

// page is one kind of answer of one flavor.
type page struct {
	head  []piece // status line to the empty line
	body  []piece
	close bool // always closes the connection (answers to broken requests)
}

// complete gives the answers a flavor lacks its 400.
func complete(pages [numPages]*page) [numPages]*page {
	for i, p := range pages {
		if p == nil {
			pages[i] = pages[pgBadRequest]
		}
	}
	return pages
}

// pageID names the answers a flavor can give.
type pageID uint8

const (
	pgAuth       pageID = iota // the challenge: 401 from a server, 407 from a proxy
	pgLocalAuth                // Polipo's 401 for its own pages (origin-form)
	pgBadRequest               // 400: malformed request
	pgNotHTTP                  // 400: not HTTP at all
	pgBadURL                   // 400: a proxy asked for a path, not a URL
	pgNotAllowed               // 405: nginx refuses CONNECT and TRACE
	pgLineLong                 // 414
	pgHeadLarge                // 431
	pgVersion                  // 505
	pgBadHeader                // 400 (Polipo: 503)
	numPages
)

// fill is what a request contributes to its answer.
type fill struct {
	date   []byte // 29 bytes
	host   string // sanitised
	url    string // raw target, escaped when written
	keep   bool
	body   bool // write the body (not for HEAD)
	noHead bool // HTTP/0.9: the body alone
}

// urlMax bounds the target written into a page.
const urlMax = 1024

// render appends p's answer for f to dst.
func (p *page) render(dst []byte, f *fill) []byte {
	url := f.url[:min(len(f.url), urlMax)]
	n := 0
	for _, pc := range p.body {
		switch pc.slot {
		case sLit:
			n += len(pc.text)
		case sDate, sDateUTC:
			n += len(f.date)
		case sHost:
			n += len(f.host)
		case sURL:
			n += escapedLen(url)
		}
	}
	if !f.noHead {
		for _, pc := range p.head {
			switch pc.slot {
			case sLit:
				dst = append(dst, pc.text...)
			case sDate:
				dst = append(dst, f.date...)
			case sHost:
				dst = append(dst, f.host...)
			case sLength:
				dst = strconv.AppendInt(dst, int64(n), 10)
			case sConn:
				if f.keep {
					dst = append(dst, "keep-alive"...)
				} else {
					dst = append(dst, "close"...)
				}
			}
		}
	}
	if !f.body {
		return dst
	}
	for _, pc := range p.body {
		switch pc.slot {
		case sLit:
			dst = append(dst, pc.text...)
		case sDate:
			dst = append(dst, f.date...)
		case sDateUTC:
			dst = append(dst, f.date[:len(f.date)-3]...)
			dst = append(dst, "UTC"...)
		case sHost:
			dst = append(dst, f.host...)
		case sURL:
			dst = appendEscaped(dst, url)
		}
	}
	return dst
}

func escapedLen(s string) int {
	n := len(s)
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch c {
		case '&', '<', '>', '"', '\'':
			n += 4 // all escapes are 5 bytes
		}
	}
	return n
}

// appendEscaped writes attacker bytes into HTML as numeric references,
// all five bytes long (escapedLen counts on it).
func appendEscaped(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch c {
		case '&', '<', '>', '"', '\'':
			dst = append(dst, '&', '#', '0'+c/10, '0'+c%10, ';')
		default:
			dst = append(dst, c)
		}
	}
	return dst
}

// dateLayout is the IMF-fixdate of RFC 9110, 5.6.7.
const dateLayout = "Mon, 02 Jan 2006 15:04:05 GMT"

// clock caches the Date text for the second it was made in.
type clock struct {
	sec  int64
	date [len(dateLayout)]byte
}

func (c *clock) now() []byte {
	t := time.Now()
	if s := t.Unix(); s != c.sec || c.date[0] == 0 {
		c.sec = s
		t.UTC().AppendFormat(c.date[:0], dateLayout)
	}
	return c.date[:]
}

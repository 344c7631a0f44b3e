package httpd

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	type want struct {
		method, target, host, ua string
		form                     Form
		major, minor             int
		length                   int64
		chunked, keep, expect    bool
	}
	tests := []struct {
		name string
		in   string
		err  *ParseError
		want want
	}{
		{name: "get 1.1", in: "GET /a?b HTTP/1.1\r\nHost: x\r\nUser-Agent: curl/8\r\n\r\n",
			want: want{method: "GET", target: "/a?b", host: "x", ua: "curl/8", major: 1, minor: 1, length: -1, keep: true}},
		{name: "bare LF", in: "GET / HTTP/1.1\nHost: x\n\n",
			want: want{method: "GET", target: "/", host: "x", major: 1, minor: 1, length: -1, keep: true}},
		{name: "leading empty lines", in: "\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n",
			want: want{method: "GET", target: "/", host: "x", major: 1, minor: 1, length: -1, keep: true}},
		{name: "1.0 default close", in: "GET / HTTP/1.0\r\n\r\n",
			want: want{method: "GET", target: "/", major: 1, minor: 0, length: -1}},
		{name: "1.0 keep-alive", in: "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n",
			want: want{method: "GET", target: "/", major: 1, minor: 0, length: -1, keep: true}},
		{name: "1.1 close in list", in: "GET / HTTP/1.1\r\nHost: x\r\nConnection: upgrade, close\r\n\r\n",
			want: want{method: "GET", target: "/", host: "x", major: 1, minor: 1, length: -1}},
		{name: "1.2 is 1.x", in: "GET / HTTP/1.2\r\nHost: x\r\n\r\n",
			want: want{method: "GET", target: "/", host: "x", major: 1, minor: 2, length: -1, keep: true}},
		{name: "proxy-connection", in: "GET http://a/ HTTP/1.0\r\nProxy-Connection: keep-alive\r\n\r\n",
			want: want{method: "GET", target: "http://a/", form: AbsoluteForm, major: 1, length: -1, keep: true}},
		{name: "absolute without host", in: "GET http://a.example/x HTTP/1.1\r\n\r\n",
			want: want{method: "GET", target: "http://a.example/x", form: AbsoluteForm, major: 1, minor: 1, length: -1, keep: true}},
		{name: "connect", in: "CONNECT a.example:443 HTTP/1.1\r\nHost: a.example:443\r\n\r\n",
			want: want{method: "CONNECT", target: "a.example:443", host: "a.example:443", form: AuthorityForm, major: 1, minor: 1, length: -1, keep: true}},
		{name: "connect v6", in: "CONNECT [2001:db8::1]:22 HTTP/1.1\r\n\r\n",
			want: want{method: "CONNECT", target: "[2001:db8::1]:22", form: AuthorityForm, major: 1, minor: 1, length: -1, keep: true}},
		{name: "asterisk", in: "OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n",
			want: want{method: "OPTIONS", target: "*", host: "x", form: AsteriskForm, major: 1, minor: 1, length: -1, keep: true}},
		{name: "content-length", in: "POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 12\r\nExpect: 100-Continue\r\n\r\n",
			want: want{method: "POST", target: "/p", host: "x", major: 1, minor: 1, length: 12, keep: true, expect: true}},
		{name: "chunked", in: "POST /p HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: Chunked \r\n\r\n",
			want: want{method: "POST", target: "/p", host: "x", major: 1, minor: 1, length: -1, chunked: true, keep: true}},
		{name: "http 0.9", in: "GET /old\r\n",
			want: want{method: "GET", target: "/old", major: 0, minor: 9, length: -1}},
		{name: "high bytes kept", in: "GET /\xff\xfe HTTP/1.1\r\nHost: x\r\nUser-Agent: \xe2\x98\x83\r\n\r\n",
			want: want{method: "GET", target: "/\xff\xfe", host: "x", ua: "\xe2\x98\x83", major: 1, minor: 1, length: -1, keep: true}},
		{name: "spaces between parts", in: "GET  /  HTTP/1.1 \r\nHost: x\r\n\r\n",
			want: want{method: "GET", target: "/", host: "x", major: 1, minor: 1, length: -1, keep: true}},

		{name: "tls hello", in: "\x16\x03\x01\x02\x00\x01\x00", err: errNotHTTP},
		{name: "ssh", in: "SSH-2.0-OpenSSH_9.2\r\n", err: errNotHTTP},
		{name: "lower case version", in: "GET / http/1.1\r\n\r\n", err: errBadVersion},
		{name: "http 2", in: "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", err: errVersion},
		{name: "http 0.9 explicit", in: "GET / HTTP/0.9\r\n\r\n", err: errBadVersion},
		{name: "0.9 post", in: "POST /\r\n", err: errHTTP09},
		{name: "no host", in: "GET / HTTP/1.1\r\n\r\n", err: errNoHost},
		{name: "two hosts", in: "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", err: errDupHost},
		{name: "relative target", in: "GET index.html HTTP/1.1\r\nHost: a\r\n\r\n", err: errBadTarget},
		{name: "connect path", in: "CONNECT /x HTTP/1.1\r\n\r\n", err: errBadTarget},
		{name: "connect no port", in: "CONNECT a.example HTTP/1.1\r\n\r\n", err: errBadTarget},
		{name: "control in target", in: "GET /\x01 HTTP/1.1\r\n\r\n", err: errBadTarget},
		{name: "CR alone", in: "GET / HTTP/1.1\rHost: x\r\n\r\n", err: errBadLine},
		{name: "space before colon", in: "GET / HTTP/1.1\r\nHost : x\r\n\r\n", err: errBadHeader},
		{name: "no colon", in: "GET / HTTP/1.1\r\nHost x\r\n\r\n", err: errBadHeader},
		{name: "obs-fold", in: "GET / HTTP/1.1\r\nHost: x\r\nX: a\r\n b\r\n\r\n", err: errObsFold},
		{name: "NUL in value", in: "GET / HTTP/1.1\r\nHost: x\r\nX: a\x00b\r\n\r\n", err: errBadHeader},
		{name: "CR in value", in: "GET / HTTP/1.1\r\nHost: x\r\nX: a\rb\r\n\r\n", err: errBadHeader},
		{name: "CL and TE", in: "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", err: errTEWithLength},
		{name: "two CL", in: "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n", err: errDupLength},
		{name: "CL list", in: "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5, 5\r\n\r\n", err: errBadLength},
		{name: "CL sign", in: "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: +5\r\n\r\n", err: errBadLength},
		{name: "CL huge", in: "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999\r\n\r\n", err: errBadLength},
		{name: "TE gzip", in: "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", err: errBadTE},
		{name: "TE twice", in: "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", err: errDupTE},
		{name: "TE in 1.0", in: "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", err: errTE10},
		{name: "TE obfuscated", in: "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: xchunked\r\n\r\n", err: errBadTE},
		{name: "line too long", in: "GET /" + strings.Repeat("a", 200) + " HTTP/1.1\r\n", err: errLineLong},
		{name: "headers too large", in: "GET / HTTP/1.1\r\nHost: x\r\nX: " + strings.Repeat("a", 300) + "\r\n\r\n", err: errHeadBytes},
		{name: "too many headers", in: "GET / HTTP/1.1\r\nHost: x\r\n" + strings.Repeat("A: b\r\n", 10) + "\r\n", err: errHeadCount},
		{name: "endless empty lines", in: strings.Repeat("\r\n", 200), err: errLeading},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Whole and byte by byte: the verdict must not depend on how
			// the bytes arrive.
			for _, step := range []int{len(tt.in), 1, 7} {
				p := NewParser(128, 256, 8)
				var req Request
				var n int
				var err *ParseError
				for end := min(step, len(tt.in)); ; end = min(end+step, len(tt.in)) {
					n, err = p.Parse([]byte(tt.in[:end]), &req)
					if n > 0 || err != nil || end == len(tt.in) {
						break
					}
				}
				if err != tt.err {
					t.Fatalf("step %d: error %v, want %v", step, err, tt.err)
				}
				if err != nil {
					continue
				}
				if n == 0 {
					t.Fatalf("step %d: incomplete", step)
				}
				got := want{string(req.Method), string(req.Target), string(req.Host), string(req.UserAgent), req.Form,
					req.Major, req.Minor, req.ContentLength, req.Chunked, req.KeepAlive, req.Expect100}
				if got != tt.want {
					t.Fatalf("step %d:\n got %+v\nwant %+v", step, got, tt.want)
				}
			}
		})
	}
}

// Line tells what came of a refused or cut request line, however it came.
func TestParseLine(t *testing.T) {
	tests := []struct {
		parts          []string
		method, target string
	}{
		{[]string{"GET", "GET /\x01"}, "GET", "/"},
		{[]string{"GE", "GET /abc"}, "GET", "/abc"},
		{[]string{"GET /abc HTTP/1.1\r\n"}, "GET", "/abc"},
		{[]string{"GET /abc HTTP/1.1\r\nHost: x\r\n"}, "GET", "/abc"},
		{[]string{"GET /" + strings.Repeat("a", 300)}, "GET", "/" + strings.Repeat("a", 123)},
		{[]string{"\x16\x03"}, "", ""},
		{[]string{"GET"}, "", ""},
	}
	for _, tt := range tests {
		p := NewParser(128, 256, 8)
		var req Request
		var b []byte
		for _, part := range tt.parts {
			b = []byte(part)
			p.Parse(b, &req)
		}
		m, tg := p.Line(b)
		if string(m) != tt.method || string(tg) != tt.target {
			t.Errorf("%q: %q %q", tt.parts, m, tg)
		}
	}
}

func TestParsePipelined(t *testing.T) {
	in := []byte("GET /1 HTTP/1.1\r\nHost: x\r\n\r\nGET /2 HTTP/1.1\r\nHost: x\r\n\r\nGET /3 HTTP/1.1\r\nHost: x\r\n\r\n")
	p := NewParser(128, 256, 8)
	var got []string
	for len(in) > 0 {
		var req Request
		n, err := p.Parse(in, &req)
		if err != nil || n == 0 {
			t.Fatalf("parse: %d, %v", n, err)
		}
		got = append(got, string(req.Target))
		in = in[n:]
		p.Reset()
	}
	if strings.Join(got, " ") != "/1 /2 /3" {
		t.Fatalf("got %q", got)
	}
}

// The parser decides before it has seen MaxHead bytes, whatever comes.
func TestParseBounded(t *testing.T) {
	inputs := []string{
		strings.Repeat("a", 10000),
		"GET /" + strings.Repeat("a", 10000),
		"GET / HTTP/1.1\r\nX: " + strings.Repeat("a", 10000),
		"GET / HTTP/1.1\r\n" + strings.Repeat("\r", 10000),
		"GET / HTTP/1.1\r\n" + strings.Repeat("X:\n", 10000),
		strings.Repeat("\n", 10000),
	}
	for _, in := range inputs {
		p := NewParser(100, 200, 10)
		var req Request
		decided := false
		for end := 1; end <= len(in); end++ {
			n, err := p.Parse([]byte(in[:end]), &req)
			if n > 0 || err != nil {
				if end > p.MaxHead() {
					t.Errorf("%.20q: decided after %d bytes, max %d", in, end, p.MaxHead())
				}
				decided = true
				break
			}
		}
		if !decided {
			t.Errorf("%.20q: undecided", in)
		}
	}
}

func TestChunked(t *testing.T) {
	tests := []struct {
		name, in, data string
		err            *ParseError
		rest           string
	}{
		{name: "simple", in: "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\nNEXT", data: "hello world", rest: "NEXT"},
		{name: "ext and trailer", in: "5;a=b\r\nhello\r\n0\r\nX-T: 1\r\n\r\n", data: "hello"},
		{name: "bare LF", in: "3\nabc\n0\n\n", data: "abc"},
		{name: "upper hex", in: "A\r\n0123456789\r\n0\r\n\r\n", data: "0123456789"},
		{name: "no digits", in: "\r\n", err: errBadChunk},
		{name: "bad digit", in: "5x\r\n", err: errBadChunk},
		{name: "missing CRLF after data", in: "3\r\nabcX", err: errBadChunk},
		{name: "too large", in: "100000\r\n", err: errBigBody},
		{name: "overflow", in: "ffffffffffffffffffffff\r\n", err: errBigBody},
		{name: "sum too large", in: "ffff\r\n" + strings.Repeat("a", 0xffff) + "\r\nffff\r\n", err: errBigBody},
		{name: "long extension", in: "1;" + strings.Repeat("e", 2000) + "\r\n", err: errBadChunk},
		{name: "long trailer", in: "0\r\nX: " + strings.Repeat("t", 2000) + "\r\n\r\n", err: errBadTrailer},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, step := range []int{len(tt.in), 1, 3} {
				var c chunked
				c.reset(100000, 1000, 8)
				var data []byte
				var err *ParseError
				in := []byte(tt.in)
				off := 0
				for off < len(in) && !c.done() && err == nil {
					end := min(off+step, len(in))
					var n int
					var d []byte
					n, d, err = c.next(in[off:end])
					data = append(data, d...)
					off += n
				}
				if err != tt.err {
					t.Fatalf("step %d: error %v, want %v", step, err, tt.err)
				}
				if err == nil && (string(data) != tt.data || string(in[off:]) != tt.rest || !c.done()) {
					t.Fatalf("step %d: data %q rest %q done %v", step, data, in[off:], c.done())
				}
			}
		})
	}
}

func TestParseBasic(t *testing.T) {
	enc := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	tests := []struct {
		in         string
		user, pass string
		err        error
	}{
		{in: "Basic " + enc("admin:admin"), user: "admin", pass: "admin"},
		{in: "basic " + enc("root:"), user: "root"},
		{in: "BASIC\t " + enc(":x:y") + " \t", pass: "x:y"},
		{in: "  Basic   " + enc("a:b"), user: "a", pass: "b"},
		{in: "Basic " + enc("\xff\x00:\n"), user: "\xff\x00", pass: "\n"},
		{in: "Bearer abc", err: ErrNotBasic},
		{in: "Digest username=\"a\"", err: ErrNotBasic},
		{in: "", err: ErrNotBasic},
		{in: "Basicx " + enc("a:b"), err: ErrNotBasic},
		{in: "Basic", err: ErrBadBasic},
		{in: "Basic ", err: ErrBadBasic},
		{in: "Basic " + enc("nocolon"), err: ErrBadBasic},
		{in: "Basic YWRtaW46YWRtaW4", err: ErrBadBasic},         // unpadded
		{in: "Basic YWRtaW46YWRtaW5=", err: ErrBadBasic},        // stray bits
		{in: "Basic YW=taW46YWRtaW4=", err: ErrBadBasic},        // padding inside
		{in: "Basic YWRt aW46YWRtaW4=", err: ErrBadBasic},       // space inside
		{in: "Basic YWRtaW46YWRtaW4=\r\n", err: ErrBadBasic},    // newline
		{in: "Basic YWRtaW46YWRtaW4-", err: ErrBadBasic},        // URL alphabet
		{in: "Basic ====", err: ErrBadBasic},                    // all padding
		{in: "Basic YQ===", err: ErrBadBasic},                   // three pads
		{in: "Basic " + enc("a:") + enc("b"), err: ErrBadBasic}, // padding then data
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			for _, dst := range [][]byte{nil, make([]byte, 512)} {
				user, pass, err := ParseBasic([]byte(tt.in), dst)
				if !errors.Is(err, tt.err) {
					t.Fatalf("error %v, want %v", err, tt.err)
				}
				if string(user) != tt.user || string(pass) != tt.pass {
					t.Fatalf("got %q:%q", user, pass)
				}
			}
		})
	}
}

func TestEscape(t *testing.T) {
	in := `/<script>alert("x&y")</script>'`
	got := appendEscaped(nil, in)
	if len(got) != escapedLen(in) {
		t.Fatalf("length %d, counted %d", len(got), escapedLen(in))
	}
	if bytes.ContainsAny(got, `<>"'`) {
		t.Fatalf("not escaped: %s", got)
	}
	if string(got) != "/&#60;script&#62;alert(&#34;x&#38;y&#34;)&#60;/script&#62;&#39;" {
		t.Fatalf("got %s", got)
	}
}

func TestCleanHost(t *testing.T) {
	for in, want := range map[string]string{
		"OpenWrt":         "OpenWrt",
		"turris.lan":      "turris.lan",
		"":                "localhost",
		"a\r\nSet: x":     "aSetx",
		`ev"il`:           "evil",
		"\x00\x01":        "localhost",
		"r\xc3\xa9seau-1": "rseau-1",
	} {
		if got := cleanHost(in); got != want {
			t.Errorf("cleanHost(%q) = %q, want %q", in, got, want)
		}
	}
}

// Every answer of every flavor is a well-formed response whose length
// fits its body, kept alive or not, with or without a body.
func TestPagesWellFormed(t *testing.T) {
	date := []byte("Sat, 21 Nov 2026 05:22:12 GMT")
	for _, h := range []*Handler{NewServer(Options{}), NewProxy(Options{}), NewPolipo(Options{})} {
		for id, p := range h.pages {
			for _, keep := range []bool{true, false} {
				f := fill{date: date, host: "OpenWrt", url: `http://a/"<x>`, keep: keep, body: true}
				raw := p.render(nil, &f)
				resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(raw)), nil)
				if err != nil {
					t.Fatalf("flavor %d page %d: %v\n%s", h.fl, id, err, raw)
				}
				body, err := io.ReadAll(resp.Body)
				if err != nil || int64(len(body)) != resp.ContentLength || resp.Close == keep && !p.close {
					t.Fatalf("flavor %d page %d: body %d of %d, %v, close %v\n%s", h.fl, id, len(body), resp.ContentLength, err, resp.Close, raw)
				}
				if bytes.Contains(body, []byte("<x>")) || resp.Header.Get("Date") != string(date) {
					t.Fatalf("flavor %d page %d:\n%s", h.fl, id, raw)
				}
				f.body = false
				if head := p.render(nil, &f); !bytes.Equal(head, raw[:len(raw)-len(body)]) {
					t.Fatalf("flavor %d page %d: HEAD answer differs", h.fl, id)
				}
			}
		}
	}
}

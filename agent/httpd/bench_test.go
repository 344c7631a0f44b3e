package httpd

import (
	"bufio"
	"context"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/minipot/minipot/agent/session"
	"github.com/minipot/minipot/internal/event"
)

// nullSink counts events, as cheaply as a sink can.
type nullSink struct{ n atomic.Int64 }

func (s *nullSink) Emit(*event.Event) { s.n.Add(1) }

// defaultLimits are settings.Defaults' (internal/settings), but for
// Requests, which the caller sets.
func defaultLimits(requests int) session.Limits {
	return session.Limits{
		LineMax: 512, RequestLine: 512, HeaderBytes: 8192, HeaderCount: 64, BodyMax: 1 << 20, BodyExcerpt: 512,
		Requests: requests, Idle: 60 * time.Second, Session: time.Hour,
	}
}

// listen serves h on 127.0.0.1 until the test ends.
func listen(tb testing.TB, h *Handler, cfg *session.Config, sink event.Sink) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { ln.Close() })
	go func() {
		for id := int64(1); ; id++ {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				h.Serve(context.Background(), session.New(c, "80tcp", 80, id, cfg, sink))
				c.Close()
			}()
		}
	}()
	return ln.Addr().String()
}

// BenchmarkRequest is one keep-alive request and its answer over loopback,
// with the allocations of both ends (the client's are none).
func BenchmarkRequest(b *testing.B) {
	for _, bc := range []struct {
		name string
		h    *Handler
		req  string
	}{
		{"server", NewServer(Options{}), "GET /cgi-bin/luci HTTP/1.1\r\nHost: 192.0.2.1\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64)\r\nAccept: */*\r\n\r\n"},
		{"server-login", NewServer(Options{}), "GET / HTTP/1.1\r\nHost: 192.0.2.1\r\nAuthorization: Basic YWRtaW46YWRtaW4=\r\n\r\n"},
		{"proxy", NewProxy(Options{}), "GET http://example.com/ HTTP/1.1\r\nHost: example.com\r\nUser-Agent: curl/8.5.0\r\n\r\n"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			cfg := &session.Config{Hostname: "OpenWrt", Limits: defaultLimits(1 << 30)}
			addr := listen(b, bc.h, cfg, &nullSink{})
			c, err := net.Dial("tcp", addr)
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			req := []byte(bc.req)
			c.Write(req)
			first, err := readResponse(bufio.NewReader(c), false)
			if err != nil {
				b.Fatal(err)
			}
			buf := make([]byte, len(first.raw)) // every answer is as long
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if _, err := c.Write(req); err != nil {
					b.Fatal(err)
				}
				if _, err := io.ReadFull(c, buf); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkPipelined is 16 pipelined requests per round trip: the cost of
// a request without the round trip's latency.
func BenchmarkPipelined(b *testing.B) {
	const depth = 16
	cfg := &session.Config{Hostname: "OpenWrt", Limits: defaultLimits(1 << 30)}
	addr := listen(b, NewServer(Options{}), cfg, &nullSink{})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	one := "GET /cgi-bin/luci HTTP/1.1\r\nHost: 192.0.2.1\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64)\r\nAccept: */*\r\n\r\n"
	io.WriteString(c, one)
	first, err := readResponse(bufio.NewReader(c), false)
	if err != nil {
		b.Fatal(err)
	}
	req := []byte(strings.Repeat(one, depth))
	buf := make([]byte, depth*len(first.raw))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := c.Write(req); err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(c, buf); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*depth), "ns/request")
}

// BenchmarkParse is the parser alone.
func BenchmarkParse(b *testing.B) {
	req := []byte("GET /cgi-bin/luci HTTP/1.1\r\nHost: 192.0.2.1\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64)\r\nAccept: */*\r\nAccept-Encoding: gzip\r\nConnection: keep-alive\r\n\r\n")
	p := NewParser(512, 8192, 64)
	var r Request
	b.ReportAllocs()
	b.SetBytes(int64(len(req)))
	for b.Loop() {
		p.Reset()
		if n, err := p.Parse(req, &r); n == 0 || err != nil {
			b.Fatal(n, err)
		}
	}
}

// BenchmarkWrk measures the server alone (a sink that only counts) with
// wrk, 10 s per case; MINIPOT_WRK names part of a case to run only that:
//
//	go test -run '^$' -bench Wrk -v ./agent/httpd
//
// With MINIPOT_WRK_CPU=1, wrk runs on CPU 1; run the benchmark under
// "taskset -c 0" to give the server the other.
func BenchmarkWrk(t *testing.B) {
	wrk, err := exec.LookPath("wrk")
	if err != nil {
		t.Skip("needs wrk (apt-get install wrk)")
	}
	only := os.Getenv("MINIPOT_WRK")
	if only == "" {
		only = "1"
	}
	for _, tc := range []struct {
		name     string
		h        *Handler
		path     string
		requests int
	}{
		{"baseline", nil, "/", 0},
		{"server, unlimited keep-alive", NewServer(Options{}), "/", 1 << 30},
		{"server, 100 requests per connection", NewServer(Options{}), "/", 100},
		{"proxy, unlimited keep-alive", NewProxy(Options{}), "http://example.com/", 1 << 30},
	} {
		if only != "1" && !strings.Contains(tc.name, only) {
			continue
		}
		sink := &nullSink{}
		var addr string
		if tc.h == nil {
			addr = baseline(t, sink)
		} else {
			addr = listen(t, tc.h, &session.Config{Hostname: "OpenWrt", Limits: defaultLimits(tc.requests)}, sink)
		}
		url := "http://" + addr + "/"
		args := []string{"-t2", "-c100", "-d10s", "--latency", url}
		if tc.path != "/" {
			// wrk asks for paths; a small script makes it ask a proxy.
			script := t.TempDir() + "/proxy.lua"
			os.WriteFile(script, []byte(`wrk.path = "`+tc.path+`"`+"\n"), 0o644)
			args = append([]string{"-s", script}, args...)
		}
		// CPU time per answer, of this process (the server) and of wrk:
		// what the figures would be on idle cores, whoever else is busy.
		var ru0, ru1 syscall.Rusage
		syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
		cmd := exec.Command(wrk, args...)
		if cpu := os.Getenv("MINIPOT_WRK_CPU"); cpu != "" {
			// Pin wrk (run the test under taskset for the server's side).
			cmd = exec.Command("taskset", append([]string{"-c", cpu, wrk}, args...)...)
		}
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("wrk: %v\n%s", err, out)
		}
		syscall.Getrusage(syscall.RUSAGE_SELF, &ru1)
		n := sink.n.Load()
		server := time.Duration(ru1.Utime.Nano() + ru1.Stime.Nano() - ru0.Utime.Nano() - ru0.Stime.Nano())
		client := cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
		t.Logf("%s: %d answers; CPU per answer: server %v, wrk %v; on 2 idle cores: %.0f answers/s\n%s",
			tc.name, n, server/time.Duration(n), client/time.Duration(n), 2*float64(n)/(server+client).Seconds(), out)
	}
}

// baseline is the least a goroutine-per-connection Go server can do: a
// fixed answer per "\r\n\r\n", no parsing, no events, no deadlines. It
// shows how much of the cost is this package's.
func baseline(t testing.TB, sink *nullSink) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	answer := []byte("HTTP/1.1 401 Unauthorized\r\nServer: nginx/1.22.1\r\nDate: Sat, 21 Nov 2026 05:22:12 GMT\r\n" +
		"Content-Type: text/html\r\nContent-Length: 179\r\nConnection: keep-alive\r\nWWW-Authenticate: Basic realm=\"OpenWrt\"\r\n\r\n" +
		strings.Repeat("x", 179))
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				buf := make([]byte, 4096)
				var out []byte
				for {
					n, err := c.Read(buf)
					if err != nil {
						return
					}
					out = out[:0]
					for k := strings.Count(string(buf[:n]), "\r\n\r\n"); k > 0; k-- {
						out = append(out, answer...)
						sink.n.Add(1)
					}
					if _, err := c.Write(out); err != nil {
						return
					}
				}
			}()
		}
	}()
	return ln.Addr().String()
}

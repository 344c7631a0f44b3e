package httpd

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/minipot/minipot/agent/session"
	"github.com/minipot/minipot/internal/event/eventtest"
)

// testLimits are small enough to reach in tests.
func testLimits() session.Limits {
	return session.Limits{
		LineMax: 1024, RequestLine: 1024, HeaderBytes: 4096, HeaderCount: 32,
		BodyMax: 64 << 10, BodyExcerpt: 64, Requests: 20,
		Idle: 2 * time.Second, Session: 20 * time.Second,
	}
}

// harness serves a handler on 127.0.0.1 the way the agent does.
type harness struct {
	addr string
	sink *eventtest.Recorder
	errs chan error // Serve's result per connection
}

func serve(t *testing.T, h session.Handler, service string, port int, cfg *session.Config) *harness {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &harness{addr: ln.Addr().String(), sink: eventtest.New(), errs: make(chan error, 100)}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() {
		cancel()
		ln.Close()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for id := int64(1); ; id++ {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				stop := context.AfterFunc(ctx, func() { c.Close() })
				defer stop()
				s := session.New(c, service, port, id, cfg, hs.sink)
				err := h.Serve(ctx, s)
				c.Close()
				select {
				case hs.errs <- err:
				default:
				}
			}()
		}
	}()
	return hs
}

func config(creds bool) *session.Config {
	return &session.Config{Hostname: "turris", Credentials: creds, Limits: testLimits()}
}

// serveErr waits for the result of the next connection's Serve.
func (hs *harness) serveErr(t *testing.T) error {
	t.Helper()
	select {
	case err := <-hs.errs:
		return err
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return")
		return nil
	}
}

func (hs *harness) dial(t *testing.T) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", hs.addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	return c
}

// exchange sends raw bytes and reads every response until the server
// closes the connection.
func (hs *harness) exchange(t *testing.T, req string) []*response {
	t.Helper()
	c := hs.dial(t)
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatal(err)
	}
	return readAll(t, c)
}

// response is one answer, raw.
type response struct {
	status  string   // "HTTP/1.1 401 Unauthorized"
	names   []string // field names in order
	headers http.Header
	body    []byte
	raw     string
}

// readResponse reads one answer; head says the request was HEAD.
func readResponse(r *bufio.Reader, head bool) (*response, error) {
	var raw strings.Builder
	line, err := r.ReadString('\n')
	if err != nil {
		return nil, err
	}
	raw.WriteString(line)
	resp := &response{status: strings.TrimRight(line, "\r\n"), headers: http.Header{}}
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return nil, err
		}
		raw.WriteString(line)
		line = strings.TrimRight(line, "\r\n")
		if line == "" {
			break
		}
		name, value, _ := strings.Cut(line, ": ")
		resp.names = append(resp.names, name)
		resp.headers.Add(name, value)
	}
	if !head {
		n := 0
		for _, c := range resp.headers.Get("Content-Length") {
			n = n*10 + int(c-'0')
		}
		resp.body = make([]byte, n)
		if _, err := io.ReadFull(r, resp.body); err != nil {
			return nil, err
		}
		raw.Write(resp.body)
	}
	resp.raw = raw.String()
	return resp, nil
}

func readAll(t *testing.T, c net.Conn) []*response {
	t.Helper()
	r := bufio.NewReader(c)
	var out []*response
	for {
		resp, err := readResponse(r, false)
		// A reset after an answer is the server closing with the rest of
		// a flood unread.
		if err == io.EOF || len(out) > 0 && errors.Is(err, syscall.ECONNRESET) {
			return out
		}
		if err != nil {
			t.Fatalf("after %d responses: %v", len(out), err)
		}
		out = append(out, resp)
	}
}

// referenceHeaders reads the names and values of a captured head.
func referenceHeaders(t *testing.T, name string) (status string, names []string, h http.Header) {
	t.Helper()
	b, err := os.ReadFile("../../../shared/reference/" + name)
	if err != nil {
		t.Skipf("reference: %v", err)
	}
	r := bufio.NewReader(strings.NewReader(string(b) + "\r\n"))
	resp, err := readResponse(r, true)
	if err != nil {
		t.Fatal(err)
	}
	return resp.status, resp.names, resp.headers
}

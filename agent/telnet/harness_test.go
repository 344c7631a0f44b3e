package telnet

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minipot/minipot/agent/session"
	"github.com/minipot/minipot/internal/event/eventtest"
)

// server is the fake telnetd on 127.0.0.1, each connection wrapped in a
// session as the agent does.
type server struct {
	addr string
	sink *eventtest.Recorder
	errs chan error // what Serve returned, one per connection
}

func testConfig() *session.Config {
	return &session.Config{Hostname: "OpenWrt", Credentials: true, Limits: session.Limits{
		LineMax: 512, Attempts: 3, Idle: 5 * time.Second, Session: 30 * time.Second,
	}}
}

func startServer(t testing.TB, cfg *session.Config) *server {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &server{addr: ln.Addr().String(), sink: eventtest.New(), errs: make(chan error, 64)}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		var id int64
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			id++
			s := session.New(c, Service23, 23, id, cfg, srv.sink)
			wg.Add(1)
			go func() {
				defer wg.Done()
				stop := context.AfterFunc(ctx, func() { c.Close() })
				err := (&Handler{}).Serve(ctx, s)
				stop()
				s.Close()
				select {
				case srv.errs <- err:
				default: // a benchmark does not collect them
				}
			}()
		}
	}()
	t.Cleanup(func() {
		cancel()
		ln.Close()
		wg.Wait()
	})
	return srv
}

// result waits for what Serve returned on the next connection to end.
func (s *server) result(t testing.TB) error {
	t.Helper()
	select {
	case err := <-s.errs:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return")
		return nil
	}
}

func dial(t testing.TB, addr string) *net.TCPConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c.(*net.TCPConn)
}

func readN(t testing.TB, c net.Conn, n int) []byte {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	b := make([]byte, n)
	if _, err := io.ReadFull(c, b); err != nil {
		t.Fatalf("read %d bytes: %v (got %q)", n, err, b)
	}
	return b
}

// readUntil reads until the data ends with suffix.
func readUntil(t testing.TB, c net.Conn, suffix string) []byte {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	var got []byte
	b := make([]byte, 1)
	for !bytes.HasSuffix(got, []byte(suffix)) {
		if _, err := c.Read(b); err != nil {
			t.Fatalf("waiting for %q: %v (got %q)", suffix, err, got)
		}
		got = append(got, b[0])
	}
	return got
}

// readAll reads until the server closes.
func readAll(t testing.TB, c net.Conn) []byte {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	b, err := io.ReadAll(c)
	if err != nil && !isReset(err) {
		t.Fatalf("read to the end: %v (got %q)", err, b)
	}
	return b
}

func isReset(err error) bool {
	return err != nil && strings.Contains(err.Error(), "connection reset")
}

func write(t testing.TB, c net.Conn, s string) {
	t.Helper()
	c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte(s)); err != nil {
		t.Fatal(err)
	}
}

// loadHex reads a reference capture in xxd form; '#' lines are comments.
func loadHex(t testing.TB, path string) []byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []byte
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		_, rest, ok := strings.Cut(line, ": ")
		if !ok {
			t.Fatalf("%s: bad line %q", path, line)
		}
		if i := strings.Index(rest, "  "); i >= 0 {
			rest = rest[:i]
		}
		b, err := hex.DecodeString(strings.ReplaceAll(rest, " ", ""))
		if err != nil {
			t.Fatalf("%s: %q: %v", path, line, err)
		}
		out = append(out, b...)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func isLimit(err error) bool { return errors.Is(err, session.ErrLimit) }

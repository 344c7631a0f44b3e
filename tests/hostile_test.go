package tests

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/minipot/minipot/agent/telnet/bot"
	"github.com/minipot/minipot/internal/event"
)

// rssKB is the agent's resident memory.
func (a *agentProc) rssKB() int {
	a.t.Helper()
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", a.cmd.Process.Pid))
	if err != nil {
		a.t.Fatal(err)
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			n, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(rest), " kB"))
			return n
		}
	}
	a.t.Fatal("no VmRSS")
	return 0
}

// stillServes checks a bot from another source address gets its answer.
func (a *agentProc) stillServes() {
	a.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}}
	c, err := d.DialContext(ctx, "tcp", a.Addr("23tcp"))
	if err != nil {
		a.t.Fatalf("agent no longer accepts: %v", err)
	}
	var b bot.Client
	b.Attach(c)
	defer b.Close()
	if r, err := b.Login(ctx, "other", "client"); err != nil || r.Outcome != bot.Rejected {
		a.t.Fatalf("agent no longer serves others: %+v %v", r, err)
	}
}

func TestPerAddressLimit(t *testing.T) {
	a := startAgent(t, map[string]string{"limits.max_per_ip": "4"})
	var open []net.Conn
	defer func() {
		for _, c := range open {
			c.Close()
		}
	}()
	greeted, refused := 0, 0
	for i := 0; i < 12; i++ {
		c, err := net.Dial("tcp", a.Addr("23tcp"))
		if err != nil {
			refused++
			continue
		}
		open = append(open, c)
		c.SetReadDeadline(time.Now().Add(2 * time.Second))
		if _, err := io.ReadFull(c, make([]byte, 1)); err == nil {
			greeted++
		} else {
			refused++
		}
	}
	if greeted != 4 || refused != 8 {
		t.Fatalf("greeted %d, refused %d; want 4 and 8 with max_per_ip 4", greeted, refused)
	}
	a.stillServes()
}

func TestTotalLimit(t *testing.T) {
	a := startAgent(t, map[string]string{"limits.max_connections": "3", "limits.max_per_ip": "100"})
	var open []net.Conn
	defer func() {
		for _, c := range open {
			c.Close()
		}
	}()
	greeted := 0
	for i := 0; i < 6; i++ {
		c, err := net.Dial("tcp", a.Addr("80tcp"))
		if err != nil {
			continue
		}
		open = append(open, c)
		fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		c.SetReadDeadline(time.Now().Add(2 * time.Second))
		if _, err := io.ReadFull(c, make([]byte, 12)); err == nil {
			greeted++
		}
	}
	if greeted != 3 {
		t.Fatalf("%d connections served with max_connections 3", greeted)
	}
}

// TestHostileInput throws a 10 MB line, a stream of 0xFF, random garbage
// and a slowloris at the fakes: memory stays bounded, each is closed with a
// reason, and other clients are served throughout.
func TestHostileInput(t *testing.T) {
	a := startAgent(t, map[string]string{"limits.idle_timeout": "2s", "limits.session_timeout": "4s", "limits.max_per_ip": "64"})
	before := a.rssKB()
	blast := func(key string, payload func(w io.Writer)) {
		c, err := net.Dial("tcp", a.Addr(key))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		go io.Copy(io.Discard, c)
		c.SetWriteDeadline(time.Now().Add(10 * time.Second))
		payload(c)
	}
	tenMB := bytes.Repeat([]byte("A"), 10<<20)
	ff := bytes.Repeat([]byte{0xff}, 1<<20)
	garbage := make([]byte, 1<<20)
	rand.Read(garbage)
	for _, key := range []string{"23tcp", "80tcp", "3128tcp"} {
		blast(key, func(w io.Writer) {
			if key != "23tcp" {
				io.WriteString(w, "GET /") // a 10 MB URL
			}
			w.Write(tenMB)
		})
		blast(key, func(w io.Writer) { w.Write(ff) })
		blast(key, func(w io.Writer) { w.Write(garbage) })
	}
	// Slowloris: a header byte every 500 ms never idles out, so the
	// session bound must end it.
	slow, err := net.Dial("tcp", a.Addr("80tcp"))
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	start := time.Now()
	io.WriteString(slow, "GET / HTTP/1.1\r\n")
	closed := false
	for i := 0; i < 30 && !closed; i++ {
		time.Sleep(500 * time.Millisecond)
		if _, err := io.WriteString(slow, "X"); err != nil {
			closed = true
		}
		slow.SetReadDeadline(time.Now().Add(time.Millisecond))
		if _, err := slow.Read(make([]byte, 1)); err == io.EOF {
			closed = true
		}
	}
	if !closed || time.Since(start) > 8*time.Second {
		t.Errorf("slowloris held its connection %v (closed=%v) with session_timeout 4s", time.Since(start), closed)
	}
	a.stillServes()
	if grew := a.rssKB() - before; grew > 30*1024 {
		t.Errorf("hostile input grew the agent by %d KB", grew)
	}
	eventually(t, 10*time.Second, "limits and timeouts recorded as disconnect reasons", func() (bool, string) {
		reasons := map[string]int{}
		for _, e := range readEvents(t, a.DB) {
			if e.Action == event.Disconnect {
				reasons[e.Reason]++
				reasons[e.Service+":"+e.Reason]++
			}
		}
		return reasons["23tcp:limit"] >= 1 && reasons["80tcp:limit"] >= 1 && reasons["3128tcp:limit"] >= 1 && reasons[event.ReasonTimeout] >= 1, fmt.Sprint(reasons)
	})
	a.find(t, 3, func(e event.Event) bool { return e.Action == event.Invalid })
}

package session

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/minipot/minipot/internal/event"
	"github.com/minipot/minipot/internal/event/eventtest"
)

func pair(t *testing.T) (server, client net.Conn) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server, err = ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { server.Close(); client.Close() })
	return server, client
}

func TestEmitCredentialPolicy(t *testing.T) {
	var gateOff atomic.Bool
	cases := []struct {
		name  string
		creds bool
		gate  *atomic.Bool
		keep  bool
	}{
		{"collected", true, nil, true},
		{"not collected", false, nil, false},
		{"switched off while open", true, &gateOff, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			server, _ := pair(t)
			got := eventtest.New()
			s := New(server, "23tcp", 23, 7, &Config{Credentials: c.creds, Limits: Limits{Idle: time.Second, Session: time.Minute}}, got)
			if c.gate != nil {
				s.SetCredentialGate(c.gate)
			}
			s.Emit(event.Event{Action: event.Login, Username: "root", Password: "xc3511", Detail: string(make([]byte, 5000)),
				URL: "http://u:xc3511@h/?password=xc3511", Body: "luci_password=xc3511"})
			e := got.All()[0]
			if leaked := strings.Contains(e.URL+e.Body, "xc3511"); leaked != c.keep {
				t.Fatalf("URL %q, body %q: password kept=%v, want %v", e.URL, e.Body, leaked, c.keep)
			}
			if (e.Username == "root" && e.Password == "xc3511") != c.keep || (!c.keep && (e.Username != "" || e.Password != "")) {
				t.Fatalf("credentials %q/%q, keep=%v", e.Username, e.Password, c.keep)
			}
			if e.Service != "23tcp" || e.Port != 23 || e.ConnID != 7 || e.SrcIP != "127.0.0.1" || e.SrcPort == 0 || e.Time.IsZero() {
				t.Fatalf("connection fields not filled: %+v", e)
			}
			if len(e.Detail) != event.MaxText {
				t.Fatalf("detail of %d bytes, want cut to %d", len(e.Detail), event.MaxText)
			}
		})
	}
}

func TestIdleAndSessionDeadlines(t *testing.T) {
	server, client := pair(t)
	s := New(server, "80tcp", 80, 1, &Config{Limits: Limits{Idle: 200 * time.Millisecond, Session: 700 * time.Millisecond}}, eventtest.New())
	start := time.Now()
	_, err := s.Read(make([]byte, 1))
	if Reason(err) != event.ReasonTimeout || time.Since(start) < 150*time.Millisecond {
		t.Fatalf("idle read: %v after %v", err, time.Since(start))
	}
	// A peer that keeps talking is still cut at the session's end.
	go func() {
		for i := 0; i < 40; i++ {
			if _, err := client.Write([]byte("x")); err != nil {
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
	}()
	for {
		if _, err = s.Read(make([]byte, 1)); err != nil {
			break
		}
	}
	if Reason(err) != event.ReasonTimeout || time.Since(start) > 1500*time.Millisecond {
		t.Fatalf("session bound: %v after %v", err, time.Since(start))
	}
	if s.BytesIn() == 0 {
		t.Fatal("bytes in not counted")
	}
}

// TestExpire: after Expire (a parked connection that idled out) the next
// Read times out at once, and a write to a peer that does not read gives
// up within about a second instead of the idle timeout.
func TestExpire(t *testing.T) {
	server, _ := net.Pipe() // a net.Pipe write waits for a read that never comes
	defer server.Close()
	s := New(server, "21tcp", 21, 1, &Config{Limits: Limits{Idle: time.Minute, Session: time.Hour}}, eventtest.New())
	if d := time.Until(s.ReadDeadline()); d < 50*time.Second {
		t.Fatalf("read deadline %v from now before Expire, want the idle minute", d)
	}
	s.Expire()
	start := time.Now()
	if _, err := s.Read(make([]byte, 1)); Reason(err) != event.ReasonTimeout || time.Since(start) > 100*time.Millisecond {
		t.Fatalf("read after Expire: %v after %v", err, time.Since(start))
	}
	if _, err := s.Write([]byte("421 Timeout.\r\n")); Reason(err) != event.ReasonTimeout || time.Since(start) > 1500*time.Millisecond {
		t.Fatalf("write to a peer that does not read: %v after %v", err, time.Since(start))
	}
}

func TestReason(t *testing.T) {
	for err, want := range map[error]string{
		nil:                            event.ReasonClosed,
		fmt.Errorf("x: %w", ErrLimit):  event.ReasonLimit,
		os.ErrDeadlineExceeded:         event.ReasonTimeout,
		errors.New("connection reset"): event.ReasonClosed,
		context.Canceled:               event.ReasonClosed,
		fmt.Errorf("read: %w", os.ErrDeadlineExceeded): event.ReasonTimeout,
	} {
		if got := Reason(err); got != want {
			t.Errorf("Reason(%v) = %s, want %s", err, got, want)
		}
	}
}

// Identical requests on one connection are stored once per run: the first
// at once, its repeats as one event with their number, when something else
// comes or the run spans RepeatWindow. No request goes uncounted.
func TestRequestRepeats(t *testing.T) {
	get := func(url string) event.Event {
		return event.Event{Action: event.Request, Method: "GET", URL: url, Host: "h"}
	}
	login := func(pass string) event.Event {
		return event.Event{Action: event.Login, Method: "GET", URL: "/", Username: "admin", Password: pass}
	}
	type want struct {
		action event.Action
		url    string
		count  int64
	}
	cases := []struct {
		name  string
		creds bool
		steps []event.Event // a zero Event: the run's first repeat is made older than RepeatWindow
		want  []want
	}{
		{"one request", true, []event.Event{get("/")}, []want{{event.Request, "/", 1}}},
		{"repeats end with the disconnect", true,
			[]event.Event{get("/"), get("/"), get("/"), get("/"), {Action: event.Disconnect}},
			[]want{{event.Request, "/", 1}, {event.Request, "/", 3}, {event.Disconnect, "", 1}}},
		{"a different request ends the run", true,
			[]event.Event{get("/"), get("/"), get("/a"), get("/a"), get("/"), {Action: event.Disconnect}},
			[]want{{event.Request, "/", 1}, {event.Request, "/", 1}, {event.Request, "/a", 1}, {event.Request, "/a", 1},
				{event.Request, "/", 1}, {event.Disconnect, "", 1}}},
		{"a run spans at most the window", true,
			[]event.Event{get("/"), get("/"), get("/"), {}, get("/"), get("/"), {Action: event.Disconnect}},
			[]want{{event.Request, "/", 1}, {event.Request, "/", 3}, {event.Request, "/", 1}, {event.Disconnect, "", 1}}},
		{"other events are never merged", true,
			[]event.Event{login("a"), login("a"), {Action: event.Invalid, Detail: "x"}, {Action: event.Invalid, Detail: "x"}},
			[]want{{event.Login, "/", 1}, {event.Login, "/", 1}, {event.Invalid, "", 1}, {event.Invalid, "", 1}}},
		{"credentials make requests differ", true,
			[]event.Event{{Action: event.Request, URL: "/", Username: "a", Password: "1"}, {Action: event.Request, URL: "/", Username: "a", Password: "2"}},
			[]want{{event.Request, "/", 1}, {event.Request, "/", 1}}},
		{"unless they are not collected", false,
			[]event.Event{{Action: event.Request, URL: "/", Username: "a", Password: "1"}, {Action: event.Request, URL: "/", Username: "a", Password: "2"},
				{Action: event.Disconnect}},
			[]want{{event.Request, "/", 1}, {event.Request, "/", 1}, {event.Disconnect, "", 1}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			server, _ := pair(t)
			got := eventtest.New()
			s := New(server, "80tcp", 80, 1, &Config{Credentials: c.creds, Limits: Limits{Idle: time.Second, Session: time.Minute}}, got)
			for _, e := range c.steps {
				if e.Action == "" {
					s.rep.pending.Time = s.rep.pending.Time.Add(-RepeatWindow)
					continue
				}
				s.Emit(e)
			}
			evs := got.All()
			var sum int64
			for i, e := range evs {
				if i >= len(c.want) || e.Action != c.want[i].action || e.URL != c.want[i].url || e.Count != c.want[i].count {
					t.Fatalf("events %+v\nwant %+v", evs, c.want)
				}
				if e.Action == event.Request {
					sum += e.Count
				}
			}
			if len(evs) != len(c.want) {
				t.Fatalf("%d events, want %d: %+v", len(evs), len(c.want), evs)
			}
			var requests int64
			for _, e := range c.steps {
				if e.Action == event.Request {
					requests++
				}
			}
			if sum != requests {
				t.Fatalf("counts add up to %d requests, %d were made", sum, requests)
			}
		})
	}
}

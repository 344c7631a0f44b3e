package export

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/minipot/minipot/internal/event"
	"github.com/minipot/minipot/internal/store"
)

func TestReadPacket(t *testing.T) {
	cases := []struct {
		name string
		in   []byte
		typ  byte
		body []byte
		err  string
	}{
		{"puback", []byte{0x40, 2, 0, 7}, 0x40, []byte{0, 7}, ""},
		{"pingresp", []byte{0xd0, 0}, 0xd0, []byte{}, ""},
		{"two-byte length within limit", []byte{0x40, 0x82, 0x00}, 0, nil, "EOF"},
		{"too long", []byte{0x30, 0xff, 0xff, 0xff, 0x7f}, 0, nil, "at most"},
		{"five length bytes", []byte{0x30, 0x80, 0x80, 0x80, 0x80, 0x01}, 0, nil, "malformed"},
		{"truncated", []byte{0x40, 2, 0}, 0, nil, "EOF"},
		{"empty", nil, 0, nil, "EOF"},
	}
	for _, c := range cases {
		typ, body, err := readPacket(bufio.NewReader(bytes.NewReader(c.in)), maxIncoming)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%s: err %v, want %q", c.name, err, c.err)
			}
			continue
		}
		if err != nil || typ != c.typ || !bytes.Equal(body, c.body) {
			t.Errorf("%s: %x %x %v", c.name, typ, body, err)
		}
	}
}

func TestPutLengthRoundTrip(t *testing.T) {
	for _, n := range []int{0, 1, 127, 128, 16383, 16384, 2097151, 2097152, 268435455} {
		var b [5]byte
		k := putLength(b[1:], n)
		b[0] = 0x30
		r := bufio.NewReader(bytes.NewReader(append(b[:1+k], make([]byte, min(n, 10))...)))
		_, _, err := readPacket(r, 1<<30)
		if n <= 10 && err != nil {
			t.Errorf("%d: %v", n, err)
		}
		if n > 10 && err == nil {
			t.Errorf("%d: body shorter than the length was accepted", n)
		}
	}
}

// FuzzReadPacket: whatever a broker sends, reading it neither panics nor
// returns more than the limit.
func FuzzReadPacket(f *testing.F) {
	for _, s := range [][]byte{{0x20, 2, 0, 0}, {0x40, 2, 0, 1}, {0xd0, 0}, {0x30, 0xff, 0xff, 0xff, 0xff}} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		_, body, err := readPacket(bufio.NewReader(bytes.NewReader(in)), maxIncoming)
		if err == nil && len(body) > maxIncoming {
			t.Fatalf("body of %d bytes", len(body))
		}
	})
}

// memSource is a store stand-in whose rows can be deleted, as retention does.
type memSource struct {
	mu   sync.Mutex
	evs  []event.Event
	last int64
}

func (m *memSource) add(n int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for range n {
		m.last++
		m.evs = append(m.evs, event.Event{ID: m.last, Time: time.UnixMilli(m.last).UTC(), Service: "23tcp", Action: event.Connect})
	}
}

func (m *memSource) deleteFirst(n int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.evs = m.evs[min(n, len(m.evs)):]
}

func (m *memSource) After(_ context.Context, after int64, limit int) (store.OutboxPage, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	p := store.OutboxPage{LastID: m.last}
	if len(m.evs) > 0 {
		p.MinID = m.evs[0].ID
	}
	for _, e := range m.evs {
		if e.ID > after && len(p.Events) < limit {
			p.Events = append(p.Events, e)
		}
	}
	return p, nil
}

// flakySink acknowledges batches, except that it fails every batch while
// failing is set (after possibly delivering part of it, as a broker that
// dies mid-batch does).
type flakySink struct {
	mu      sync.Mutex
	got     []int64
	failing bool
	// onFail, if set, runs once inside the next failing Send: the pump
	// fetches its next page only after it, which a change made from the
	// test's goroutine could not promise (a page fetched before the change
	// is delivered whole, rightly).
	onFail func()
}

func (s *flakySink) Send(_ context.Context, evs []event.Event) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failing {
		s.got = append(s.got, evs[0].ID) // delivered, never acknowledged
		if f := s.onFail; f != nil {
			s.onFail = nil
			f()
			s.failing = false
		}
		return errors.New("connection lost")
	}
	for _, e := range evs {
		s.got = append(s.got, e.ID)
	}
	return nil
}
func (s *flakySink) Idle(context.Context) error { return nil }
func (s *flakySink) Close() error               { return nil }

func TestPumpAtLeastOnceAndLostCounted(t *testing.T) {
	dir := t.TempDir()
	src := &memSource{}
	sink := &flakySink{}
	src.add(25)
	p := &Pump{Name: "test", Source: src, CursorPath: filepath.Join(dir, "c"), Batch: 10, Interval: 10 * time.Millisecond,
		BackoffMin: time.Millisecond, BackoffMax: 5 * time.Millisecond, Log: zerolog.Nop(),
		Connect: func(context.Context) (Sink, error) { return sink, nil }}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- p.Run(ctx) }()
	waitFor(t, func() bool { return p.Status().Cursor == 25 })

	sink.mu.Lock()
	sink.failing = true
	sink.mu.Unlock()
	src.add(10) // 26-35
	waitFor(t, func() bool { return p.Status().LastError != "" && p.Status().Waiting == 10 })
	if c := p.Status().Cursor; c != 25 {
		t.Fatalf("cursor moved to %d without an acknowledgement", c)
	}
	// Retention deletes 26-30 while the receiver is down; it comes back
	// after that batch fails.
	sink.mu.Lock()
	sink.onFail = func() { src.deleteFirst(30) }
	sink.mu.Unlock()
	waitFor(t, func() bool { return p.Status().Cursor == 35 })
	st := p.Status()
	if st.Lost != 5 || st.Waiting != 0 || st.LastError != "" || st.Sent != 30 {
		t.Errorf("status %+v: want lost 5, waiting 0, sent 30", st)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	// Every event that was stored when its turn came was delivered.
	seen := map[int64]bool{}
	for _, id := range sink.got {
		seen[id] = true
	}
	for id := int64(1); id <= 35; id++ {
		if !seen[id] && (id < 26 || id > 30) {
			t.Errorf("event %d never delivered", id)
		}
	}
	// The cursor survives a restart: nothing is sent again.
	c, err := LoadCursor(filepath.Join(dir, "c"))
	if err != nil || c.After != 35 || c.Lost != 5 {
		t.Errorf("cursor file %+v %v", c, err)
	}
}

func TestPumpCountsPurgedTail(t *testing.T) {
	src := &memSource{}
	src.add(5)
	src.deleteFirst(5) // a purge: the table is empty, ids 1-5 gone
	p := &Pump{Name: "test", Source: src, CursorPath: filepath.Join(t.TempDir(), "c"), Interval: 5 * time.Millisecond, Log: zerolog.Nop(),
		Connect: func(context.Context) (Sink, error) { return &flakySink{}, nil }}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go p.Run(ctx)
	waitFor(t, func() bool { return p.Status().Lost == 5 && p.Status().Cursor == 5 })
}

func TestDamagedCursorIsRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c")
	for _, bad := range []string{"{", `{"after":-1}`, strings.Repeat("x", maxStateFile+10)} {
		os.WriteFile(path, []byte(bad), 0o600)
		if _, err := LoadCursor(path); err == nil {
			t.Errorf("cursor %.20q accepted", bad)
		}
	}
}

func TestSensorIDIsKept(t *testing.T) {
	path := filepath.Join(t.TempDir(), "id")
	a, err := SensorID("", path)
	if err != nil || len(a) != 16 {
		t.Fatalf("%q %v", a, err)
	}
	b, _ := SensorID("", path)
	if a != b {
		t.Errorf("sensor id changed: %s then %s", a, b)
	}
	if c, _ := SensorID("mine", path); c != "mine" {
		t.Errorf("configured id ignored: %s", c)
	}
}

func TestRecordCredentials(t *testing.T) {
	e := event.Event{ID: 3, Time: time.UnixMilli(1700000000123), Service: "23tcp", Action: event.Login, Username: "root", Password: "xc3511",
		URL: "http://bob:hunter2@example.com/?token=abc", Body: "pass=hunter2"}
	// An event stored while credentials were collected loses every
	// secret on the wire, in its texts too, and keeps them in the store.
	if r := NewRecord("s", &e, false); r.Username != "" || r.Password != "" || r.URL != "http://example.com/?token=" || r.Body != "pass=" {
		t.Errorf("credentials in %+v", r)
	}
	if e.Password != "xc3511" || e.Body != "pass=hunter2" {
		t.Errorf("NewRecord changed the event: %+v", e)
	}
	r := NewRecord("s", &e, true)
	if r.Username != "root" || r.Password != "xc3511" || r.Body != "pass=hunter2" || r.TS != "2023-11-14T22:13:20.123Z" {
		t.Errorf("%+v", r)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 5s")
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func TestRateCaps(t *testing.T) {
	m := &mqttSink{rate: 500}
	if d := m.Pause(100); d != 200*time.Millisecond {
		t.Errorf("100 events at 500/s: pause %s, want 200ms", d)
	}
	w := newWebhookSink("https://hooks.example.net/secret", "s", 6, false, false, &seenSet{set: map[string]struct{}{}}, zerolog.Nop())
	if d := w.Pause(10); d != 0 {
		t.Errorf("no POST made: pause %s, want 0", d)
	}
	w.posted = true
	if d := w.Pause(10); d != 10*time.Second {
		t.Errorf("6 POSTs a minute: pause %s, want 10s", d)
	}
	if r := redactURL("https://hooks.example.net/services/T000/B000/XXXX?token=1"); strings.Contains(r, "XXXX") || strings.Contains(r, "token") {
		t.Errorf("redacted %q", r)
	}
}

func TestWebhookAlertsOfABatch(t *testing.T) {
	seen, _ := loadSeen("", 10)
	seen.add("192.0.2.1")
	w := newWebhookSink("https://h.example.net/", "s", 6, true, false, seen, zerolog.Nop())
	evs := []event.Event{
		{ID: 1, SrcIP: "192.0.2.1", Action: event.Connect},
		{ID: 2, SrcIP: "192.0.2.2", Action: event.Connect},
		{ID: 3, SrcIP: "192.0.2.2", Action: event.Login, Username: "root", Password: "pw"},
	}
	alerts, fresh := w.alerts(evs)
	if len(alerts) != 2 || alerts[0].Kind != "new_address" || alerts[0].ID != 2 || alerts[1].Kind != "login" || alerts[1].Password != "" {
		t.Errorf("alerts %+v", alerts)
	}
	if len(fresh) != 1 || fresh[0] != "192.0.2.2" {
		t.Errorf("fresh %v", fresh)
	}
	if seen.len() != 1 {
		t.Error("addresses marked seen before the POST succeeded")
	}
}

// TestPumpRestartsOnANewStore: a cursor beyond the store's last id means
// the store was replaced; its events are exported, not skipped.
func TestPumpRestartsOnANewStore(t *testing.T) {
	dir := t.TempDir()
	if err := (Cursor{After: 500}).Save(filepath.Join(dir, "c")); err != nil {
		t.Fatal(err)
	}
	src := &memSource{}
	src.add(7)
	sink := &flakySink{}
	p := &Pump{Name: "test", Source: src, CursorPath: filepath.Join(dir, "c"), Interval: 5 * time.Millisecond, Log: zerolog.Nop(),
		Connect: func(context.Context) (Sink, error) { return sink, nil }}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go p.Run(ctx)
	waitFor(t, func() bool { return p.Status().Cursor == 7 && p.Status().Sent == 7 })
}

// FuzzStateFiles: whatever a cursor, sensor id or password file holds,
// reading it returns a value or an error, never a panic or a negative
// cursor.
func FuzzStateFiles(f *testing.F) {
	for _, s := range []string{`{"after":12,"lost":3}`, "0123456789abcdef\n", "user\npass\n", "user\r\npass\r\n", "", "\n\n"} {
		f.Add(s)
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, content string) {
		path := filepath.Join(dir, "state")
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if c, err := LoadCursor(path); err == nil && (c.After < 0 || c.Lost < 0) {
			t.Fatalf("cursor %+v accepted", c)
		}
		if id, err := SensorID("", path); err == nil && len(id) != 16 {
			t.Fatalf("sensor id %q accepted", id)
		}
		if user, pass, err := readAuthFile(path); err == nil && (user == "" || strings.Contains(user, "\n")) {
			t.Fatalf("auth %q %q accepted", user, pass)
		}
	})
}

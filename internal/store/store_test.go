package store

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minipot/minipot/internal/event"
)

func openTest(t *testing.T, opt Options) (*Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "events.db")
	s, err := Open(path, opt)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s, path
}

func flush(t *testing.T, s *Store) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := s.Flush(ctx); err != nil {
		t.Fatalf("Flush: %v", err)
	}
}

// all reads every event newest first through the pages of Query.
func all(t *testing.T, r interface {
	Query(context.Context, Filter) ([]event.Event, Cursor, error)
}, f Filter) []event.Event {
	t.Helper()
	var out []event.Event
	for page := 0; ; page++ {
		evs, next, err := r.Query(context.Background(), f)
		if err != nil {
			t.Fatalf("Query(%+v): %v", f, err)
		}
		out = append(out, evs...)
		if next.IsZero() {
			return out
		}
		if page > 10000 {
			t.Fatal("Query does not terminate")
		}
		f.Cursor = next
	}
}

// rawDB opens the file with a plain read-write connection, as a test's
// independent view of what is on disk.
func rawDB(t *testing.T, path string) *sql.DB {
	t.Helper()
	db, err := openDB(path, url.Values{"mode": {"rw"}, "_pragma": {"busy_timeout(10000)"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

func TestRoundTrip(t *testing.T) {
	base := time.Date(2025, 3, 14, 15, 9, 26, 535_000_000, time.UTC)
	long := strings.Repeat("A", event.MaxText+100)
	tests := []struct {
		name string
		in   event.Event
		want event.Event // zero: same as in, with the ID set by the store
	}{
		{name: "every field", in: event.Event{
			Time: base, Service: "80tcp", Port: 80, SrcIP: "198.51.100.7", SrcPort: 51234, ConnID: 42,
			Action: event.Request, Method: "POST", URL: "/cgi-bin/luci/;stok=/locale?x=$(id)",
			Host: "192.0.2.1", UserAgent: "Mozilla/5.0 (X11; Linux x86_64)", Username: "admin",
			Password: "p@ss word", Body: "a=1&b=2", Detail: "detail", Count: 1234, Duration: 1500 * time.Millisecond,
			BytesIn: 1 << 40, BytesOut: 12345, Reason: event.ReasonTimeout,
		}},
		{name: "bytes not utf-8, NUL and escapes kept", in: event.Event{
			Time: base, Service: "23tcp", Port: 23, SrcIP: "2001:db8::1", SrcPort: 1, ConnID: -1,
			Action: event.Login, Username: "\xff\xfe\x00root\x00", Password: "\xc3\x28\x1b[31m",
			Detail: "\x00", Body: string([]byte{0xed, 0xa0, 0x80}), Method: "G\xe9T",
		}},
		{name: "empty text", in: event.Event{
			Time: base, Service: "2323tcp", Port: 2323, SrcIP: "203.0.113.9", Action: event.Connect,
		}},
		{name: "disconnect", in: event.Event{
			Time: base, Service: "3128tcp", Port: 3128, SrcIP: "203.0.113.9", SrcPort: 65535, ConnID: 7,
			Action: event.Disconnect, Duration: 90 * time.Second, BytesIn: 10, BytesOut: 20, Reason: event.ReasonLimit,
		}},
		{name: "exactly MaxText", in: event.Event{
			Time: base, Service: "8080tcp", SrcIP: "203.0.113.9", Action: event.Invalid,
			Detail: long[:event.MaxText],
		}},
		{name: "over MaxText is cut",
			in: event.Event{Time: base, Service: "8123tcp", SrcIP: "203.0.113.9", Action: event.Command,
				Detail: long, URL: long},
			want: event.Event{Time: base, Service: "8123tcp", SrcIP: "203.0.113.9", Action: event.Command,
				Detail: long[:event.MaxText], URL: long[:event.MaxText]}},
		{name: "time in another zone, below ms, duration below ms",
			in: event.Event{Time: time.Date(2025, 3, 14, 16, 9, 26, 535_999_999, time.FixedZone("CET", 3600)),
				Service: "23tcp", SrcIP: "203.0.113.9", Action: event.Disconnect, Duration: 1999 * time.Microsecond},
			want: event.Event{Time: base, Service: "23tcp", SrcIP: "203.0.113.9", Action: event.Disconnect,
				Duration: time.Millisecond}},
		{name: "time before 1970",
			in: event.Event{Time: time.Date(1969, 12, 31, 23, 59, 59, 0, time.UTC), Service: "23tcp", SrcIP: "::1", Action: event.Connect}},
	}
	s, path := openTest(t, Options{})
	for _, tt := range tests {
		emitv(s, tt.in)
	}
	flush(t, s)
	got := all(t, s, Filter{Limit: MaxLimit})
	slices.SortFunc(got, func(a, b event.Event) int { return int(a.ID - b.ID) })
	if len(got) != len(tests) {
		t.Fatalf("got %d events, want %d", len(got), len(tests))
	}
	r, err := OpenReader(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	viaReader := all(t, r, Filter{Limit: MaxLimit})
	slices.SortFunc(viaReader, func(a, b event.Event) int { return int(a.ID - b.ID) })

	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := tt.want
			if want == (event.Event{}) {
				want = tt.in
			}
			want.ID = int64(i + 1)
			if want.Count == 0 {
				want.Count = 1 // what an event without a count stands for
			}
			if got[i] != want {
				t.Errorf("Store.Query:\n got %+v\nwant %+v", got[i], want)
			}
			if viaReader[i] != want {
				t.Errorf("Reader.Query:\n got %+v\nwant %+v", viaReader[i], want)
			}
		})
	}

	// Attacker text is a BLOB, the rest as declared.
	var types string
	err = rawDB(t, path).QueryRow(`SELECT group_concat(DISTINCT typeof(username) || typeof(detail) || typeof(service) || typeof(ts))
		FROM events WHERE id = 2`).Scan(&types)
	if err != nil || types != "blobblobtextinteger" {
		t.Errorf("column types = %q, %v; want blobblobtextinteger", types, err)
	}
}

func TestEmitStampsZeroTime(t *testing.T) {
	s, _ := openTest(t, Options{})
	before := time.Now().Truncate(time.Millisecond)
	s.Emit(&event.Event{Service: "23tcp", SrcIP: "192.0.2.1", Action: event.Connect})
	after := time.Now()
	flush(t, s)
	evs, _, err := s.Query(context.Background(), Filter{})
	if err != nil || len(evs) != 1 {
		t.Fatalf("Query = %v, %v", evs, err)
	}
	if tm := evs[0].Time; tm.Before(before) || tm.After(after) || tm.Location() != time.UTC {
		t.Errorf("Time = %v, want UTC within [%v, %v]", tm, before, after)
	}
}

// fixture emits a set of events with a spread of services, addresses,
// actions and times, with ties in time, and returns them as stored.
func fixture(t *testing.T, s *Store) []event.Event {
	t.Helper()
	base := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	services := []string{"23tcp", "2323tcp", "80tcp", "3128tcp"}
	ips := []string{"192.0.2.1", "192.0.2.2", "2001:db8::7"}
	actions := []event.Action{event.Connect, event.Login, event.Request, event.Disconnect, event.Invalid}
	var evs []event.Event
	for i := range 200 {
		e := event.Event{
			// Times go back and forth, and come in pairs of equal ms, so
			// id order and time order differ and the cursor needs both.
			Time:    base.Add(time.Duration((i/2)*7%97) * time.Minute),
			Service: services[i%len(services)],
			SrcIP:   ips[(i/3)%len(ips)],
			Action:  actions[(i/5)%len(actions)],
			ConnID:  int64(i),
		}
		s.Emit(&e)
		e.ID = int64(i + 1)
		evs = append(evs, e)
	}
	flush(t, s)
	return evs
}

func TestQueryFilters(t *testing.T) {
	s, _ := openTest(t, Options{})
	evs := fixture(t, s)
	base := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		f    Filter
		keep func(event.Event) bool
	}{
		{"none", Filter{}, func(event.Event) bool { return true }},
		{"service", Filter{Service: "80tcp"}, func(e event.Event) bool { return e.Service == "80tcp" }},
		{"source", Filter{SrcIP: "2001:db8::7"}, func(e event.Event) bool { return e.SrcIP == "2001:db8::7" }},
		{"action", Filter{Action: event.Login}, func(e event.Event) bool { return e.Action == event.Login }},
		{"since", Filter{Since: base.Add(40 * time.Minute)}, func(e event.Event) bool {
			return !e.Time.Before(base.Add(40 * time.Minute))
		}},
		{"until", Filter{Until: base.Add(40 * time.Minute)}, func(e event.Event) bool {
			return e.Time.Before(base.Add(40 * time.Minute))
		}},
		{"hour", Filter{Since: base.Add(30 * time.Minute), Until: base.Add(90 * time.Minute)}, func(e event.Event) bool {
			return !e.Time.Before(base.Add(30*time.Minute)) && e.Time.Before(base.Add(90*time.Minute))
		}},
		{"all filters", Filter{Service: "23tcp", SrcIP: "192.0.2.1", Action: event.Connect, Since: base.Add(10 * time.Minute)},
			func(e event.Event) bool {
				return e.Service == "23tcp" && e.SrcIP == "192.0.2.1" && e.Action == event.Connect &&
					!e.Time.Before(base.Add(10*time.Minute))
			}},
		{"no match", Filter{Service: "nope"}, func(event.Event) bool { return false }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var want []int64
			for _, e := range evs {
				if tt.keep(e) {
					want = append(want, e.ID)
				}
			}
			// Newest first: time, then id.
			slices.SortFunc(want, func(a, b int64) int {
				ta, tb := evs[a-1].Time, evs[b-1].Time
				if c := tb.Compare(ta); c != 0 {
					return c
				}
				return int(b - a)
			})
			for _, limit := range []int{1, 3, 7, 0, MaxLimit} {
				f := tt.f
				f.Limit = limit
				var got []int64
				for _, e := range all(t, s, f) {
					got = append(got, e.ID)
				}
				if !slices.Equal(got, want) {
					t.Errorf("limit %d: ids\n got %v\nwant %v", limit, got, want)
				}
			}
			n, err := s.Count(context.Background(), tt.f)
			if err != nil || n != int64(len(want)) {
				t.Errorf("Count = %d, %v; want %d", n, err, len(want))
			}
		})
	}
}

func TestQueryLimitAndCursor(t *testing.T) {
	s, _ := openTest(t, Options{})
	for range MaxLimit + 10 {
		s.Emit(&event.Event{Service: "23tcp", SrcIP: "192.0.2.1", Action: event.Connect})
	}
	flush(t, s)
	ctx := context.Background()
	tests := []struct {
		limit, want int
	}{{0, DefaultLimit}, {-5, DefaultLimit}, {5, 5}, {MaxLimit + 1, MaxLimit}}
	for _, tt := range tests {
		evs, next, err := s.Query(ctx, Filter{Limit: tt.limit})
		if err != nil || len(evs) != tt.want || next.IsZero() {
			t.Errorf("limit %d: %d events, next %v, %v; want %d and a cursor", tt.limit, len(evs), next, err, tt.want)
		}
		// The token survives a trip through a URL.
		c, err := ParseCursor(next.String())
		if err != nil || c != next {
			t.Errorf("ParseCursor(%q) = %v, %v", next.String(), c, err)
		}
	}
}

func TestParseCursor(t *testing.T) {
	tests := []struct {
		in   string
		want Cursor
		ok   bool
	}{
		{"", Cursor{}, true},
		{"1700000000000.42", Cursor{ts: 1700000000000, id: 42}, true},
		{"-5.1", Cursor{ts: -5, id: 1}, true},
		{"1.0", Cursor{}, false},
		{"12", Cursor{}, false},
		{"a.b", Cursor{}, false},
		{"1.2.3", Cursor{}, false},
		{"99999999999999999999.1", Cursor{}, false},
	}
	for _, tt := range tests {
		got, err := ParseCursor(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("ParseCursor(%q) = %v, %v; want %v, ok %v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

// TestQueryPlans checks that each filter reads an index in order, newest
// first, and never sorts: a page costs the rows it reads, not the table.
func TestQueryPlans(t *testing.T) {
	s, _ := openTest(t, Options{})
	c := Cursor{ts: 1, id: 1}
	tm := time.Unix(1e9, 0)
	tests := []struct {
		f     Filter
		index string
	}{
		{Filter{}, "events_ts"},
		{Filter{Cursor: c}, "events_ts"},
		{Filter{Service: "23tcp", Cursor: c}, "events_ts"},
		{Filter{SrcIP: "192.0.2.1", Cursor: c}, "events_src_ip_ts"},
		{Filter{Action: event.Login, Cursor: c}, "events_ts"},
		{Filter{Since: tm, Until: tm, Cursor: c}, "events_ts"},
		{Filter{Service: "23tcp", Since: tm, Until: tm}, "events_ts"},
		{Filter{SrcIP: "192.0.2.1", Since: tm}, "events_src_ip_ts"},
		{Filter{Action: event.Login, Until: tm}, "events_ts"},
		{Filter{Service: "23tcp", SrcIP: "192.0.2.1", Action: event.Login, Since: tm, Cursor: c}, "events_src_ip_ts"},
	}
	for _, tt := range tests {
		q, args := tt.f.querySQL(10)
		rows, err := s.reader.db.Query("EXPLAIN QUERY PLAN "+q, args...)
		if err != nil {
			t.Fatal(err)
		}
		var plan []string
		for rows.Next() {
			var id, parent, notused int
			var detail string
			if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, detail)
		}
		rows.Close()
		p := strings.Join(plan, "; ")
		if strings.Contains(p, "TEMP B-TREE") || !strings.Contains(p, "USING INDEX "+tt.index) {
			t.Errorf("filter %+v: plan %q, want a range of index %s and no sort", tt.f, p, tt.index)
		}
	}
}

func TestRetentionRows(t *testing.T) {
	const maxRows = 100
	s, path := openTest(t, Options{MaxRows: maxRows, BatchSize: 16})
	for i := range 1000 {
		s.Emit(&event.Event{Service: "23tcp", SrcIP: "192.0.2.1", Action: event.Connect, ConnID: int64(i)})
	}
	flush(t, s)
	checkIDs := func(wantLo, wantHi int64) {
		t.Helper()
		var n, lo, hi int64
		err := rawDB(t, path).QueryRow("SELECT count(*), min(id), max(id) FROM events").Scan(&n, &lo, &hi)
		if err != nil || n != wantHi-wantLo+1 || lo != wantLo || hi != wantHi {
			t.Errorf("count %d, ids %d..%d, %v; want ids %d..%d", n, lo, hi, err, wantLo, wantHi)
		}
	}
	checkIDs(901, 1000)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// Reopened with a lower bound, the store trims at once.
	s2, err := Open(path, Options{MaxRows: 10})
	if err != nil {
		t.Fatal(err)
	}
	flush(t, s2)
	checkIDs(991, 1000)
	if err := s2.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestRetentionAge(t *testing.T) {
	const maxAge = time.Hour
	now := time.Now().UTC().Truncate(time.Millisecond)
	old, fresh := now.Add(-2*maxAge), now.Add(-maxAge/2)
	s, _ := openTest(t, Options{MaxAge: maxAge, RetentionInterval: 20 * time.Millisecond})
	// Fresh and old interleave, as after a router booted with a wrong
	// clock: age retention must go by time, not by id.
	var wantIDs []int64
	for i := range 30000 {
		tm := old
		if i%3 == 0 {
			tm = fresh
			wantIDs = append(wantIDs, int64(i+1))
		}
		s.Emit(&event.Event{Time: tm, Service: "23tcp", SrcIP: "192.0.2.1", Action: event.Connect})
		if i%4096 == 0 {
			flush(t, s) // do not overflow the queue
		}
	}
	flush(t, s)
	ctx := context.Background()
	deadline := time.Now().Add(20 * time.Second)
	for {
		n, err := s.Count(ctx, Filter{Until: now.Add(-maxAge)})
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d old events left", n)
		}
		time.Sleep(20 * time.Millisecond)
	}
	var got []int64
	for _, e := range all(t, s, Filter{Limit: MaxLimit}) {
		got = append(got, e.ID)
	}
	slices.Sort(got)
	if !slices.Equal(got, wantIDs) {
		t.Errorf("kept %d events, want the %d fresh ones", len(got), len(wantIDs))
	}
}

// lockDB holds the write lock from another connection, which stalls the
// writer in busy_timeout, until the returned function is called.
func lockDB(t *testing.T, path string) (unlock func()) {
	t.Helper()
	conn, err := rawDB(t, path).Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(context.Background(), "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}
	return func() {
		if _, err := conn.ExecContext(context.Background(), "ROLLBACK"); err != nil {
			t.Error(err)
		}
		_ = conn.Close()
	}
}

func TestDropWhenFull(t *testing.T) {
	big := strings.Repeat("x", 1000)
	tests := []struct {
		name        string
		opt         Options
		ev          event.Event
		maxInMemory int // events the queue and the writer's batch can hold
	}{
		{"queue size", Options{QueueSize: 4, BatchSize: 2},
			event.Event{Service: "23tcp", SrcIP: "192.0.2.1", Action: event.Connect}, 4 + 2},
		{"queue bytes", Options{QueueSize: 1000, QueueBytes: 3 * (eventOverhead + 1000 + 16), BatchSize: 2},
			event.Event{Service: "23tcp", SrcIP: "192.0.2.1", Action: event.Invalid, Detail: big}, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			const total = 100
			s, path := openTest(t, tt.opt)
			unlock := lockDB(t, path)
			var wg sync.WaitGroup
			for range 4 {
				wg.Go(func() {
					for range total / 4 {
						emitv(s, tt.ev)
					}
				})
			}
			wg.Wait()
			if d := s.Dropped(); d < total-uint64(tt.maxInMemory) {
				t.Errorf("Dropped = %d, want at least %d", d, total-tt.maxInMemory)
			}
			unlock()
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			if w, d := s.Written(), s.Dropped(); w+d != total || w == 0 {
				t.Errorf("Written %d + Dropped %d, want %d with some written", w, d, total)
			}
			r, err := OpenReader(path)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			if n, err := r.Count(context.Background(), Filter{}); err != nil || uint64(n) != s.Written() {
				t.Errorf("Count = %d, %v; want Written = %d", n, err, s.Written())
			}
			emitv(s, tt.ev)
			if d := s.Dropped(); d != total-s.Written()+1 {
				t.Errorf("Emit after Close: Dropped = %d, want one more", d)
			}
		})
	}
}

func TestCloseFlushes(t *testing.T) {
	// Neither the batch size nor the interval would flush by themselves.
	s, path := openTest(t, Options{BatchSize: 100000, QueueSize: 100000, FlushInterval: time.Hour})
	const n = 5000
	for i := range n {
		s.Emit(&event.Event{Service: "23tcp", SrcIP: "192.0.2.1", Action: event.Login, ConnID: int64(i)})
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if s.Written() != n || s.Dropped() != 0 {
		t.Errorf("Written %d Dropped %d, want %d and 0", s.Written(), s.Dropped(), n)
	}
	r, err := OpenReader(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if c, err := r.Count(context.Background(), Filter{}); c != n || err != nil {
		t.Errorf("Count = %d, %v; want %d", c, err, n)
	}
	if err := s.Flush(context.Background()); !errors.Is(err, ErrClosed) {
		t.Errorf("Flush after Close = %v, want ErrClosed", err)
	}
}

func TestFlushInterval(t *testing.T) {
	s, _ := openTest(t, Options{BatchSize: 1000, FlushInterval: 10 * time.Millisecond})
	s.Emit(&event.Event{Service: "23tcp", SrcIP: "192.0.2.1", Action: event.Connect})
	deadline := time.Now().Add(10 * time.Second)
	for s.Written() != 1 {
		if time.Now().After(deadline) {
			t.Fatal("a partial batch was not written after the flush interval")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// fileHas reports whether the database or its WAL contains b.
func fileHas(t *testing.T, path string, b []byte) bool {
	t.Helper()
	for _, p := range []string{path, path + "-wal"} {
		data, err := os.ReadFile(p)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			t.Fatal(err)
		}
		if bytes.Contains(data, b) {
			return true
		}
	}
	return false
}

func TestPurge(t *testing.T) {
	const secret = "hunter2-purge-me"
	ctx := context.Background()
	withCreds := func(i int) event.Event {
		return event.Event{Service: "23tcp", SrcIP: "192.0.2.1", Action: event.Login, ConnID: int64(i),
			Username: "root", Password: fmt.Sprintf("%s-%d", secret, i%10), Detail: "keep me"}
	}
	purgers := []struct {
		name           string
		creds, all     func(*Store, *Reader) error
		includesQueued bool
	}{
		{"store",
			func(s *Store, _ *Reader) error { return s.PurgeCredentials(ctx) },
			func(s *Store, _ *Reader) error { return s.PurgeAll(ctx) }, true},
		{"reader",
			func(_ *Store, r *Reader) error { return r.PurgeCredentials(ctx) },
			func(_ *Store, r *Reader) error { return r.PurgeAll(ctx) }, false},
	}
	for _, p := range purgers {
		t.Run(p.name, func(t *testing.T) {
			s, path := openTest(t, Options{FlushInterval: time.Hour, BatchSize: 1 << 20, QueueSize: 1 << 16})
			r, err := OpenReader(path)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			// More than one purge chunk of ids.
			for i := range purgeChunk + 500 {
				emitv(s, withCreds(i))
				if i%8192 == 0 {
					flush(t, s)
				}
			}
			if !p.includesQueued {
				flush(t, s)
			}
			// With the store's purge these last events are still queued.
			if err := p.creds(s, r); err != nil {
				t.Fatalf("PurgeCredentials: %v", err)
			}
			flush(t, s)
			evs := all(t, s, Filter{Limit: MaxLimit})
			if len(evs) != purgeChunk+500 {
				t.Fatalf("%d events after PurgeCredentials, want %d", len(evs), purgeChunk+500)
			}
			for _, e := range evs {
				if e.Username != "" || e.Password != "" || e.Detail != "keep me" {
					t.Fatalf("after PurgeCredentials: %+v", e)
				}
			}
			if fileHas(t, path, []byte(secret)) {
				t.Error("the password is still in the file after PurgeCredentials")
			}

			emitv(s, withCreds(0))
			flush(t, s)
			evs, _, err = s.Query(ctx, Filter{Limit: 1})
			if err != nil || len(evs) != 1 {
				t.Fatal(err)
			}
			lastID := evs[0].ID
			sizeBefore, _ := s.Size()
			if err := p.all(s, r); err != nil {
				t.Fatalf("PurgeAll: %v", err)
			}
			if n, err := s.Count(ctx, Filter{}); n != 0 || err != nil {
				t.Errorf("Count after PurgeAll = %d, %v", n, err)
			}
			if fileHas(t, path, []byte(secret)) {
				t.Error("the password is still in the file after PurgeAll")
			}
			if size, err := s.Size(); err != nil || size >= sizeBefore/2 {
				t.Errorf("Size after PurgeAll = %d, %v; before %d", size, err, sizeBefore)
			}
			// Ids are not reused after a purge.
			emitv(s, withCreds(1))
			flush(t, s)
			evs, _, err = s.Query(ctx, Filter{})
			if err != nil || len(evs) != 1 || evs[0].ID <= lastID {
				t.Errorf("after PurgeAll: %+v, %v; want one event with id > %d", evs, err, lastID)
			}
		})
	}
}

// TestPurgeAfterRetention checks that PurgeCredentials also clears the
// passwords of rows that retention deleted earlier, whose pages sit on the
// free list.
func TestPurgeAfterRetention(t *testing.T) {
	const secret = "s3cret-on-the-freelist"
	s, path := openTest(t, Options{MaxRows: 100, BatchSize: 500})
	for i := range 20000 {
		s.Emit(&event.Event{Service: "23tcp", SrcIP: fmt.Sprintf("192.0.2.%d", i%250), Action: event.Login,
			Username: "root", Password: secret, URL: strings.Repeat("u", i%2000)})
		if i%5000 == 0 {
			flush(t, s)
		}
	}
	flush(t, s)
	var free int64
	if err := rawDB(t, path).QueryRow("PRAGMA freelist_count").Scan(&free); err != nil || free == 0 {
		t.Fatalf("freelist_count = %d, %v; the test needs free pages", free, err)
	}
	if err := s.PurgeCredentials(context.Background()); err != nil {
		t.Fatal(err)
	}
	if fileHas(t, path, []byte(secret)) {
		t.Error("a password of a deleted row is still in the file after PurgeCredentials")
	}
	if n, err := s.Count(context.Background(), Filter{}); n != 100 || err != nil {
		t.Errorf("Count = %d, %v; want 100", n, err)
	}
}

func TestOpen(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "a", "b", "events.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatalf("Open in a new folder: %v", err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("file mode = %v, %v; want 0600", fi.Mode(), err)
	}
	var mode, sync string
	if err := s.reader.db.QueryRow("PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
		t.Errorf("journal_mode = %q, %v", mode, err)
	}
	err = s.do(context.Background(), func(ctx context.Context, c *sql.Conn) error {
		return c.QueryRowContext(ctx, "PRAGMA synchronous").Scan(&sync)
	})
	if err != nil || sync != "1" {
		t.Errorf("synchronous = %q, %v; want 1 (NORMAL)", sync, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// Reopening an existing store is fine and keeps the schema version.
	s, err = Open(path, Options{})
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// A store written by a newer program is refused, not damaged.
	if _, err := rawDB(t, path).Exec("PRAGMA user_version = 99"); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(path, Options{}); err == nil || !strings.Contains(err.Error(), "newer") {
		t.Errorf("Open of a newer schema: %v", err)
	}
	if _, err := OpenReader(path); err == nil {
		t.Error("OpenReader of a newer schema succeeded")
	}

	if _, err := OpenReader(filepath.Join(dir, "missing.db")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("OpenReader of a missing file: %v, want fs.ErrNotExist", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "missing.db")); !errors.Is(err, fs.ErrNotExist) {
		t.Error("OpenReader created the file")
	}
	for _, opt := range []Options{{QueueSize: -1}, {MaxRows: -1}, {MaxAge: -time.Second}, {BatchSize: -1}} {
		if _, err := Open(filepath.Join(dir, "x.db"), opt); err == nil {
			t.Errorf("Open(%+v) succeeded", opt)
		}
	}
	// Characters that mean something in a URI stay part of the name.
	odd := filepath.Join(dir, "we?ird#dir %20", "e.db")
	s, err = Open(odd, Options{})
	if err != nil {
		t.Fatalf("Open(%q): %v", odd, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(odd); err != nil {
		t.Errorf("store not at %q: %v", odd, err)
	}
}

func TestSize(t *testing.T) {
	s, path := openTest(t, Options{})
	for range 1000 {
		s.Emit(&event.Event{Service: "80tcp", SrcIP: "192.0.2.1", Action: event.Request, URL: strings.Repeat("u", 500)})
	}
	flush(t, s)
	size, err := s.Size()
	if err != nil {
		t.Fatal(err)
	}
	var want int64
	// Every file of the store: the purge reserve too.
	for _, p := range []string{path, path + "-wal", path + "-shm", reservePath(path)} {
		if fi, err := os.Stat(p); err == nil {
			want += fi.Size()
		}
	}
	if size != want || size < 500*1000+unboundedReserve {
		t.Errorf("Size = %d, want %d (at least the text)", size, want)
	}
}

func TestOnError(t *testing.T) {
	var mu sync.Mutex
	var errs []error
	s, path := openTest(t, Options{OnError: func(err error) {
		mu.Lock()
		defer mu.Unlock()
		errs = append(errs, err)
	}})
	// Make every write fail: a trigger that refuses inserts.
	if _, err := rawDB(t, path).Exec(`CREATE TRIGGER refuse BEFORE INSERT ON events
		BEGIN SELECT RAISE(ABORT, 'refused by test'); END`); err != nil {
		t.Fatal(err)
	}
	s.Emit(&event.Event{Service: "23tcp", SrcIP: "192.0.2.1", Action: event.Connect})
	flush(t, s)
	mu.Lock()
	defer mu.Unlock()
	if s.Dropped() != 1 || s.Written() != 0 || len(errs) != 1 || !strings.Contains(errs[0].Error(), "refused by test") {
		t.Errorf("Dropped %d Written %d errors %v; want the batch dropped and reported", s.Dropped(), s.Written(), errs)
	}
}

// A store written before events had a count (schema version 1) is
// migrated in place, and its rows each stand for one event.
func TestMigrateFromVersion1(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.db")
	db, err := openDB(path, url.Values{})
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{migrations[0], "PRAGMA user_version = 1",
		`INSERT INTO events (ts, service, port, src_ip, src_port, conn_id, action, url, duration_ms, bytes_in, bytes_out, reason)
		VALUES (1000, '80tcp', 80, '192.0.2.1', 1, 1, 'request', X'2F', 0, 0, 0, '')`} {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	db.Close()
	if _, err := OpenReader(path); err == nil {
		t.Error("OpenReader read a store of an older schema")
	}
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.Emit(&event.Event{Time: time.UnixMilli(2000), Service: "80tcp", SrcIP: "192.0.2.1", Action: event.Request, URL: "/", Count: 7})
	flush(t, s)
	got := all(t, s, Filter{})
	if len(got) != 2 || got[1].URL != "/" || got[1].Count != 1 || got[0].Count != 7 {
		t.Fatalf("after migration: %+v", got)
	}
	var v int
	if err := rawDB(t, path).QueryRow("PRAGMA user_version").Scan(&v); err != nil || v != len(migrations) {
		t.Errorf("user_version %d, %v; want %d", v, err, len(migrations))
	}
}

// emitv emits a copy of e.
func emitv(s *Store, e event.Event) { s.Emit(&e) }

// TestOpenReaderBeforeSetup: a store file the agent has created but not
// set up yet (user_version 0; the API may look in between on a first run)
// reads as no store yet, not as a store of a wrong version.
func TestOpenReaderBeforeSetup(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.db")
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := OpenReader(path)
	if err == nil {
		r.Close()
	}
	if !errors.Is(err, fs.ErrNotExist) || strings.Contains(fmt.Sprint(err), "schema version") {
		t.Errorf("OpenReader of a store not set up: %v, want fs.ErrNotExist", err)
	}
}

// Emit keeps a copy: the caller may reuse its event at once (the queue
// holds pointers). ReleaseMemory runs between batches and the writer goes
// on; on a closed store it says so.
func TestEmitCopiesAndReleaseMemory(t *testing.T) {
	s, _ := openTest(t, Options{})
	ctx := context.Background()
	e := event.Event{Time: time.Now(), Service: "23tcp", Port: 23, SrcIP: "192.0.2.7", Action: event.Login, Username: "first"}
	s.Emit(&e)
	e.Username = "changed after Emit"
	if err := s.ReleaseMemory(ctx); err != nil {
		t.Fatalf("ReleaseMemory: %v", err)
	}
	e.Username = "second"
	s.Emit(&e)
	flush(t, s)
	got, _, err := s.Query(ctx, Filter{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, g := range got {
		names = append(names, g.Username)
	}
	if len(names) != 2 || names[0] != "second" || names[1] != "first" {
		t.Fatalf("stored usernames %q, want [second first]", names)
	}
	s.Close()
	if err := s.ReleaseMemory(ctx); !errors.Is(err, ErrClosed) {
		t.Errorf("ReleaseMemory on a closed store: %v, want ErrClosed", err)
	}
}

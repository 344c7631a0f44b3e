package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/url"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/minipot/minipot/internal/event"
	"github.com/minipot/minipot/internal/settings"
)

// statsFixture is a store written through the real writer, its Reader and
// Stats, and a plain read-write connection that plays retention, purges
// and odd clocks.
type statsFixture struct {
	t     *testing.T
	st    *Store
	r     *Reader
	stats *Stats
	raw   *sql.DB
	rng   *rand.Rand
}

func newStatsFixture(t *testing.T) *statsFixture {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "events.db")
	st, err := Open(path, Options{FlushInterval: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	r, err := OpenReader(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	stats, err := OpenStats(r, dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stats.Close() })
	raw, err := openDB(path, url.Values{"mode": {"rw"}, "_pragma": {"busy_timeout(10000)"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { raw.Close() })
	return &statsFixture{t: t, st: st, r: r, stats: stats, raw: raw, rng: rand.New(rand.NewPCG(7, 9))}
}

// emit writes n random events with times spread over [from, to).
func (f *statsFixture) emit(n int, from, to time.Time) {
	f.t.Helper()
	users := []string{"root", "admin", "support", "", "we\x00ird"}
	pass := []string{"xc3511", "admin", "12345", "<script>"}
	links := []string{"/", "/HNAP1/", "api.ipify.org:80", "/.env"}
	span := to.Sub(from)
	for range n {
		svc := settings.Services()[f.rng.IntN(6)]
		e := event.Event{
			Time:    from.Add(time.Duration(f.rng.Int64N(int64(span)))),
			Service: svc.Key, Port: svc.Port,
			SrcIP:   fmt.Sprintf("192.0.2.%d", f.rng.IntN(40)),
			SrcPort: 40000, ConnID: f.rng.Int64N(1000),
			Action: []event.Action{event.Connect, event.Login, event.Request, event.Command, event.Disconnect}[f.rng.IntN(5)],
		}
		if e.Action == event.Login || e.Action == event.Request {
			if f.rng.IntN(3) > 0 {
				e.Username, e.Password = users[f.rng.IntN(len(users))], pass[f.rng.IntN(len(pass))]
			}
			e.URL = links[f.rng.IntN(len(links))]
		}
		if e.Action == event.Request {
			e.Count = 1 + f.rng.Int64N(4) // repeats of one request, stored once
		}
		f.st.Emit(&e)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := f.st.Flush(ctx); err != nil {
		f.t.Fatal(err)
	}
}

func (f *statsFixture) exec(q string, args ...any) {
	f.t.Helper()
	if _, err := f.raw.Exec(q, args...); err != nil {
		f.t.Fatalf("%s: %v", q, err)
	}
}

// want computes the summary of [since, until) (whole hours) from every
// stored event, independently of the summaries.
func (f *statsFixture) want(since, until time.Time, top int) Summary {
	f.t.Helper()
	rows, err := f.raw.Query("SELECT " + statColumns + " FROM events")
	if err != nil {
		f.t.Fatal(err)
	}
	defer rows.Close()
	h0 := since.Truncate(time.Hour)
	h1 := until.Truncate(time.Hour)
	if h1.Before(until) {
		h1 = h1.Add(time.Hour)
	}
	w := Summary{Since: h0.UTC(), Until: h1.UTC(), Services: map[string]map[event.Action]int64{}}
	hours := map[time.Time]map[string]map[event.Action]int64{}
	tops := map[statKind]map[string]int64{}
	pairs := map[Pair]int64{}
	var n int64 // the events the current row stands for
	inc := func(k statKind, v string) {
		if tops[k] == nil {
			tops[k] = map[string]int64{}
		}
		tops[k][v] += n
	}
	for rows.Next() {
		e, err := scanStatRow(rows)
		if err != nil {
			f.t.Fatal(err)
		}
		ts := time.UnixMilli(e.ts)
		if ts.Before(h0) || !ts.Before(h1) {
			continue
		}
		n = e.count
		w.Events += n
		addCount(w.Services, e.service, event.Action(e.action), n)
		h := ts.Truncate(time.Hour).UTC()
		if hours[h] == nil {
			hours[h] = map[string]map[event.Action]int64{}
		}
		addCount(hours[h], e.service, event.Action(e.action), n)
		switch event.Action(e.action) {
		case event.Connect:
			inc(kindSource, e.src)
		case event.Login, event.Request:
			if e.username != "" || e.password != "" {
				inc(kindUsername, e.username)
				inc(kindPassword, e.password)
				pairs[Pair{Username: e.username, Password: e.password}] += n
			}
			if svc, _ := settings.LookupService(e.service); e.link != "" && svc.Kind == settings.HTTP {
				inc(kindURL, e.link)
			} else if e.link != "" && svc.Kind == settings.Proxy {
				inc(kindTarget, e.link)
			}
		}
	}
	for h, c := range hours {
		if h1.Sub(h0) <= maxStatHours*time.Hour {
			w.Hours = append(w.Hours, Hour{Start: h, Counts: c})
		}
	}
	slices.SortFunc(w.Hours, func(a, b Hour) int { return a.Start.Compare(b.Start) })
	sorted := func(k statKind) []Count {
		var out []Count
		for v, n := range tops[k] {
			out = append(out, Count{v, n})
		}
		slices.SortFunc(out, byCount)
		return out[:min(top, len(out))]
	}
	w.Sources, w.Usernames, w.Passwords = sorted(kindSource), sorted(kindUsername), sorted(kindPassword)
	w.URLs, w.Targets = sorted(kindURL), sorted(kindTarget)
	for p, n := range pairs {
		p.N = n
		w.Pairs = append(w.Pairs, p)
	}
	slices.SortFunc(w.Pairs, func(a, b Pair) int {
		return byCount(Count{pairKey(a.Username, a.Password), a.N}, Count{pairKey(b.Username, b.Password), b.N})
	})
	w.Pairs = w.Pairs[:min(top, len(w.Pairs))]
	return w
}

func (f *statsFixture) check(what string, windows [][2]time.Time) {
	f.t.Helper()
	for _, win := range windows {
		got, err := f.stats.Summary(context.Background(), Window{Since: win[0], Until: win[1], Top: 5})
		if err != nil {
			f.t.Fatalf("%s: Summary: %v", what, err)
		}
		want := f.want(win[0], win[1], 5)
		if g, w := fmt.Sprintf("%+v", got), fmt.Sprintf("%+v", want); g != w {
			f.t.Errorf("%s, window %s..%s:\n got %s\nwant %s", what, win[0].Format(time.RFC3339), win[1].Format(time.RFC3339), g, w)
		}
	}
}

// TestStatsMatchTheEvents compares every part of Summary with a count over
// the events table, for windows inside, across and around the stored span,
// after new events, retention by rows and by age, purges, and events with
// a clock far in the past.
func TestStatsMatchTheEvents(t *testing.T) {
	f := newStatsFixture(t)
	base := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
	windows := func() [][2]time.Time {
		return [][2]time.Time{
			{base.Add(-24 * time.Hour), base.Add(30 * 24 * time.Hour)},          // everything
			{base.Add(90 * time.Minute), base.Add(5 * time.Hour)},               // hours inside one day
			{base.Add(20 * time.Hour), base.Add(75*time.Hour + 10*time.Minute)}, // edges and whole days
			{base.Add(47 * time.Hour), base.Add(30 * 24 * time.Hour)},           // most: by complement
			{base.Add(-48 * time.Hour), base.Add(-24 * time.Hour)},              // before any event
			{base.Add(24 * time.Hour), base.Add(24 * time.Hour)},                // empty
		}
	}
	f.emit(3000, base, base.Add(96*time.Hour))
	f.check("first build", windows())

	f.emit(500, base.Add(90*time.Hour), base.Add(100*time.Hour))
	f.check("new events", windows())

	// Retention by rows deletes the lowest ids, spread over every hour here.
	f.exec("DELETE FROM events WHERE id <= 400")
	f.check("retention by rows", windows())

	// Retention by age deletes by time, here in the middle of an hour.
	f.exec("DELETE FROM events WHERE ts < ?", base.Add(30*time.Hour+20*time.Minute).UnixMilli())
	f.check("retention by age", windows())

	// A router without a clock stamps events in 1970 after a reboot.
	f.emit(50, time.UnixMilli(0), time.UnixMilli(0).Add(2*time.Hour))
	f.check("events from 1970", append(windows(), [2]time.Time{time.UnixMilli(0), base.Add(200 * time.Hour)}))

	// A deletion neither at the oldest id nor time: the check finds it.
	f.exec("DELETE FROM events WHERE id IN (SELECT id FROM events WHERE ts > ? LIMIT 7)", base.Add(50*time.Hour).UnixMilli())
	if err := f.stats.Refresh(context.Background(), true); err != nil {
		t.Fatal(err)
	}
	f.check("after a count check", windows())

	if err := f.r.PurgeCredentials(context.Background()); err != nil {
		t.Fatal(err)
	}
	f.stats.Invalidate()
	f.check("credentials purged", windows())
	if got, _ := f.stats.Summary(context.Background(), Window{}); len(got.Usernames)+len(got.Passwords)+len(got.Pairs) != 0 {
		t.Errorf("credentials still counted after the purge: %+v %+v %+v", got.Usernames, got.Passwords, got.Pairs)
	}

	if err := f.r.PurgeAll(context.Background()); err != nil {
		t.Fatal(err)
	}
	got, err := f.stats.Summary(context.Background(), Window{})
	if err != nil || got.Events != 0 || len(got.Sources) != 0 {
		t.Errorf("after purging everything: %+v, %v", got, err)
	}
	f.emit(100, base, base.Add(3*time.Hour))
	f.check("new events after the purge", windows())
}

// TestStatsWindowRounding: windows widen to whole hours, and an open window
// covers the hours that have events.
func TestStatsWindowRounding(t *testing.T) {
	f := newStatsFixture(t)
	base := time.Date(2025, 6, 1, 10, 0, 0, 0, time.UTC)
	f.emit(100, base.Add(10*time.Minute), base.Add(3*time.Hour))
	got, err := f.stats.Summary(context.Background(), Window{Since: base.Add(30 * time.Minute), Until: base.Add(90 * time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	if !got.Since.Equal(base) || !got.Until.Equal(base.Add(2*time.Hour)) {
		t.Errorf("window %s..%s, want %s..%s", got.Since, got.Until, base, base.Add(2*time.Hour))
	}
	got, err = f.stats.Summary(context.Background(), Window{})
	if err != nil {
		t.Fatal(err)
	}
	// 100 rows; repeated requests count as what they stand for.
	want := f.want(base, base.Add(3*time.Hour), 1).Events
	if !got.Since.Equal(base) || !got.Until.Equal(base.Add(3*time.Hour)) || got.Events != want || want < 100 {
		t.Errorf("open window %s..%s with %d events, want %s..%s with %d (at least 100)", got.Since, got.Until, got.Events, base, base.Add(3*time.Hour), want)
	}
}

// TestStatsGivesUpWhenBusy: a caller whose context ends while another
// refresh holds the summaries gets an error, not a wait without end.
func TestStatsGivesUpWhenBusy(t *testing.T) {
	f := newStatsFixture(t)
	f.stats.lock <- struct{}{}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := f.stats.Summary(ctx, Window{}); err == nil {
		t.Error("Summary succeeded while the summaries were locked")
	}
	f.stats.release()
}

// BenchmarkStats measures Summary on a store of a million realistic events
// spread over 30 days (the default retention), for windows from a day to
// everything, after the summaries were built; and the first build itself.
//
//	go test ./internal/store -run '^$' -bench Stats -benchtime 20x
func BenchmarkStats(b *testing.B) {
	const rows = 1000000
	dir := b.TempDir()
	path := filepath.Join(dir, "events.db")
	st, err := Open(path, Options{})
	if err != nil {
		b.Fatal(err)
	}
	gen := newTraffic(1, 20000)
	now := time.Now()
	start := now.Add(-30 * 24 * time.Hour)
	step := 30 * 24 * time.Hour / rows
	for i := range rows {
		for len(st.queue) > cap(st.queue)*3/4 {
			time.Sleep(100 * time.Microsecond)
		}
		e := gen.next()
		e.Time = start.Add(time.Duration(i) * step)
		st.Emit(&e)
	}
	if err := st.Flush(context.Background()); err != nil {
		b.Fatal(err)
	}
	r, err := OpenReader(path)
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()

	b.Run("build", func(b *testing.B) {
		for b.Loop() {
			stats, err := OpenStats(r, dir, 0)
			if err != nil {
				b.Fatal(err)
			}
			if err := stats.Refresh(context.Background(), false); err != nil {
				b.Fatal(err)
			}
			stats.Close()
		}
	})

	stats, err := OpenStats(r, dir, 0)
	if err != nil {
		b.Fatal(err)
	}
	defer stats.Close()
	if err := stats.Refresh(context.Background(), false); err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct {
		name string
		w    Window
	}{
		{"last-24h", Window{Since: now.Add(-24 * time.Hour)}},
		{"last-7d", Window{Since: now.Add(-7 * 24 * time.Hour)}},
		{"middle-15d", Window{Since: now.Add(-22 * 24 * time.Hour), Until: now.Add(-7 * 24 * time.Hour)}},
		{"last-20d", Window{Since: now.Add(-20 * 24 * time.Hour)}},
		{"everything", Window{}},
	} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				if _, err := stats.Summary(context.Background(), c.w); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	// What a request pays when events arrived since the last one: the
	// agent writes a thousand events, then Summary counts them in.
	b.Run("after-1000-new-events", func(b *testing.B) {
		for b.Loop() {
			b.StopTimer()
			for range 1000 {
				emitv(st, gen.next())
			}
			if err := st.Flush(context.Background()); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
			if _, err := stats.Summary(context.Background(), Window{Since: now.Add(-24 * time.Hour)}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("count-check", func(b *testing.B) {
		for b.Loop() {
			if err := stats.Refresh(context.Background(), true); err != nil {
				b.Fatal(err)
			}
		}
	})
	st.Close()
}

// TestStatsLongWindows: windows that span whole weeks, read from the
// weekly, daily and hourly summaries, directly and by complement.
func TestStatsLongWindows(t *testing.T) {
	f := newStatsFixture(t)
	base := time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)
	f.emit(4000, base, base.Add(40*24*time.Hour))
	day := 24 * time.Hour
	f.check("long windows", [][2]time.Time{
		{base.Add(10 * day), base.Add(19*day + 12*time.Hour)},                             // inside: a week, days, hours
		{base.Add(3*day + 5*time.Hour), base.Add(24*day + 7*time.Hour)},                   // by complement
		{base.Add(-day), base.Add(33*day + 3*time.Hour)},                                  // most, by complement
		{base.Add(8*day + 23*time.Hour), base.Add(30*day + time.Hour + time.Millisecond)}, // odd edges
	})
}

// A context that ends mid-statement gives an error that wraps its own,
// whichever driver interrupted the statement: the API tells a deadline
// (503, retry) from a fault by it.
func TestWithCtxErr(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	other := errors.New("sqlite3: interrupted")
	if got := withCtxErr(ctx, other); got != other {
		t.Errorf("live context: %v", got)
	}
	cancel()
	if got := withCtxErr(ctx, other); !errors.Is(got, context.Canceled) || !errors.Is(got, other) {
		t.Errorf("ended context: %v wraps neither", got)
	}
	if got := withCtxErr(ctx, nil); got != nil {
		t.Errorf("nil error became %v", got)
	}
}

// Statistics whose summaries outgrow their share (every request a URL of
// its own) answer for the newest events that fit, marked as partial,
// rather than fail; with room for everything they count everything.
func TestStatsPastTheirShare(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "events.db")
	st, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	const total = 6000
	t0 := time.Now().Add(-48 * time.Hour).Truncate(time.Hour)
	for i := range total {
		st.Emit(&event.Event{Time: t0.Add(time.Duration(i) * (48 * time.Hour / total)), Service: "80tcp", Port: 80,
			SrcIP: fmt.Sprintf("198.51.%d.%d", i/250%250, i%250), ConnID: int64(i), Action: event.Request, Method: "GET",
			URL: fmt.Sprintf("/flood/%d/%0100d", i, i)})
	}
	if err := st.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	r, err := OpenReader(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for _, c := range []struct {
		name     string
		maxBytes int64
		partial  bool
	}{
		{"room for all", 0, false},
		{"a small share", 1 << 20, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			stats, err := OpenStats(r, t.TempDir(), c.maxBytes)
			if err != nil {
				t.Fatal(err)
			}
			defer stats.Close()
			sum, err := stats.Summary(context.Background(), Window{})
			if err != nil {
				t.Fatalf("summary: %v", err)
			}
			if sum.Partial != c.partial {
				t.Fatalf("partial %v, want %v (%d events counted)", sum.Partial, c.partial, sum.Events)
			}
			if !c.partial {
				if sum.Events != total {
					t.Fatalf("%d events counted, want %d", sum.Events, total)
				}
				return
			}
			if sum.Events < total/16 || sum.Events >= total {
				t.Fatalf("%d of %d events counted: not the newest part that fits", sum.Events, total)
			}
			// The newest are counted, and the oldest left out.
			newest := t0.Add(time.Duration(total-1) * (48 * time.Hour / total))
			if !sum.CountedSince.After(t0) || sum.CountedSince.After(newest) {
				t.Errorf("counted since %v: not within the events' %v to %v", sum.CountedSince, t0, newest)
			}
			for _, u := range sum.URLs {
				var n int
				if _, err := fmt.Sscanf(u.Value, "/flood/%d/", &n); err != nil || n < total-int(sum.Events)-total/10 {
					t.Errorf("URL %q counted: older than the counted part", u.Value)
				}
			}
			// A second answer comes from the same summaries.
			again, err := stats.Summary(context.Background(), Window{})
			if err != nil || again.Events != sum.Events || !again.Partial {
				t.Errorf("second summary: %d events, partial %v, %v", again.Events, again.Partial, err)
			}
			t.Logf("%d of %d events counted, since %v", sum.Events, total, sum.CountedSince)
		})
	}
}

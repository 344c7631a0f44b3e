package tests

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/minipot/minipot/internal/event"
	"github.com/minipot/minipot/internal/export"
	"github.com/minipot/minipot/internal/store"
)

// countingProxy forwards loopback TCP to target and counts the bytes
// clients send: the exporter's bytes on the wire, TLS included.
type countingProxy struct {
	ln   net.Listener
	sent atomic.Int64
}

func startCountingProxy(tb testing.TB, target string) *countingProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	p := &countingProxy{ln: ln}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				s, err := net.Dial("tcp", target)
				if err != nil {
					return
				}
				defer s.Close()
				go func() { io.Copy(c, s); c.Close() }()
				io.Copy(countWriter{s, &p.sent}, c)
			}()
		}
	}()
	tb.Cleanup(func() { ln.Close() })
	return p
}

// countWriter counts as it writes, so the count is current while the
// connection is still open.
type countWriter struct {
	w io.Writer
	n *atomic.Int64
}

func (c countWriter) Write(b []byte) (int, error) {
	n, err := c.w.Write(b)
	c.n.Add(int64(n))
	return n, err
}

// countBuffer counts the lines written to it.
type countBuffer struct{ lines atomic.Int64 }

func (c *countBuffer) Write(b []byte) (int, error) {
	c.lines.Add(int64(bytes.Count(b, []byte{'\n'})))
	return len(b), nil
}

// rssKiB reads a process's anonymous and file-backed resident memory.
func rssKiB(pid int) (anon, file int64) {
	data, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	for _, line := range strings.Split(string(data), "\n") {
		var v int64
		if _, err := fmt.Sscanf(line, "RssAnon: %d kB", &v); err == nil {
			anon = v
		}
		if _, err := fmt.Sscanf(line, "RssFile: %d kB", &v); err == nil {
			file = v
		}
	}
	return anon, file
}

func (p *countingProxy) Port() int { return p.ln.Addr().(*net.TCPAddr).Port }

// BenchmarkExportDrain measures `minipot export` draining a backlog of
// 100k stored events to a local mosquitto over TLS (QoS 1, batches of
// 1000, no rate cap): events per second, bytes on the wire per event (TLS
// included), the exporter's CPU per event and peak RSS. The yardstick in
// the same run is mosquitto_pub -l publishing the same 100k JSON records
// with QoS 1 over TLS to the same broker, counted where they arrive (a
// subscriber): it exits at the end of its input with messages unsent, so
// its rate is the messages delivered over the time it ran.
//
//	go test ./tests -run '^$' -bench ExportDrain -benchtime 1x
func BenchmarkExportDrain(b *testing.B) {
	const n = 100000
	for range b.N {
		br := startBroker(b, map[string]string{"r0": "p0"})
		proxy := startCountingProxy(b, fmt.Sprintf("127.0.0.1:%d", br.Port))
		// Not b.TempDir: its parent is 0700, and the exporter runs as nobody.
		dir, err := os.MkdirTemp("", "minipot-bench-export-")
		if err != nil {
			b.Fatal(err)
		}
		os.Chmod(dir, 0o755)
		b.Cleanup(func() { os.RemoveAll(dir) })
		os.Chmod(br.Dir, 0o755)
		conf := fmt.Sprintf(`
config store 'store'
	option path '%[1]s/events.db'
	option max_rows '0'

config export 'export'
	option enabled '1'
	option broker 'mqtts://127.0.0.1:%[2]d'
	option sensor_id 'bench'
	option ca_file '%[1]s/ca.pem'
	option auth_file '%[1]s/auth'
	option batch_size '1000'
	option rate '1048576'
	option interval '100ms'
`, dir, proxy.Port(), br.Dir)
		os.WriteFile(filepath.Join(dir, "ucollect"), []byte(conf), 0o644)
		os.WriteFile(filepath.Join(dir, "auth"), []byte("r0\np0\n"), 0o600)
		if ca, err := os.ReadFile(filepath.Join(br.Dir, "ca.pem")); err != nil || os.WriteFile(filepath.Join(dir, "ca.pem"), ca, 0o644) != nil {
			b.Fatal("copy ca.pem", err)
		}
		writeBenchBacklog(b, filepath.Join(dir, "events.db"), n)
		if os.Geteuid() == 0 {
			filepath.Walk(dir, func(p string, _ os.FileInfo, err error) error { return os.Lchown(p, nobody, nobody) })
		}

		// The exporter.
		cmd := exec.Command(minipotBin, "export", "-c", dir, "--run-dir", filepath.Join(dir, "run"))
		var stderr syncBuffer
		cmd.Stderr = &stderr
		if os.Geteuid() == 0 {
			os.MkdirAll(filepath.Join(dir, "run"), 0o755)
			os.Lchown(filepath.Join(dir, "run"), nobody, nobody)
			cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
		}
		start := time.Now()
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		exited := make(chan struct{})
		go func() { cmd.Wait(); close(exited) }()
		var drain time.Duration
		var maxAnon, maxFile int64
		for {
			if a, f := rssKiB(cmd.Process.Pid); a > 0 {
				maxAnon, maxFile = max(maxAnon, a), max(maxFile, f)
			}
			select {
			case <-exited:
				b.Fatalf("the exporter exited: %s", stderr.String())
			default:
			}
			st, err := export.ReadStatus(filepath.Join(dir, "run"))
			if err == nil && st.MQTT.Cursor >= n {
				drain = time.Since(start)
				break
			}
			if time.Since(start) > 3*time.Minute || (err == nil && st.MQTT.Sent == 0 && time.Since(start) > 20*time.Second) {
				cmd.Process.Kill()
				b.Fatalf("not drained: %+v %v\n%s", st.MQTT, err, stderr.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
		// The status file is rewritten every 2 s: the cursor file says
		// when the last batch was acknowledged.
		if fi, err := os.Stat(filepath.Join(dir, export.MQTTCursorFile)); err == nil && fi.ModTime().After(start) {
			drain = fi.ModTime().Sub(start)
		}
		wire := proxy.sent.Load()
		cmd.Process.Signal(syscall.SIGTERM)
		<-exited
		ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
		cpu := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())

		// Peak RSS is sampled from /proc while draining: the rusage of a
		// child counts the test process it was forked from.
		_ = ru.Maxrss

		// The yardstick: mosquitto_pub -l, the same records, same broker.
		pub := need(b, "mosquitto_pub")
		var lines bytes.Buffer
		for i := range n {
			e := benchEvent(i)
			e.ID = int64(i + 1)
			rec, _ := json.Marshal(export.NewRecord("bench", &e, false))
			lines.Write(rec)
			lines.WriteByte('\n')
		}
		// Counted where it arrives: mosquitto_pub -l may leave at the end
		// of its input before every message is out.
		sub := exec.Command(need(b, "mosquitto_sub"), "-h", "127.0.0.1", "-p", fmt.Sprint(br.Port), "--cafile", filepath.Join(br.Dir, "ca.pem"),
			"-u", "r0", "-P", "p0", "-q", "1", "-t", "minipot/v1/yardstick/events", "-C", fmt.Sprint(n), "-W", "5")
		var subOut countBuffer
		sub.Stdout = &subOut
		if err := sub.Start(); err != nil {
			b.Fatal(err)
		}
		time.Sleep(500 * time.Millisecond) // subscribed
		before := proxy.sent.Load()
		yard := exec.Command(pub, "-h", "127.0.0.1", "-p", fmt.Sprint(proxy.Port()), "--cafile", filepath.Join(br.Dir, "ca.pem"),
			"-u", "r0", "-P", "p0", "-q", "1", "-t", "minipot/v1/yardstick/events", "-l")
		yard.Stdin = &lines
		ystart := time.Now()
		if out, err := yard.CombinedOutput(); err != nil {
			b.Fatalf("mosquitto_pub: %v\n%s", err, out)
		}
		// mosquitto_pub -l leaves at the end of its input with messages
		// still unsent: its rate is what the broker delivered while it ran.
		ydur := time.Since(ystart)
		ywire := proxy.sent.Load() - before
		sub.Wait()
		yn := subOut.lines.Load()
		if yn < n {
			b.Logf("the yardstick delivered %d of %d messages", yn, n)
		}

		b.ReportMetric(float64(n)/drain.Seconds(), "events/s")
		b.ReportMetric(float64(yn)/ydur.Seconds(), "yardstick-events/s")
		b.ReportMetric((float64(n)/drain.Seconds())/(float64(yn)/ydur.Seconds()), "ratio-to-yardstick")
		b.ReportMetric(drain.Seconds(), "drain-100k-s")
		b.ReportMetric(float64(wire)/n, "wire-B/event")
		b.ReportMetric(float64(ywire)/float64(max(yn, 1)), "yardstick-wire-B/event")
		b.ReportMetric(float64(cpu.Microseconds())/n, "cpu-µs/event")
		b.ReportMetric(float64(maxAnon)/1024, "rss-anon-MiB")
		b.ReportMetric(float64(maxFile)/1024, "rss-file-MiB")
	}
}

// benchEvent is a typical event: a telnet login, or an HTTP request with a
// URL and a User-Agent.
func benchEvent(i int) event.Event {
	e := event.Event{Time: time.UnixMilli(1700000000000 + int64(i)).UTC(), SrcIP: fmt.Sprintf("203.0.113.%d", i%250+1),
		SrcPort: 30000 + i%30000, ConnID: int64(i)}
	if i%2 == 0 {
		e.Service, e.Port, e.Action = "23tcp", 23, event.Login
		e.Username, e.Password = "root", "xc3511"
	} else {
		e.Service, e.Port, e.Action = "80tcp", 80, event.Request
		e.Method, e.URL, e.Host = "GET", "/cgi-bin/luci/;stok=/locale?form=country", "198.51.100.7"
		e.UserAgent = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36"
	}
	return e
}

func writeBenchBacklog(tb testing.TB, db string, n int) {
	tb.Helper()
	st, err := openBenchStore(db)
	if err != nil {
		tb.Fatal(err)
	}
	for i := range n {
		e := benchEvent(i)
		st.Emit(&e)
		if i%8192 == 8191 {
			st.Flush(context.Background())
		}
	}
	if err := st.Close(); err != nil {
		tb.Fatal(err)
	}
	if st.Dropped() != 0 {
		tb.Fatalf("%d events dropped", st.Dropped())
	}
}

func openBenchStore(db string) (*store.Store, error) {
	return store.Open(db, store.Options{QueueSize: 1 << 17, QueueBytes: 256 << 20})
}

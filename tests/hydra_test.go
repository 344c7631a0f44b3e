package tests

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestHydra: hydra finds no valid password on any fake, and every attempt
// it made is in the store.
//
// hydra's telnet module claims attempts it never sends: it counts the
// server's close after the last attempt of a connection as the answer to
// one it never typed (against real BusyBox as much as against the fake).
// So for telnet, the attempts are read from the bytes hydra put on the
// wire, through a recording relay.
func TestHydra(t *testing.T) {
	hydra := need(t, "hydra")
	a := startAgent(t, nil)
	passwords := []string{"admin", "1234", "password", "xc3511", "vizxv", "888888"}
	list := filepath.Join(t.TempDir(), "pw.txt")
	os.WriteFile(list, []byte(strings.Join(passwords, "\n")+"\n"), 0o644)

	stored := func(t *testing.T, key string, want []string) {
		t.Helper()
		eventually(t, 10*time.Second, key+": hydra's attempts in the store", func() (bool, string) {
			seen := map[string]bool{}
			for _, e := range readEvents(t, a.DB) {
				if e.Service == key && e.Action == "login" && e.Username != "" {
					seen[e.Username+"/"+e.Password] = true
				}
			}
			var missing []string
			for _, w := range want {
				if !seen[w] {
					missing = append(missing, w)
				}
			}
			return len(missing) == 0, "missing " + strings.Join(missing, " ")
		})
	}
	hydraRun := func(t *testing.T, addr string, module ...string) {
		t.Helper()
		host, port, _ := net.SplitHostPort(addr)
		args := append([]string{"-l", "admin", "-P", list, "-t", "2", "-I", "-s", port, host}, module...)
		out, err := run(t, 2*time.Minute, hydra, args...)
		if !strings.Contains(out, "0 valid password") {
			t.Fatalf("hydra %v: %v\n%s", args, err, out)
		}
	}

	t.Run("telnet", func(t *testing.T) {
		relay := newRecordingRelay(t, a.Addr("23tcp"))
		hydraRun(t, relay.addr(), "telnet")
		pairs := relay.close()
		if len(pairs) < 2 {
			t.Fatalf("hydra put only %d attempts on the wire: %q", len(pairs), pairs)
		}
		stored(t, "23tcp", pairs)
	})
	for _, c := range []struct {
		key    string
		module []string
	}{
		{"80tcp", []string{"http-get", "/"}},
		{"3128tcp", []string{"http-proxy"}},
		{"8080tcp", []string{"http-proxy"}},
		{"21tcp", []string{"ftp"}},
		{"22tcp", []string{"ssh"}},
		{"25tcp", []string{"smtp"}},           // AUTH LOGIN
		{"587tcp", []string{"smtp", "PLAIN"}}, // AUTH PLAIN
	} {
		t.Run(c.key, func(t *testing.T) {
			hydraRun(t, a.Addr(c.key), c.module...)
			want := make([]string, len(passwords))
			for i, p := range passwords {
				want[i] = "admin/" + p
			}
			stored(t, c.key, want)
		})
	}
}

// TestHydraTelnetRepeated runs hydra's telnet module, users × passwords,
// many times against one agent: every run must end with 0 valid passwords,
// and the store must hold exactly the attempts hydra put on the wire, no
// more, no fewer, none altered. (A second attempt on a connection was once
// stored as oot/oot: the fake answered hydra's WILL LINEMODE with DONT, which
// BusyBox never does, and hydra's character mode then typed CR NUL for the
// first letter of the login; so every stored user must be one hydra was
// given.) Runs go ten at a time, each through a relay of its
// own whose connections come from a source address of their own, so each
// run's rows are told apart by address.
func TestHydraTelnetRepeated(t *testing.T) {
	hydra := need(t, "hydra")
	const runs, parallel = 20, 10
	a := startAgent(t, map[string]string{"agent.login_delay": "50ms", "limits.max_per_ip": "64"})
	dir := t.TempDir()
	users, pws := filepath.Join(dir, "users.txt"), filepath.Join(dir, "pw.txt")
	os.WriteFile(users, []byte("root\nadmin\nsupport\n"), 0o644)
	os.WriteFile(pws, []byte("admin\n1234\nxc3511\nvizxv\n"), 0o644)
	type result struct {
		src   string
		out   string
		err   error
		pairs []string
	}
	results := make([]result, runs)
	sem := make(chan struct{}, parallel)
	var wg sync.WaitGroup
	for i := range runs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			src := fmt.Sprintf("127.0.%d.%d", 100+i/200, 1+i%200)
			relay := newRecordingRelayFrom(t, a.Addr("23tcp"), src)
			host, port, _ := net.SplitHostPort(relay.addr())
			out, err := run(t, 2*time.Minute, hydra, "-L", users, "-P", pws, "-t", "2", "-I", "-s", port, host, "telnet")
			results[i] = result{src: src, out: out, err: err, pairs: relay.close()}
		}()
	}
	wg.Wait()
	for i, r := range results {
		if !strings.Contains(r.out, "0 valid password") {
			t.Errorf("run %d: hydra did not complete with 0 valid passwords: %v\n%s", i, r.err, r.out)
		}
	}
	eventually(t, 10*time.Second, "every run's attempts stored exactly", func() (bool, string) {
		stored := map[string][]string{}
		for _, e := range readEvents(t, a.DB) {
			if e.Service == "23tcp" && e.Action == "login" {
				stored[e.SrcIP] = append(stored[e.SrcIP], e.Username+"/"+e.Password)
			}
		}
		var bad []string
		for i, r := range results {
			want, got := slices.Clone(r.pairs), slices.Clone(stored[r.src])
			slices.Sort(want)
			slices.Sort(got)
			garbled := slices.ContainsFunc(want, func(p string) bool {
				u, _, _ := strings.Cut(p, "/")
				return u != "root" && u != "admin" && u != "support"
			})
			// 2 tasks, 3 attempts per connection before the server closes.
			if len(want) < 6 || garbled || !slices.Equal(want, got) {
				bad = append(bad, fmt.Sprintf("run %d: hydra sent %q, stored %q", i, want, got))
			}
		}
		return len(bad) == 0, strings.Join(bad, "\n")
	})
}

// recordingRelay forwards connections to the agent and keeps what each
// client sent.
type recordingRelay struct {
	src  string // source address of the connections to the agent, "" any
	ln   net.Listener
	wg   sync.WaitGroup
	mu   sync.Mutex
	sent []*bytes.Buffer
}

func newRecordingRelay(t *testing.T, target string) *recordingRelay {
	return newRecordingRelayFrom(t, target, "")
}

// newRecordingRelayFrom relays to target from the source address src.
func newRecordingRelayFrom(t *testing.T, target, src string) *recordingRelay {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &recordingRelay{ln: ln, src: src}
	var d net.Dialer
	if src != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(src)}
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := d.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			buf := &bytes.Buffer{}
			r.mu.Lock()
			r.sent = append(r.sent, buf)
			r.mu.Unlock()
			r.wg.Add(2)
			go func() { defer r.wg.Done(); io.Copy(c, up); c.Close() }()
			go func() {
				defer r.wg.Done()
				io.Copy(io.MultiWriter(up, &lockedWriter{&r.mu, buf}), c)
				up.Close()
			}()
		}
	}()
	return r
}

func (r *recordingRelay) addr() string { return r.ln.Addr().String() }

// close stops the relay and returns the user/password pairs the clients
// typed, read the way a telnet server reads them.
func (r *recordingRelay) close() []string {
	r.ln.Close()
	r.wg.Wait()
	var pairs []string
	for _, b := range r.sent {
		lines := telnetLines(b.Bytes())
		var user string
		waitingUser := true
		for _, l := range lines {
			switch {
			case waitingUser && l == "":
				// an empty login name: the server prompts again
			case waitingUser:
				user, waitingUser = l, false
			default:
				pairs = append(pairs, user+"/"+l)
				waitingUser = true
			}
		}
	}
	return pairs
}

// telnetLines strips telnet commands and splits at CR NUL, CR LF or LF.
func telnetLines(b []byte) []string {
	var lines []string
	var cur []byte
	for i := 0; i < len(b); i++ {
		c := b[i]
		switch {
		case c == 255 && i+1 < len(b) && b[i+1] == 255:
			cur = append(cur, 255)
			i++
		case c == 255 && i+1 < len(b) && b[i+1] >= 251 && b[i+1] <= 254:
			i += 2
		case c == 255 && i+1 < len(b) && b[i+1] == 250:
			for i < len(b) && !(b[i] == 255 && i+1 < len(b) && b[i+1] == 240) {
				i++
			}
			i++
		case c == 255:
			i++
		case c == '\r':
			lines = append(lines, string(cur))
			cur = cur[:0]
			if i+1 < len(b) && (b[i+1] == 0 || b[i+1] == '\n') {
				i++
			}
		case c == '\n':
			lines = append(lines, string(cur))
			cur = cur[:0]
		default:
			cur = append(cur, c)
		}
	}
	return lines
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

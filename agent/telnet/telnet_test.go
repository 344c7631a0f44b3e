package telnet

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/minipot/minipot/agent/session"
	"github.com/minipot/minipot/agent/telnet/bot"
	"github.com/minipot/minipot/internal/event"
	"github.com/minipot/minipot/internal/event/eventtest"
)

const (
	refGreeting = "testdata/busybox-telnetd-greeting.hex"
	refFailure  = "testdata/busybox-telnetd-login-failure.hex"
	sharedRef   = "../../../shared/reference/"
)

// Mirai's answers to the greeting: WONT ECHO to DO ECHO, WILL NAWS and an
// 80x24 window to DO NAWS, DO to each WILL.
const miraiAnswers = "\xff\xfc\x01" + "\xff\xfb\x1f\xff\xfa\x1f\x00\x50\x00\x18\xff\xf0" + "\xff\xfd\x01" + "\xff\xfd\x03"

// The copies in testdata are those of shared/reference, where it is at hand.
func TestReferenceCopies(t *testing.T) {
	for _, name := range []string{refGreeting, refFailure} {
		shared, err := os.ReadFile(sharedRef + strings.TrimPrefix(name, "testdata/"))
		if err != nil {
			t.Skipf("shared reference not at hand: %v", err)
		}
		local, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(shared, local) {
			t.Errorf("%s differs from the shared reference", name)
		}
	}
}

func TestGreeting(t *testing.T) {
	want := loadHex(t, refGreeting)
	srv := startServer(t, testConfig())
	c := dial(t, srv.addr)
	got := readN(t, c, len(want))
	if !bytes.Equal(got, want) {
		t.Fatalf("greeting\n got %q\nwant %q", got, want)
	}
	// Nothing follows until the client says something.
	c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	if n, err := c.Read(make([]byte, 1)); n != 0 || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("more after the greeting: %d bytes, %v", n, err)
	}
}

// The greeting is one write, so it leaves in one segment as BusyBox's does.
func TestGreetingOneWrite(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	s := session.New(b, Service23, 23, 1, testConfig(), eventtest.New())
	go (&Handler{}).Serve(context.Background(), s)
	a.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 256)
	n, err := a.Read(buf) // net.Pipe hands over one write per read at most
	if err != nil {
		t.Fatal(err)
	}
	if want := loadHex(t, refGreeting); !bytes.Equal(buf[:n], want) {
		t.Fatalf("first write %q, want %q", buf[:n], want)
	}
}

// A Mirai-style client's failed login draws exactly the bytes real BusyBox
// sent, and Login incorrect comes after the login delay.
func TestTranscript(t *testing.T) {
	want := loadHex(t, refFailure)
	cfg := testConfig()
	cfg.Limits.LoginDelay = 200 * time.Millisecond
	srv := startServer(t, cfg)
	c := dial(t, srv.addr)

	got := readN(t, c, len(loadHex(t, refGreeting)))
	write(t, c, miraiAnswers)
	write(t, c, "admin\r\n")
	got = append(got, readUntil(t, c, "Password: ")...)
	write(t, c, "admin\r\n")
	sent := time.Now()
	got = append(got, readUntil(t, c, "\r\n")...)
	got = append(got, readUntil(t, c, "login: ")...)
	if d := time.Since(sent); d < cfg.Limits.LoginDelay {
		t.Errorf("Login incorrect after %v, want at least %v", d, cfg.Limits.LoginDelay)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("transcript\n got %q\nwant %q", got, want)
	}
	logins := srv.sink.Of(event.Login)
	if len(logins) != 1 || logins[0].Username != "admin" || logins[0].Password != "admin" {
		t.Fatalf("login events %+v", logins)
	}
}

// recorder keeps every byte read through it.
type recorder struct {
	net.Conn
	got []byte
}

func (r *recorder) Read(p []byte) (int, error) {
	n, err := r.Conn.Read(p)
	r.got = append(r.got, p[:n]...)
	return n, err
}

// The bot, answering negotiation its own way, draws the same transcript.
func TestBotTranscript(t *testing.T) {
	want := loadHex(t, refFailure)
	srv := startServer(t, testConfig())
	rec := &recorder{Conn: dial(t, srv.addr)}
	var b bot.Client
	b.Timeout = 5 * time.Second
	b.Attach(rec)
	r, err := b.Login(context.Background(), "admin", "admin")
	if err != nil {
		t.Fatal(err)
	}
	if r.Outcome != bot.Rejected {
		t.Fatalf("outcome %v", r.Outcome)
	}
	if rest := len(want) - len(rec.got); rest > 0 {
		rec.got = append(rec.got, readN(t, rec.Conn, rest)...)
	}
	if !bytes.Equal(rec.got, want) {
		t.Fatalf("transcript\n got %q\nwant %q", rec.got, want)
	}
}

func TestBotLogin(t *testing.T) {
	for _, tc := range []struct {
		name        string
		credentials bool
		user, pass  string
	}{
		{"credentials", true, "root", "xc3511"},
		{"no credentials", false, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig()
			cfg.Credentials = tc.credentials
			srv := startServer(t, cfg)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			r, err := bot.Attempt(ctx, srv.addr, "root", "xc3511")
			if err != nil {
				t.Fatal(err)
			}
			if r.Outcome != bot.Rejected {
				t.Fatalf("outcome %v, want rejected", r.Outcome)
			}
			if err := srv.result(t); !errors.Is(err, io.EOF) {
				t.Fatalf("Serve returned %v, want EOF", err)
			}
			logins := srv.sink.Of(event.Login)
			if len(logins) != 1 {
				t.Fatalf("%d login events: %+v", len(logins), logins)
			}
			e := logins[0]
			if e.Username != tc.user || e.Password != tc.pass {
				t.Errorf("login event has %q/%q, want %q/%q", e.Username, e.Password, tc.user, tc.pass)
			}
			if e.Service != Service23 || e.Port != 23 || e.SrcIP != "127.0.0.1" || e.ConnID == 0 {
				t.Errorf("connection fields not filled: %+v", e)
			}
			if n := len(srv.sink.All()); n != 1 {
				t.Errorf("%d events, want only the login: %+v", n, srv.sink.All())
			}
		})
	}
}

// After the last attempt the server says Login incorrect and closes, as
// BusyBox login exits.
func TestAttempts(t *testing.T) {
	for _, attempts := range []int{1, 3, 5} {
		cfg := testConfig()
		cfg.Limits.Attempts = attempts
		srv := startServer(t, cfg)
		rec := &recorder{Conn: dial(t, srv.addr)}
		var b bot.Client
		b.Timeout = 5 * time.Second
		b.Attach(rec)
		ctx := context.Background()
		for i := range attempts {
			r, err := b.Login(ctx, "admin", "admin")
			if err != nil || r.Outcome != bot.Rejected {
				t.Fatalf("attempt %d of %d: %v, %v", i+1, attempts, r.Outcome, err)
			}
		}
		if _, err := b.Login(ctx, "admin", "admin"); !errors.Is(err, io.EOF) {
			t.Fatalf("attempt after the last: %v, want EOF", err)
		}
		if err := srv.result(t); err != nil {
			t.Fatalf("Serve returned %v, want nil", err)
		}
		if !bytes.HasSuffix(rec.got, []byte("admin\r\nPassword: \r\nLogin incorrect\r\n")) {
			t.Fatalf("transcript ends %q", rec.got[max(0, len(rec.got)-60):])
		}
		if n := len(srv.sink.Of(event.Login)); n != attempts {
			t.Fatalf("%d login events, want %d", n, attempts)
		}
	}
}

// Mirai types its shell commands at the prompts that follow a failed login:
// they are recorded as commands, not as credentials, and count as attempts.
func TestMiraiCommands(t *testing.T) {
	for _, credentials := range []bool{true, false} {
		cfg := testConfig()
		cfg.Credentials = credentials
		cfg.Limits.Attempts = 4
		srv := startServer(t, cfg)
		var b bot.Client
		b.Timeout = 5 * time.Second
		ctx := context.Background()
		if err := b.Dial(ctx, srv.addr); err != nil {
			t.Fatal(err)
		}
		if r, err := b.Login(ctx, "admin", "admin"); err != nil || r.Outcome != bot.Rejected {
			t.Fatalf("login: %v %v", r, err)
		}
		for _, cmd := range bot.MiraiCommands() {
			if o, err := b.Command(ctx, cmd); err != nil || o != bot.Prompt {
				t.Fatalf("command %q: %v %v", cmd, o, err)
			}
		}
		// The last command was the login name of the fourth attempt.
		if o, err := b.Command(ctx, "ignored"); err != nil || o != bot.Prompt {
			t.Fatalf("password prompt: %v %v", o, err)
		}
		if _, err := b.Command(ctx, "never"); !errors.Is(err, io.EOF) {
			t.Fatalf("after the last attempt: %v", err)
		}
		b.Close()
		if err := srv.result(t); err != nil {
			t.Fatalf("Serve: %v", err)
		}
		var got []string
		for _, e := range srv.sink.All() {
			switch e.Action {
			case event.Command:
				got = append(got, "command "+e.Detail)
			case event.Login:
				got = append(got, "login "+e.Username+"/"+e.Password)
			default:
				got = append(got, string(e.Action)+" "+e.Detail)
			}
		}
		login := "login admin/admin"
		if !credentials {
			login = "login /"
		}
		want := []string{login, "command enable", "command system", "command shell", "command sh", "command /bin/busybox MIRAI"}
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Fatalf("credentials %v: events\n%s\nwant\n%s", credentials, strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	}
}

// lineCase is raw input after the greeting, the output it draws (greeting
// aside) and the events it leaves, the client closing after the input.
type lineCase struct {
	name   string
	in     string
	out    string
	events []string // "login user/pass", "command text", "invalid"
	err    error    // what Serve returns; io.EOF if nil, unless closed
	closed bool     // Serve returns nil: the server ended the conversation
}

const again = "\r\nLogin incorrect\r\nOpenWrt login: "

func TestLines(t *testing.T) {
	for _, tc := range []lineCase{
		{name: "CR LF", in: "admin\r\nsecret\r\n", out: "admin\r\nPassword: " + again, events: []string{"login admin/secret"}},
		{name: "CR NUL", in: "admin\r\x00secret\r\x00", out: "admin\r\nPassword: " + again, events: []string{"login admin/secret"}},
		{name: "bare LF", in: "admin\nsecret\n", out: "admin\r\nPassword: " + again, events: []string{"login admin/secret"}},
		{name: "lone CR", in: "admin\rsecret\r", out: "admin\r\nPassword: " + again, events: []string{"login admin/secret"}},
		{name: "IAC IAC in password", in: "admin\r\nse\xff\xffcret\r\n", out: "admin\r\nPassword: " + again, events: []string{"login admin/se\xffcret"}},
		{name: "IAC IAC in name", in: "ad\xff\xffmin\r\nx\r\n", out: "ad\xff\xffmin\r\nPassword: " + again, events: []string{"invalid"}},
		{name: "backspace", in: "adx\bmin\r\npw\r\n", out: "adx\b \bmin\r\nPassword: " + again, events: []string{"login admin/pw"}},
		{name: "DEL", in: "adx\x7fmin\r\npw\r\n", out: "adx\b \bmin\r\nPassword: " + again, events: []string{"login admin/pw"}},
		{name: "IAC EC", in: "adx\xff\xf7min\r\npw\r\n", out: "adx\b \bmin\r\nPassword: " + again, events: []string{"login admin/pw"}},
		{name: "IAC EL", in: "junk\xff\xf8admin\r\npw\r\n", out: "junk" + strings.Repeat("\b \b", 4) + "admin\r\nPassword: " + again, events: []string{"login admin/pw"}},
		{name: "^U", in: "junk\x15admin\r\npw\r\n", out: "junk" + strings.Repeat("\b \b", 4) + "admin\r\nPassword: " + again, events: []string{"login admin/pw"}},
		{name: "erase in password", in: "admin\r\npwx\b\r\n", out: "admin\r\nPassword: " + again, events: []string{"login admin/pw"}},
		{name: "erase on empty line", in: "\b\x7fadmin\r\npw\r\n", out: "admin\r\nPassword: " + again, events: []string{"login admin/pw"}},
		{name: "erase UTF-8", in: "adé\bmin\r\npw\r\n", out: "adé\b \bmin\r\nPassword: " + again, events: []string{"login admin/pw"}},
		{name: "erase control", in: "ad\x01\bmin\r\npw\r\n", out: "ad^A\b \b\b \bmin\r\nPassword: " + again, events: []string{"login admin/pw"}},
		{name: "control echoed", in: "ad\x1bmin\r\npw\r\n", out: "ad^[min\r\nPassword: " + again, events: []string{"invalid"}},
		{name: "IAC NOP and GA", in: "ad\xff\xf1mi\xff\xf9n\r\npw\r\n", out: "admin\r\nPassword: " + again, events: []string{"login admin/pw"}},
		{name: "IAC between CR and LF", in: "admin\r\xff\xf1\npw\r\n", out: "admin\r\nPassword: " + again, events: []string{"login admin/pw"}},
		{name: "^C", in: "junk\x03admin\r\npw\r\n", out: "junk^C\r\nOpenWrt login: admin\r\nPassword: " + again, events: []string{"login admin/pw"}},
		{name: "IAC IP", in: "junk\xff\xf4admin\r\npw\r\n", out: "junk^C\r\nOpenWrt login: admin\r\nPassword: " + again, events: []string{"login admin/pw"}},
		{name: "empty lines", in: "\r\n \r\nadmin\r\npw\r\n", out: "\r\nOpenWrt login:  \r\nOpenWrt login: admin\r\nPassword: " + again, events: []string{"login admin/pw"}},
		{name: "blanks", in: "  admin \r\n pw \r\n", out: "  admin \r\nPassword: " + again, events: []string{"login admin/ pw "}},
		{name: "AYT", in: "\xff\xf6", out: "\r\n[Yes]\r\n"},
		{name: "^D", in: "\x04admin\r\n", out: ""},
		{name: "^D in password", in: "admin\r\n\x04", out: "admin\r\nPassword: " + again, events: []string{"login admin/"}},
		{name: "^D in a line", in: "ad\x04min\r\npw\r\n", out: "admin\r\nPassword: " + again, events: []string{"login admin/pw"}},
		{name: "name with blanks", in: "admin admin\r\npw\r\n", out: "admin admin\r\nPassword: " + again, events: []string{"login admin admin/pw"}},
		{name: "command then password", in: "enable\r\nhunter2\r\n", out: "enable\r\nPassword: " + again, events: []string{"command enable"}},
		{name: "command then command", in: "cd /tmp\r\nwget http://x/y\r\n", out: "cd /tmp\r\nPassword: " + again, events: []string{"command cd /tmp", "command wget http://x/y"}},
		{name: "HTTP probe", in: "GET / HTTP/1.0\r\n\r\n", out: "GET / HTTP/1.0\r\nPassword: " + again, events: []string{"invalid"}},
		{name: "password that looks like a command", in: "root\r\nsh\r\n", out: "root\r\nPassword: " + again, events: []string{"login root/sh"}},
		{name: "three attempts", in: "a\r\n1\r\nb\r\n2\r\nc\r\n3\r\nd\r\n", out: "a\r\nPassword: " + again + "b\r\nPassword: " + again + "c\r\nPassword: \r\nLogin incorrect\r\n",
			events: []string{"login a/1", "login b/2", "login c/3"}, closed: true},
		{name: "ten empty lines", in: strings.Repeat("\r\n", 12), out: strings.Repeat("\r\nOpenWrt login: ", 9) + "\r\n", closed: true},
	} {
		t.Run(tc.name, func(t *testing.T) { runLineCase(t, testConfig(), tc) })
	}
}

func runLineCase(t *testing.T, cfg *session.Config, tc lineCase) {
	t.Helper()
	srv := startServer(t, cfg)
	c := dial(t, srv.addr)
	greeting := readN(t, c, 30)
	write(t, c, tc.in)
	c.CloseWrite()
	out := readAll(t, c)
	if string(out) != tc.out {
		t.Errorf("output\n got %q\nwant %q (greeting %q)", out, tc.out, greeting)
	}
	err := srv.result(t)
	switch {
	case tc.closed:
		if err != nil {
			t.Errorf("Serve returned %v, want nil", err)
		}
	case tc.err == nil:
		if !errors.Is(err, io.EOF) {
			t.Errorf("Serve returned %v, want EOF", err)
		}
	case !errors.Is(err, tc.err):
		t.Errorf("Serve returned %v, want %v", err, tc.err)
	}
	var got []string
	for _, e := range srv.sink.All() {
		switch e.Action {
		case event.Login:
			got = append(got, "login "+e.Username+"/"+e.Password)
		case event.Command:
			got = append(got, "command "+e.Detail)
		default:
			got = append(got, string(e.Action))
		}
	}
	if strings.Join(got, "|") != strings.Join(tc.events, "|") {
		t.Errorf("events %q, want %q", got, tc.events)
	}
}

// A client that refuses every option still gets its login prompt; the
// server answers only what needs an answer, once.
func TestRefusingClient(t *testing.T) {
	const (
		refuse = "\xff\xfe\x01" + "\xff\xfe\x03" + "\xff\xfc\x01" + "\xff\xfc\x1f" // DONT ECHO, DONT SGA, WONT ECHO, WONT NAWS
		offers = "\xff\xfb\x18" + "\xff\xfd\x05" + "\xff\xfb\x18" + "\xff\xfd\x05" + "\xff\xfd\x06" + "\xff\xfb\x22" + "\xff\xfd\x03"
		// Unknown options get no answer (as from BusyBox); WILL SGA (SGA accepted again)
		answers = "\xff\xfb\x03"
	)
	// Echo refused, the server echoes nothing, as the client echoes itself.
	runLineCase(t, testConfig(), lineCase{
		in:     refuse + offers + "admin\r\npw\r\n",
		out:    answers + "Password: " + again,
		events: []string{"login admin/pw"},
	})
}

// A client that answers every answer with the opposite request cannot make
// the server talk without end.
func TestNegotiationPingPong(t *testing.T) {
	srv := startServer(t, testConfig())
	c := dial(t, srv.addr)
	readN(t, c, 30)
	toggle := func(verb, opt byte) []byte {
		switch verb {
		case 251, 252: // WILL/WONT: ask for the other way, then back
			return []byte{255, 254, opt, 255, 253, opt}
		default: // DO/DONT
			return []byte{255, 252, opt, 255, 251, opt}
		}
	}
	c.Write(toggle(251, 1))
	c.Write(toggle(253, 1))
	c.Write(toggle(253, 3))
	c.Write(toggle(251, 24))
	total := 0
	buf := make([]byte, 512)
	for {
		c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		n, err := c.Read(buf)
		total += n
		for i := 0; i+2 < n; i += 3 { // answers come in whole triples
			if buf[i] == 255 && buf[i+1] >= 251 {
				c.Write(toggle(buf[i+1], buf[i+2]))
			}
		}
		if err != nil {
			break
		}
	}
	if total > maxReplies*3 {
		t.Fatalf("server sent %d bytes of negotiation, bound is %d", total, maxReplies*3)
	}
	write(t, c, "admin\r\n")
	readUntil(t, c, "Password: ")
}

func TestSubnegotiation(t *testing.T) {
	t.Run("NAWS flood", func(t *testing.T) {
		// Complete subnegotiations without a line end, past the raw bound.
		naws := "\xff\xfa\x1f\x00\x50\x00\x18\xff\xf0"
		srv := startServer(t, testConfig())
		c := dial(t, srv.addr)
		readN(t, c, 30)
		go c.Write([]byte(strings.Repeat(naws, 100_000)))
		readAll(t, c)
		if err := srv.result(t); !isLimit(err) {
			t.Fatalf("Serve returned %v, want a limit", err)
		}
		inv := srv.sink.Of(event.Invalid)
		if len(inv) != 1 || !strings.Contains(inv[0].Detail, "without a line end") {
			t.Fatalf("invalid events %+v", inv)
		}
	})
	t.Run("NAWS between lines", func(t *testing.T) {
		naws := "\xff\xfa\x1f\x00\x50\x00\x18\xff\xf0"
		runLineCase(t, testConfig(), lineCase{
			in:     naws + "ad" + naws + "min\r\n" + naws + "pw" + naws + "\r\n",
			out:    "admin\r\nPassword: " + again,
			events: []string{"login admin/pw"},
		})
	})
	t.Run("unterminated", func(t *testing.T) {
		// The subnegotiation is given up after maxSub bytes; the rest is a
		// line, too long.
		runLineCase(t, testConfig(), lineCase{
			in:     "\xff\xfa\x18" + strings.Repeat("x", maxSub+600),
			out:    strings.Repeat("x", 512),
			events: []string{"invalid", "invalid"},
			err:    session.ErrLimit,
		})
	})
	t.Run("lost SE", func(t *testing.T) {
		// IAC followed by a command inside a subnegotiation ends it.
		runLineCase(t, testConfig(), lineCase{
			in:     "\xff\xfa\x18\x00xterm\xff\xf1admin\r\npw\r\n",
			out:    "admin\r\nPassword: " + again,
			events: []string{"login admin/pw"},
		})
	})
}

// A 10 MB line costs one line buffer, is recorded as invalid and closes the
// connection on the line limit.
func TestLongLine(t *testing.T) {
	cfg := testConfig()
	srv := startServer(t, cfg)
	c := dial(t, srv.addr)
	readN(t, c, 30)
	chunk := bytes.Repeat([]byte("A"), 64<<10)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range (10 << 20) / len(chunk) {
			c.SetWriteDeadline(time.Now().Add(5 * time.Second))
			if _, err := c.Write(chunk); err != nil {
				return // the server closed
			}
		}
	}()
	out := readAll(t, c)
	err := srv.result(t)
	<-done
	runtime.ReadMemStats(&after)
	if !isLimit(err) {
		t.Fatalf("Serve returned %v, want a limit", err)
	}
	if len(out) != cfg.Limits.LineMax {
		t.Errorf("echoed %d bytes, want %d", len(out), cfg.Limits.LineMax)
	}
	inv := srv.sink.Of(event.Invalid)
	if len(inv) != 1 || inv[0].Detail != "line longer than 512 bytes" {
		t.Fatalf("invalid events %+v", inv)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 256<<10 {
		t.Errorf("allocated %d bytes during a 10 MB line", alloc)
	}
}

// A stream of 0xFF is IAC IAC pairs: data bytes of 0xFF, a line too long.
func TestFFStream(t *testing.T) {
	srv := startServer(t, testConfig())
	c := dial(t, srv.addr)
	readN(t, c, 30)
	go c.Write(bytes.Repeat([]byte{0xff}, 1<<20))
	out := readAll(t, c)
	if err := srv.result(t); !isLimit(err) {
		t.Fatalf("Serve returned %v, want a limit", err)
	}
	if !bytes.Equal(out, bytes.Repeat([]byte{0xff}, 2*512)) {
		t.Errorf("echo: %d bytes", len(out))
	}
}

// Random garbage ends in a bounded number of events, whatever it holds.
func TestGarbage(t *testing.T) {
	for seed := range uint64(8) {
		cfg := testConfig()
		srv := startServer(t, cfg)
		c := dial(t, srv.addr)
		readN(t, c, 30)
		rng := rand.New(rand.NewPCG(seed, 42))
		junk := make([]byte, 256<<10)
		for i := range junk {
			junk[i] = byte(rng.Uint32())
		}
		go func() {
			c.Write(junk)
			c.CloseWrite()
		}()
		readAll(t, c)
		err := srv.result(t)
		if err != nil && !errors.Is(err, io.EOF) && !isLimit(err) {
			t.Fatalf("seed %d: Serve returned %v", seed, err)
		}
		counts := map[event.Action]int{}
		for _, e := range srv.sink.All() {
			counts[e.Action]++
		}
		if counts[event.Invalid] > maxInvalid+1 || counts[event.Login]+counts[event.Command] > 2*cfg.Limits.Attempts {
			t.Fatalf("seed %d: events %v", seed, counts)
		}
	}
}

func TestIdleTimeout(t *testing.T) {
	cfg := testConfig()
	cfg.Limits.Idle = 100 * time.Millisecond
	srv := startServer(t, cfg)
	c := dial(t, srv.addr)
	start := time.Now()
	readN(t, c, 30)
	readAll(t, c) // the server closes
	err := srv.result(t)
	if r := session.Reason(err); r != event.ReasonTimeout {
		t.Fatalf("Serve returned %v (reason %s), want a timeout", err, r)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("closed after %v", d)
	}
}

// The session's end cuts the login delay short and counts as a timeout.
func TestSessionEndsInDelay(t *testing.T) {
	cfg := testConfig()
	cfg.Limits.Session = 3 * time.Second
	cfg.Limits.LoginDelay = time.Minute
	runLineCase(t, cfg, lineCase{
		in:     "admin\r\npw\r\n",
		out:    "admin\r\nPassword: \r\n",
		events: []string{"login admin/pw"},
		err:    os.ErrDeadlineExceeded,
	})
}

// Shutting the agent down ends a session waiting in the login delay.
func TestCancelInDelay(t *testing.T) {
	cfg := testConfig()
	cfg.Limits.LoginDelay = time.Minute
	cfg.Limits.Session = time.Hour
	a, b := net.Pipe()
	defer a.Close()
	s := session.New(b, Service23, 23, 1, cfg, eventtest.New())
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- (&Handler{}).Serve(ctx, s) }()
	go io.Copy(io.Discard, a)
	a.Write([]byte("admin\r\npw\r\n"))
	time.Sleep(50 * time.Millisecond)
	cancel()
	select {
	case err := <-errc:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Serve returned %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return")
	}
}

// Every byte in its own read: the parser keeps its state across reads.
func TestOneBytePerRead(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	sink := eventtest.New()
	s := session.New(b, Service23, 23, 1, testConfig(), sink)
	errc := make(chan error, 1)
	go func() { errc <- (&Handler{}).Serve(context.Background(), s) }()
	want := string(loadHex(t, refGreeting)) + "ad\xff\xffx\b \bmin\r\nPassword: " + again + "\r\nOpenWrt login: "
	outc := make(chan []byte, 1)
	go func() { // the server's output, read as it comes, until it is all there
		var out []byte
		buf := make([]byte, 64)
		for len(out) < len(want) {
			n, err := a.Read(buf)
			out = append(out, buf[:n]...)
			if err != nil {
				break
			}
		}
		outc <- out
	}()
	in := miraiAnswers + "ad\xff\xffx\bmin\r\x00p\xff\xfa\x1f\x00\x50\x00\x18\xff\xf0w\r\n" + "\r\n"
	for i := range len(in) {
		if _, err := a.Write([]byte{in[i]}); err != nil {
			t.Fatal(err)
		}
	}
	var out []byte
	select {
	case out = <-outc:
	case <-time.After(10 * time.Second):
		t.Fatal("output incomplete")
	}
	a.Close()
	// On a net.Pipe whose peer closed, setting the read deadline fails
	// before the read could see EOF.
	if err := <-errc; !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrClosedPipe) {
		t.Errorf("Serve returned %v", err)
	}
	if string(out) != want {
		t.Fatalf("output\n got %q\nwant %q", out, want)
	}
	inv := sink.Of(event.Invalid)
	if len(inv) != 1 || inv[0].Username != "ad\xffmin" {
		t.Fatalf("invalid events %+v", inv)
	}
}

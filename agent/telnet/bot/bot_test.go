package bot

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"
)

// serve runs script on the first connection to a loopback listener.
func serve(t *testing.T, script func(c net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		script(c)
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
	})
	return ln.Addr().String()
}

// readLine reads up to and including "\r\n".
func readLine(c net.Conn) string {
	var b []byte
	one := make([]byte, 1)
	for !bytes.HasSuffix(b, []byte("\r\n")) {
		if _, err := c.Read(one); err != nil {
			break
		}
		b = append(b, one[0])
	}
	return string(b)
}

func client() *Client { return &Client{Timeout: 2 * time.Second} }

func TestNotTelnet(t *testing.T) {
	addr := serve(t, func(c net.Conn) {
		c.Write([]byte("login: "))
		readLine(c)
	})
	_, err := client().Attempt(context.Background(), addr, "admin", "admin")
	if !errors.Is(err, ErrNotTelnet) {
		t.Fatalf("got %v, want ErrNotTelnet", err)
	}
}

// The bot answers negotiation as Mirai does, and only DO and WILL.
func TestNegotiationAnswers(t *testing.T) {
	got := make(chan string, 1)
	addr := serve(t, func(c net.Conn) {
		c.Write([]byte("\xff\xfd\x1f" + "\xff\xfd\x18" + "\xff\xfb\x01" + "\xff\xfe\x05" + "\xff\xfc\x03" +
			"\xff\xfa\x18\x01\xff\xf0" + "\xff\xf1" + "login: "))
		got <- readLine(c)
	})
	c := client()
	if err := c.Dial(context.Background(), addr); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	go c.Login(context.Background(), "admin", "admin")
	want := "\xff\xfb\x1f\xff\xfa\x1f\x00\x50\x00\x18\xff\xf0" + "\xff\xfc\x18" + "\xff\xfd\x01" + "admin\r\n"
	if s := <-got; s != want {
		t.Fatalf("bot sent %q, want %q", s, want)
	}
}

func TestOutcomes(t *testing.T) {
	for _, tc := range []struct {
		name, answer string
		want         Outcome
	}{
		{"incorrect", "\r\nLogin incorrect\r\nOpenWrt login: ", Rejected},
		{"incorrect and closed", "\r\nLogin incorrect\r\n", Rejected},
		{"shell", "\r\nBusyBox v1.35.0\r\n# ", Shell},
		{"dollar", "\r\n~ $ ", Shell},
		{"asked again", "\r\nlogin: ", Prompt},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr := serve(t, func(c net.Conn) {
				c.Write([]byte("\xff\xfb\x01\r\r\nhost login: "))
				readLine(c)
				c.Write([]byte("Password: "))
				readLine(c)
				c.Write([]byte(tc.answer))
			})
			r, err := client().Attempt(context.Background(), addr, "admin", "admin")
			if err != nil {
				t.Fatal(err)
			}
			if r.Outcome != tc.want {
				t.Fatalf("outcome %v, want %v", r.Outcome, tc.want)
			}
		})
	}
}

// The prompt may come in pieces, and after plenty of other text: the bot
// keeps a bounded buffer and still finds it.
func TestPromptInPieces(t *testing.T) {
	addr := serve(t, func(c net.Conn) {
		c.Write([]byte("\xff\xfb\x01"))
		c.Write([]byte(strings.Repeat("banner text without prompts ", 40_000)))
		for _, s := range []string{"\r\nOpenWrt l", "og", "in: "} {
			time.Sleep(5 * time.Millisecond)
			c.Write([]byte(s))
		}
		readLine(c)
		c.Write([]byte("Pass"))
		time.Sleep(5 * time.Millisecond)
		c.Write([]byte("word: "))
		readLine(c)
		c.Write([]byte("\r\nLogin inc"))
		time.Sleep(5 * time.Millisecond)
		c.Write([]byte("orrect\r\n"))
	})
	c := client()
	r, err := c.Attempt(context.Background(), addr, "admin", "admin")
	if err != nil || r.Outcome != Rejected {
		t.Fatalf("%v, %v", r.Outcome, err)
	}
}

func TestTimeout(t *testing.T) {
	addr := serve(t, func(c net.Conn) {
		c.Write([]byte("\xff\xfd\x01"))
		io.Copy(io.Discard, c)
	})
	c := &Client{Timeout: 100 * time.Millisecond}
	start := time.Now()
	_, err := c.Attempt(context.Background(), addr, "admin", "admin")
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("got %v, want a timeout", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("took %v", d)
	}
}

// The context's deadline bounds the wait too.
func TestContextDeadline(t *testing.T) {
	addr := serve(t, func(c net.Conn) {
		c.Write([]byte("\xff\xfd\x01"))
		io.Copy(io.Discard, c)
	})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := client().Attempt(ctx, addr, "admin", "admin")
	if err == nil || time.Since(start) > 5*time.Second {
		t.Fatalf("got %v after %v", err, time.Since(start))
	}
}

func TestCommands(t *testing.T) {
	lines := make(chan string, 8)
	addr := serve(t, func(c net.Conn) {
		c.Write([]byte("\xff\xfb\x01login: "))
		for _, prompt := range []string{"Password: ", "\r\nLogin incorrect\r\nlogin: ", "Password: ", "\r\n# "} {
			lines <- readLine(c)
			c.Write([]byte(prompt))
		}
		lines <- readLine(c)
		close(lines)
	})
	c := client()
	ctx := context.Background()
	if err := c.Dial(ctx, addr); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if r, err := c.Login(ctx, "admin", "pw"); err != nil || r.Outcome != Rejected {
		t.Fatalf("login: %v %v", r.Outcome, err)
	}
	for _, step := range []struct {
		line string
		want Outcome
	}{{"enable", Prompt}, {"system", Prompt}, {"sh", Shell}} {
		if o, err := c.Command(ctx, step.line); err != nil || o != step.want {
			t.Fatalf("%s: %v %v", step.line, o, err)
		}
	}
	var got []string
	for l := range lines {
		got = append(got, l)
	}
	if want := "\xff\xfd\x01admin\r\n|pw\r\n|enable\r\n|system\r\n|sh\r\n"; strings.Join(got, "|") != want {
		t.Fatalf("server read %q", got)
	}
}

func TestMatchers(t *testing.T) {
	for _, tc := range []struct {
		name string
		m    matcher
		text string
		used int
		want Outcome
	}{
		{"user prompt", userPrompt, "\r\r\nOpenWrt login: ", len("\r\r\nOpenWrt login:"), Prompt},
		{"user ogin", userPrompt, "Login", len("Login"), Prompt},
		{"user enter", userPrompt, "please enter", len("please enter"), Prompt},
		{"user none", userPrompt, "hello", 0, 0},
		{"password", passPrompt, "admin\r\nPassword: ", len("admin\r\nPassword:"), Prompt},
		{"password none", passPrompt, "admin\r\n", 0, 0},
		{"answer incorrect", answer, "\r\nLogin incorrect\r\nx login: ", len("\r\nLogin incorrect"), Rejected},
		{"answer pending", answer, "\r\n", 0, 0},
		{"answer shell", answer, "\r\n# ", len("\r\n#"), Shell},
		{"any prompt", anyPrompt, "x\r\nLogin incorrect\r\nx login: ", len("x\r\nLogin incorrect\r\nx login:"), Prompt},
	} {
		used, o := tc.m([]byte(tc.text))
		if used != tc.used || o != tc.want {
			t.Errorf("%s: %d %v, want %d %v", tc.name, used, o, tc.used, tc.want)
		}
	}
}

// FuzzClient: whatever the server sends, Login returns without a panic, and
// the bot's answers stay within four bytes per byte received (WILL NAWS and
// its subnegotiation for a DO NAWS) plus its two lines.
func FuzzClient(f *testing.F) {
	for _, s := range []string{
		"\xff\xfd\x01\xff\xfd\x1f\xff\xfb\x01\xff\xfb\x03\r\r\nOpenWrt login: admin\r\nPassword: \r\nLogin incorrect\r\n",
		"\xff\xfa\x18", "\xff", "\xff\xfd", "login:", "\xff\xfb\x01# $ > %", "\xff\xfd\x1f\xff\xfd\x1f\xff\xfd\x1f",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		client, server := net.Pipe()
		sent := make(chan int64, 1)
		go func() { // what the bot sends
			n, _ := io.Copy(io.Discard, server)
			sent <- n
		}()
		go func() { // the server's side: the input, then hang up
			server.SetWriteDeadline(time.Now().Add(2 * time.Second))
			server.Write(in)
			server.Close()
		}()
		c := &Client{Timeout: time.Second}
		c.Attach(client)
		done := make(chan struct{})
		go func() {
			defer close(done)
			c.Login(context.Background(), "admin", "admin")
			c.Close()
		}()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("Login did not return")
		}
		if n := <-sent; n > int64(4*len(in)+2*len("admin\r\n")) {
			t.Fatalf("bot sent %d bytes for %d", n, len(in))
		}
	})
}

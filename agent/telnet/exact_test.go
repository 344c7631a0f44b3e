package telnet

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/minipot/minipot/agent/session"
	"github.com/minipot/minipot/internal/event"
	"github.com/minipot/minipot/internal/event/eventtest"
)

// converse types in over a pipe, cut where cuts says (each byte a chunk
// length), without waiting for any prompt, and returns the login events
// as "user/password".
func converse(t *testing.T, in []byte, cuts []byte) []string {
	t.Helper()
	cfg := &session.Config{Hostname: "OpenWrt", Credentials: true, Limits: session.Limits{
		LineMax: 512, Attempts: 3, Idle: 5 * time.Second, Session: 10 * time.Second,
	}}
	a, b := net.Pipe()
	defer a.Close()
	sink := eventtest.New()
	s := session.New(b, Service23, 23, 1, cfg, sink)
	done := make(chan struct{})
	go func() {
		(&Handler{}).Serve(context.Background(), s)
		b.Close()
		close(done)
	}()
	go io.Copy(io.Discard, a)
	for i := 0; len(in) > 0; i++ {
		n := len(in)
		if len(cuts) > 0 {
			n = min(n, 1+int(cuts[i%len(cuts)])%16)
		}
		if _, err := a.Write(in[:n]); err != nil {
			break
		}
		in = in[n:]
	}
	a.Close()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return")
	}
	var got []string
	for _, e := range sink.Of(event.Login) {
		got = append(got, e.Username+"/"+e.Password)
	}
	return got
}

// TestExactLogins: every attempt is recorded once, with exactly the bytes
// typed, however the client times and cuts them.
func TestExactLogins(t *testing.T) {
	three := []string{"root/xc3511", "admin/admin", "support/1 2 3"}
	for _, tc := range []struct {
		name string
		in   string
		cuts []byte
		want []string
	}{
		{"typed ahead of every prompt, one packet", "root\r\nxc3511\r\nadmin\r\nadmin\r\nsupport\r\n1 2 3\r\n", nil, three},
		{"one byte per packet", "root\r\nxc3511\r\nadmin\r\nadmin\r\nsupport\r\n1 2 3\r\n", []byte{0}, three},
		{"CR NUL", "root\r\x00xc3511\r\x00admin\r\x00admin\r\x00support\r\x001 2 3\r\x00", []byte{3, 1, 4, 1, 5}, three},
		{"bare LF", "root\nxc3511\nadmin\nadmin\nsupport\n1 2 3\n", []byte{2, 7}, three},
		{"lone CR", "root\rxc3511\radmin\radmin\rsupport\r1 2 3\r", []byte{1, 0}, three},
		{"CR and LF in different packets", "root\r\nxc3511\r\nadmin\r\nadmin\r\nsupport\r\n1 2 3\r\n", []byte{3, 1, 5, 1}, three},
		{"IAC in the middle", "ro\xff\xf1ot\r\nxc\xff\xfd\x18351\xff\xfb\x221\r\nad\xff\xfa\x1f\x00\x50\x00\x18\xff\xf0min\r\nadmin\r\nsupport\r\n1 2\xff\xf1 3\r\n", []byte{5}, three},
		{"IAC IAC is a 0xFF data byte", "root\r\npw\xff\xffx\r\n", nil, []string{"root/pw\xffx"}},
		{"the second attempt keeps its first letter", "admin\r\n1234\r\nroot\r\nroot\r\n", []byte{0, 0, 9}, []string{"admin/1234", "root/root"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := converse(t, []byte(tc.in), tc.cuts); strings.Join(got, "|") != strings.Join(tc.want, "|") {
				t.Fatalf("stored %q, want %q", got, tc.want)
			}
		})
	}
}

// FuzzLineDiscipline: three attempts typed at once, with line ends of every
// kind and telnet commands between any bytes, cut into packets anywhere:
// exactly those three attempts are recorded, each with exactly its bytes.
func FuzzLineDiscipline(f *testing.F) {
	f.Add("root", "xc3511", uint8(0), uint8(0), []byte{0})
	f.Add("admin", "a b", uint8(1), uint8(3), []byte{3, 1, 4})
	f.Add("user", "pw", uint8(2), uint8(5), []byte{})
	ends := []string{"\r\n", "\r\x00", "\n", "\r"}
	cmds := []string{"", "\xff\xf1", "\xff\xfd\x01", "\xff\xfb\x22", "\xff\xfa\x1f\x00\x50\x00\x18\xff\xf0", "\xff\xfe\x03"}
	f.Fuzz(func(t *testing.T, user, pass string, end, cmd uint8, cuts []byte) {
		clean := func(s string) bool {
			for i := 0; i < len(s); i++ {
				if c := s[i]; c < 0x20 || c == 0x7f || c == 0xff {
					return false
				}
			}
			return len(s) < 100
		}
		if !clean(user) || !clean(pass) || classify(trimBlank([]byte(user))) != lineUser {
			t.Skip()
		}
		u := string(trimBlank([]byte(user)))
		var in bytes.Buffer
		var want []string
		c := cmds[int(cmd)%len(cmds)]
		for i := range 3 {
			e := ends[(int(end)+i)%len(ends)]
			// The command goes in the middle of the login name.
			mid := len(user) / 2
			in.WriteString(user[:mid] + c + user[mid:] + e + pass + c + e)
			want = append(want, u+"/"+pass)
		}
		if got := converse(t, in.Bytes(), cuts); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("typed %q, stored %q, want %q", in.String(), got, want)
		}
	})
}

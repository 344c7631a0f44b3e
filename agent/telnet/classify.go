package telnet

import (
	"bytes"
	"unicode/utf8"
)

// lineClass is what a line typed at the login prompt is taken for.
//
// Bots that expect a shell send their commands at whatever prompt follows a
// login: Mirai, after "Login incorrect", types enable, system, shell, sh and
// "/bin/busybox MIRAI" at the next "login:" and "Password:" prompts. Those
// are not credentials, and recording them as such would pollute the
// credential statistics. The rule, applied to the line as typed (after
// editing, with surrounding blanks trimmed):
//
//   - empty: nothing but blanks; login asks again.
//   - binary: it holds a control byte (below 0x20, or DEL) or is not valid
//     UTF-8: no login name looks like that.
//   - command: its first word is a shell command or builtin bots are known
//     to send (isShellWord), or its first word contains '/' (a path such as
//     /bin/busybox or ./x), or the line holds shell syntax no login name
//     contains: ; | & ` < > $( ${.
//   - http: an HTTP request line ("GET / HTTP/1.1"): a web scanner that
//     tried the telnet port. Recorded as invalid input, with the line.
//   - user: anything else is a login name, even with blanks in it.
//
// The classes only decide what is recorded: the server answers every line
// as BusyBox login would, since a bot must not see any difference.
type lineClass uint8

const (
	lineEmpty lineClass = iota
	lineUser
	lineCommand
	lineBinary
	lineHTTP
)

func (c lineClass) String() string {
	switch c {
	case lineEmpty:
		return "empty"
	case lineUser:
		return "user"
	case lineCommand:
		return "command"
	case lineBinary:
		return "binary"
	case lineHTTP:
		return "http"
	}
	return "?"
}

// isBlank is the C locale's isspace minus the line ends, which never reach a
// line: what BusyBox login skips before a login name.
func isBlank(c byte) bool { return c == ' ' || c == '\t' || c == '\v' || c == '\f' }

// trimBlank cuts the blanks around a line.
func trimBlank(b []byte) []byte {
	for len(b) > 0 && isBlank(b[0]) {
		b = b[1:]
	}
	for len(b) > 0 && isBlank(b[len(b)-1]) {
		b = b[:len(b)-1]
	}
	return b
}

// classify applies the rule of lineClass to a trimmed line.
func classify(line []byte) lineClass {
	if len(line) == 0 {
		return lineEmpty
	}
	for _, c := range line {
		if c < 0x20 || c == 0x7f {
			return lineBinary
		}
	}
	if !utf8.Valid(line) {
		return lineBinary
	}
	word, rest, _ := bytes.Cut(line, []byte(" "))
	if isMethod(word) && bytes.Contains(rest, []byte(" HTTP/")) {
		return lineHTTP
	}
	if isShellWord(word) || bytes.IndexByte(word, '/') >= 0 ||
		bytes.ContainsAny(line, ";|&`<>") ||
		bytes.Contains(line, []byte("$(")) || bytes.Contains(line, []byte("${")) {
		return lineCommand
	}
	return lineUser
}

// isMethod reports whether w looks like an HTTP method: a short word of
// capital letters.
func isMethod(w []byte) bool {
	if len(w) == 0 || len(w) > 16 {
		return false
	}
	for _, c := range w {
		if c < 'A' || c > 'Z' {
			return false
		}
	}
	return true
}

// isShellWord reports whether w is a command that bots send to a shell they
// think they got. The list holds what Mirai and its offspring send to get a
// shell and to fetch their payload; none of it is a login name anybody uses.
func isShellWord(w []byte) bool {
	switch string(w) {
	case "enable", "system", "shell", "sh", "ash", "bash", "linuxshell",
		"busybox", "cd", "wget", "curl", "tftp", "ftpget", "echo", "cat",
		"chmod", "rm", "cp", "mv", "ls", "ps", "kill", "killall", "nc",
		"netstat", "uname", "exit", "export", "mount", "dd", "nohup",
		"ping", "reboot", "grep", "which", "whoami", "history", "sleep",
		"unset", "ulimit", "cfgtool", "mkdir", "touch":
		return true
	}
	return false
}

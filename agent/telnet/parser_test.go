package telnet

import (
	"bytes"
	"strings"
	"testing"
)

// tokens runs in through a fresh parser and renders what it yields:
// characters as themselves, the rest as <NAME>.
func tokens(p *parser, in string) (string, []byte) {
	var b strings.Builder
	var out []byte
	for i := range len(in) {
		var k kind
		k, out = p.feed(in[i], out)
		switch k {
		case kChar:
			b.WriteByte(in[i])
		case kEOL:
			b.WriteString("<EOL>")
		case kEraseChar:
			b.WriteString("<EC>")
		case kEraseLine:
			b.WriteString("<EL>")
		case kInterrupt:
			b.WriteString("<INT>")
		case kEOF:
			b.WriteString("<EOF>")
		case kBadSub:
			b.WriteString("<BADSUB>")
		}
	}
	return b.String(), out
}

func newParser() *parser {
	p := new(parser)
	p.reset()
	return p
}

func TestParserData(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string
	}{
		{"plain", "abc", "abc"},
		{"CR LF", "a\r\nb", "a<EOL>b"},
		{"CR NUL", "a\r\x00b", "a<EOL>b"},
		{"bare LF", "a\nb", "a<EOL>b"},
		{"lone CR", "a\rb", "a<EOL>b"},
		{"CR CR LF", "a\r\r\n", "a<EOL><EOL>"},
		{"LF CR", "\n\r", "<EOL><EOL>"},
		{"LF LF", "\n\n", "<EOL><EOL>"},
		{"CR at the end", "a\r", "a<EOL>"},
		{"IAC IAC", "\xff\xff", "\xff"},
		{"CR IAC IAC", "\r\xff\xff", "<EOL>\xff"},
		{"CR command LF", "\r\xff\xf1\n", "<EOL>"},
		{"NUL", "a\x00b", "ab"},
		{"high bytes", "\x80\xfe", "\x80\xfe"},
		{"erase char", "\x08\x7f\xff\xf7", "<EC><EC><EC>"},
		{"erase line", "\x15\xff\xf8", "<EL><EL>"},
		{"interrupts", "\x03\xff\xf4\xff\xf3\xff\xee\xff\xed", "<INT><INT><INT><INT><INT>"},
		{"end of file", "\x04\xff\xec", "<EOF><EOF>"},
		{"no-op commands", "a\xff\xf1\xff\xf2\xff\xf9\xff\xf5\xff\xf0\xff\xefb", "ab"},
		{"not a command", "\xff\x41b", "b"},
		{"tab and escape", "\t\x1b", "\t\x1b"},
		{"negotiation", "a\xff\xfd\x18b\xff\xfb\x18c", "abc"},
		{"NAWS", "a\xff\xfa\x1f\x00\x50\x00\x18\xff\xf0b", "ab"},
		{"SB with IAC IAC", "\xff\xfa\x18\x00a\xff\xffb\xff\xf0c", "c"},
		{"SB ended by a command", "\xff\xfa\x18\x00x\xff\xf7c", "<EC>c"},
		{"SB ended by IAC DO", "\xff\xfa\x18\x00x\xff\xfd\x18c", "c"},
		{"SB too long", "\xff\xfa\x18" + strings.Repeat("x", maxSub+3), "<BADSUB>xx"},
		{"SE alone", "\xff\xf0a", "a"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, _ := tokens(newParser(), tc.in)
			if got != tc.want {
				t.Fatalf("%q gives %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestParserNAWS(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string
		w, h uint16
	}{
		{"80x24", "\xff\xfa\x1f\x00\x50\x00\x18\xff\xf0", 80, 24},
		{"IAC IAC in it", "\xff\xfa\x1f\x00\xff\xff\x01\x00\xff\xf0", 255, 256},
		{"short", "\xff\xfa\x1f\x00\x50\xff\xf0", 0, 0},
		{"long", "\xff\xfa\x1f\x00\x50\x00\x18\x00\xff\xf0", 0, 0},
		{"not NAWS", "\xff\xfa\x18\x00\x50\x00\x18\xff\xf0", 0, 0},
		{"twice", "\xff\xfa\x1f\x00\x50\x00\x18\xff\xf0\xff\xfa\x1f\x00\x84\x00\x2b\xff\xf0", 132, 43},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newParser()
			tokens(p, tc.in)
			if w, h := p.windowSize(); w != tc.w || h != tc.h {
				t.Fatalf("window %dx%d, want %dx%d", w, h, tc.w, tc.h)
			}
		})
	}
}

func TestParserNegotiation(t *testing.T) {
	const (
		will, wont, do, dont = "\xff\xfb", "\xff\xfc", "\xff\xfd", "\xff\xfe"
		echo, sga, naws      = "\x01", "\x03", "\x1f"
		ttype, status        = "\x18", "\x05"
	)
	for _, tc := range []struct {
		name, in, want string
		echoing        bool
	}{
		{"acknowledgements", do + echo + do + sga + will + naws + wont + echo, "", true},
		{"repeated acknowledgements", do + echo + do + echo + will + naws + will + naws, "", true},
		{"echo refused", dont + echo, "", false},
		{"echo refused then asked", dont + echo + do + echo, will + echo, true},
		{"echo on then off", do + echo + dont + echo, wont + echo, false},
		{"echo off twice", do + echo + dont + echo + dont + echo, wont + echo, false},
		// Unknown options get no answer, as from BusyBox (see refuse).
		{"unknown DO", do + status, "", true},
		{"unknown DO repeated", do + status + do + status, "", true},
		{"unknown WILL", will + ttype, "", true},
		{"unknown WILL LINEMODE (hydra)", will + "\x22", "", true},
		{"unknown DONT and WONT", dont + ttype + wont + ttype, "", true},
		{"client SGA", will + sga + will + sga, do + sga, true},
		{"client SGA off", will + sga + wont + sga, do + sga + dont + sga, true},
		{"NAWS refused", wont + naws, "", true},
		{"NAWS on then off", will + naws + wont + naws, dont + naws, true},
		{"AYT", "\xff\xf6", aytReply, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newParser()
			toks, out := tokens(p, tc.in)
			if toks != "" {
				t.Errorf("tokens %q from negotiation", toks)
			}
			if string(out) != tc.want {
				t.Errorf("replies %q, want %q", out, tc.want)
			}
			if p.echoing() != tc.echoing {
				t.Errorf("echoing %v, want %v", p.echoing(), tc.echoing)
			}
		})
	}
}

// A peer toggling an option cannot draw more than maxReplies answers.
func TestParserReplyBound(t *testing.T) {
	p := newParser()
	_, out := tokens(p, strings.Repeat("\xff\xfd\x01\xff\xfe\x01\xff\xf6", 1000))
	if len(out) > maxReplies*maxReply {
		t.Fatalf("%d bytes of replies", len(out))
	}
	if p.replies != maxReplies {
		t.Fatalf("%d replies, want the bound %d", p.replies, maxReplies)
	}
}

// checkParser holds the parser's invariants on any input: bounded replies,
// no state it cannot leave, and IAC-escaped data passing through unchanged.
func checkParser(t *testing.T, in []byte) {
	p := newParser()
	var out []byte
	for _, b := range in {
		n := len(out)
		_, out = p.feed(b, out)
		if len(out)-n > maxReply {
			t.Fatalf("one byte drew %d bytes of replies", len(out)-n)
		}
	}
	if p.replies > maxReplies {
		t.Fatalf("%d replies", p.replies)
	}
	// Whatever state the input left, maxSub+2 characters and a LF end a line.
	for range maxSub + 2 {
		p.feed('a', nil)
	}
	if k, _ := p.feed('\n', nil); k != kEOL {
		t.Fatalf("parser stuck in state %d after %q", p.state, in)
	}

	// Data with its IACs doubled comes out as it went in, the bytes with a
	// meaning of their own aside.
	var data, stream []byte
	for _, b := range in {
		switch b {
		case 0, 0x03, 0x04, 0x08, '\n', '\r', 0x15, 0x7f:
			continue
		case cmdIAC:
			stream = append(stream, cmdIAC)
		}
		data = append(data, b)
		stream = append(stream, b)
	}
	got, _ := tokens(newParser(), string(stream))
	if !bytes.Equal([]byte(got), data) {
		t.Fatalf("data %q came out as %q", data, got)
	}
}

func FuzzParser(f *testing.F) {
	for _, s := range []string{
		"", "admin\r\n", "\xff\xff\xff", "\xff\xfa\x1f\x00\x50\x00\x18\xff\xf0",
		"\xff\xfa\x18", "\xff\xfa\xff", "\xff\xfa\x18\xff", "\xff\xfd", "\xff",
		"\r\x00\r\n\n\r", "\xff\xfd\x01\xff\xfe\x01\xff\xf6", "\x08\x7f\x15\x03\x04",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(checkParser)
}

package telnet

// Telnet commands (RFC 854) and the options this server talks about
// (RFC 857 ECHO, RFC 858 SUPPRESS-GO-AHEAD, RFC 1073 NAWS).
const (
	cmdEOF   = 236 // RFC 1184 end of file
	cmdSUSP  = 237 // RFC 1184 suspend
	cmdABORT = 238 // RFC 1184 abort
	cmdEOR   = 239 // RFC 885 end of record
	cmdSE    = 240
	cmdNOP   = 241
	cmdDM    = 242
	cmdBRK   = 243
	cmdIP    = 244
	cmdAO    = 245
	cmdAYT   = 246
	cmdEC    = 247
	cmdEL    = 248
	cmdGA    = 249
	cmdSB    = 250
	cmdWILL  = 251
	cmdWONT  = 252
	cmdDO    = 253
	cmdDONT  = 254
	cmdIAC   = 255

	optEcho = 1
	optSGA  = 3
	optNAWS = 31
)

// negotiation is what BusyBox telnetd sends before anything else: IAC DO
// ECHO, IAC DO NAWS, IAC WILL ECHO, IAC WILL SGA. It asks the client to echo
// (sic) and to report its window size, and offers to echo and to suppress
// go-ahead. The parser's initial state assumes it was sent.
const negotiation = "\xff\xfd\x01\xff\xfd\x1f\xff\xfb\x01\xff\xfb\x03"

const (
	// maxSub bounds one subnegotiation. Only NAWS (4 to 8 bytes) is ever
	// expected, as the server asks for nothing else; a longer one is given
	// up and its bytes fall back to being data, so no sequence can hold the
	// parser in a state that swallows all further input.
	maxSub = 512
	// maxReplies bounds the replies of one connection (option answers and
	// AYT). Answers are only ever given to requests the peer sent, so they
	// cannot loop (RFC 854), but a peer flipping an option on and off would
	// otherwise make the server echo its flood.
	maxReplies = 64
	// maxReply is the most one input byte can append to the output.
	maxReply = len(aytReply)
)

// aytReply is the visible evidence RFC 854 asks an AYT to get (as netkit
// telnetd words it; BusyBox ignores AYT, which clients read as a hang).
const aytReply = "\r\n[Yes]\r\n"

// kind is what a byte of input means to the line editor above the parser.
type kind uint8

const (
	kNone      kind = iota // consumed by the protocol
	kChar                  // the byte is a character of the line
	kEOL                   // end of line: CR LF, CR NUL, a lone CR or a bare LF
	kEraseChar             // BS, DEL or IAC EC
	kEraseLine             // ^U or IAC EL
	kInterrupt             // ^C, IAC IP, IAC BRK, IAC ABORT, IAC SUSP
	kEOF                   // ^D or IAC EOF
	kBadSub                // a subnegotiation went past maxSub and was dropped
)

// Parser states.
const (
	stData   uint8 = iota
	stIAC          // after IAC
	stOpt          // after IAC WILL/WONT/DO/DONT, verb holds which
	stSB           // after IAC SB, expecting the option
	stSBData       // inside a subnegotiation
	stSBIAC        // IAC inside a subnegotiation
)

// Option states of the Q method (RFC 1143), for the options the server
// accepts. The server never asks to disable an option, so the WANTNO
// states cannot occur.
const (
	qNo uint8 = iota
	qYes
	qWantYes // requested by the greeting, answer pending
)

// parser decodes the client's side of a telnet connection one byte at a
// time: it strips commands and subnegotiations, answers option requests,
// folds the NVT line endings into kEOL and maps the editing keys. It holds no
// buffers, so it costs a few dozen bytes per connection, and every byte moves
// it forward: there is no input on which it waits for more than maxSub bytes.
type parser struct {
	state   uint8
	verb    byte // the pending WILL/WONT/DO/DONT
	cr      bool // the last data byte was CR: a following LF or NUL is part of it
	sbOpt   byte
	sbLen   int
	replies int
	naws    [4]byte
	w, h    uint16 // window size from NAWS, 0 if not sent

	// Server-side (WILL) and client-side (DO) states of the accepted options.
	usEcho, usSGA            uint8
	himEcho, himSGA, himNAWS uint8
}

// reset puts the parser in the state right after the greeting was sent.
func (p *parser) reset() {
	*p = parser{usEcho: qWantYes, usSGA: qWantYes, himEcho: qWantYes, himNAWS: qWantYes}
}

// echoing reports whether the server echoes: it offered to, and the client
// has not refused.
func (p *parser) echoing() bool { return p.usEcho != qNo }

// windowSize reports the client's window as its NAWS subnegotiation gave it.
func (p *parser) windowSize() (w, h uint16) { return p.w, p.h }

// feed consumes one byte of input. It appends any reply for the peer to out
// (at most maxReply bytes) and reports what the byte means to the line.
func (p *parser) feed(c byte, out []byte) (kind, []byte) {
	switch p.state {
	case stData:
		if c == cmdIAC {
			p.state = stIAC
			return kNone, out
		}
		return p.data(c), out
	case stIAC:
		return p.command(c, out)
	case stOpt:
		p.state = stData
		return kNone, p.negotiate(p.verb, c, out)
	case stSB:
		p.sbOpt, p.sbLen, p.state = c, 0, stSBData
		return kNone, out
	case stSBData:
		if c == cmdIAC {
			p.state = stSBIAC
			return kNone, out
		}
		return p.subByte(c), out
	default: // stSBIAC
		switch c {
		case cmdSE:
			p.state = stData
			if p.sbOpt == optNAWS && p.sbLen == 4 {
				p.w = uint16(p.naws[0])<<8 | uint16(p.naws[1])
				p.h = uint16(p.naws[2])<<8 | uint16(p.naws[3])
			}
			return kNone, out
		case cmdIAC:
			p.state = stSBData
			return p.subByte(c), out
		}
		// IAC and anything but SE or IAC cannot occur inside a
		// subnegotiation (RFC 855): take it as its end and the byte as a
		// command, as a lost IAC SE should not swallow the session.
		return p.command(c, out)
	}
}

// data handles a byte of the data stream (IAC IAC included).
func (p *parser) data(c byte) kind {
	cr := p.cr
	p.cr = false
	switch c {
	case '\r':
		p.cr = true
		return kEOL
	case '\n':
		if cr {
			return kNone // the LF of CR LF
		}
		return kEOL
	case 0:
		return kNone // the NUL of CR NUL, or an NVT no-op
	case 0x08, 0x7f:
		return kEraseChar
	case 0x15: // ^U, the tty's kill character
		return kEraseLine
	case 0x03: // ^C
		return kInterrupt
	case 0x04: // ^D
		return kEOF
	}
	return kChar
}

// command handles the byte after IAC.
func (p *parser) command(c byte, out []byte) (kind, []byte) {
	p.state = stData
	switch c {
	case cmdIAC:
		return p.data(c), out
	case cmdWILL, cmdWONT, cmdDO, cmdDONT:
		p.verb, p.state = c, stOpt
		return kNone, out
	case cmdSB:
		p.state = stSB
		return kNone, out
	case cmdEC:
		return kEraseChar, out
	case cmdEL:
		return kEraseLine, out
	case cmdIP, cmdBRK, cmdABORT, cmdSUSP:
		return kInterrupt, out
	case cmdEOF:
		return kEOF, out
	case cmdAYT:
		if p.replies < maxReplies {
			p.replies++
			out = append(out, aytReply...)
		}
		return kNone, out
	}
	// NOP, DM, GA, AO, SE outside a subnegotiation, EOR: nothing to do.
	// A byte below 236 is not a command at all; dropping it with the IAC is
	// what most servers do.
	return kNone, out
}

func (p *parser) subByte(c byte) kind {
	if p.sbLen < len(p.naws) {
		p.naws[p.sbLen] = c
	}
	p.sbLen++
	if p.sbLen > maxSub {
		p.state, p.cr = stData, false
		return kBadSub
	}
	return kNone
}

// negotiate answers WILL/WONT/DO/DONT opt following RFC 1143: it agrees to
// ECHO and SGA on its side and to ECHO, SGA and NAWS on the client's, ignores
// the rest (see refuse), acknowledges every change of state and never answers
// a request for the state an option already has.
func (p *parser) negotiate(verb, opt byte, out []byte) []byte {
	var st *uint8
	switch verb {
	case cmdDO, cmdDONT:
		switch opt {
		case optEcho:
			st = &p.usEcho
		case optSGA:
			st = &p.usSGA
		}
		if st == nil {
			if verb == cmdDO {
				return p.refuse(out)
			}
			return out // already off
		}
		if verb == cmdDO {
			return p.enable(st, cmdWILL, opt, out)
		}
		return p.disable(st, cmdWONT, opt, out)
	default: // WILL, WONT
		switch opt {
		case optEcho:
			st = &p.himEcho
		case optSGA:
			st = &p.himSGA
		case optNAWS:
			st = &p.himNAWS
		}
		if st == nil {
			if verb == cmdWILL {
				return p.refuse(out)
			}
			return out
		}
		if verb == cmdWILL {
			return p.enable(st, cmdDO, opt, out)
		}
		return p.disable(st, cmdDONT, opt, out)
	}
}

// enable handles a request (or acknowledgement) to turn an accepted option on.
func (p *parser) enable(st *uint8, answer, opt byte, out []byte) []byte {
	switch *st {
	case qWantYes: // the answer to our own request
		*st = qYes
	case qNo:
		*st = qYes
		return p.reply(answer, opt, out)
	}
	return out // qYes: already on, not acknowledged (RFC 854 loop rule)
}

// disable handles a request (or refusal) to turn an accepted option off.
func (p *parser) disable(st *uint8, answer, opt byte, out []byte) []byte {
	switch *st {
	case qWantYes: // our request refused
		*st = qNo
	case qYes:
		*st = qNo
		return p.reply(answer, opt, out)
	}
	return out
}

// refuse declines an option the server does not do, by saying nothing:
// BusyBox telnetd answers no request at all, and a server that answers
// DONT LINEMODE to hydra's WILL LINEMODE sends its telnet module into
// character mode, where it types CR NUL in place of the first letter of
// every login after the first on a connection. Silence is also RFC 1143's
// refusal in effect: the peer keeps the option off until told otherwise.
func (p *parser) refuse(out []byte) []byte { return out }

func (p *parser) reply(verb, opt byte, out []byte) []byte {
	if p.replies >= maxReplies {
		return out
	}
	p.replies++
	return append(out, cmdIAC, verb, opt)
}

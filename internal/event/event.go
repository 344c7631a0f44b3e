// Package event defines what the agent records about an attacker's
// connection: the contract between the fake services, the store and the API.
package event

import "time"

// Action says what happened on a connection.
type Action string

// The actions of DESIGN.md ("Events"), plus Command for the shell commands
// bots send after a failed login, which are not credential pairs.
const (
	Connect    Action = "connect"
	Login      Action = "login"      // a credential attempt
	Request    Action = "request"    // an HTTP or proxy request
	Command    Action = "command"    // a shell command typed at a telnet prompt
	Invalid    Action = "invalid"    // malformed input
	Disconnect Action = "disconnect" // with Duration, BytesIn/Out and Reason
)

// Disconnect reasons.
const (
	ReasonClosed  = "closed"
	ReasonTimeout = "timeout"
	ReasonLimit   = "limit"
)

// Event is one record. Text fields hold attacker-supplied bytes as given
// (bounded by MaxText); they are escaped wherever they are shown.
type Event struct {
	ID      int64     // assigned by the store
	Time    time.Time // UTC, millisecond precision
	Service string    // service key, e.g. "23tcp"
	Port    int       // the real port the attacker targeted
	SrcIP   string
	SrcPort int
	ConnID  int64
	Action  Action

	Method    string // HTTP method, or CONNECT
	URL       string // request URL or proxy target
	Host      string
	UserAgent string
	Username  string // only when log_credentials is on
	Password  string // only when log_credentials is on
	Body      string // bounded excerpt of a request body
	Detail    string // command text, what was invalid, which limit

	// Count is how many identical requests this event stands for: a
	// request repeated on one connection is stored once per run and
	// second, not once per request (see agent/session). 0 means 1.
	Count int64

	Duration time.Duration // disconnect only
	BytesIn  int64         // disconnect only
	BytesOut int64         // disconnect only
	Reason   string        // disconnect only: closed, timeout, limit
}

// MaxText bounds every attacker-supplied text field of an event.
const MaxText = 1024

// Sink receives events. Emit must never block the caller: a sink that cannot
// keep up drops the event and counts it. e is only lent: Emit copies what
// it keeps. (A pointer, not a copy at each step: on the path under every
// new connection, events passed by value made the goroutine's stack grow
// from 2 to 4 KiB, which idle connections then kept.)
type Sink interface {
	Emit(e *Event)
}

// Truncate bounds s to n bytes without splitting a UTF-8 sequence in a way
// that matters for storage (bytes are kept as given; only the length is cut).
func Truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

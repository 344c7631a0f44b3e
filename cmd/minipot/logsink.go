package main

import (
	"github.com/rs/zerolog"

	"github.com/minipot/minipot/internal/event"
)

// logSink passes events on and, at debug level, logs each one. It never
// logs credentials: the log goes to syslog, which the owner may ship off
// the router, and log_credentials promises they are stored only in the store.
type logSink struct {
	next event.Sink
	log  zerolog.Logger
}

// withEventLog wraps next when debug logging is on; otherwise it returns
// next itself so the hot path pays nothing.
func withEventLog(next event.Sink, log zerolog.Logger) event.Sink {
	if log.GetLevel() > zerolog.DebugLevel {
		return next
	}
	return logSink{next: next, log: log}
}

func (s logSink) Emit(e *event.Event) {
	s.next.Emit(e)
	l := s.log.Debug().Str("service", e.Service).Str("action", string(e.Action)).
		Str("src", e.SrcIP).Int("src_port", e.SrcPort).Int64("conn", e.ConnID)
	if e.Method != "" {
		l = l.Str("method", e.Method).Str("url", e.URL)
	}
	if e.Detail != "" {
		l = l.Str("detail", e.Detail)
	}
	if e.Reason != "" {
		l = l.Str("reason", e.Reason).Dur("duration", e.Duration)
	}
	l.Msg("event")
}

package main

import (
	"io"

	"github.com/minipot/minipot/internal/settings"
	"github.com/minipot/minipot/internal/uci"
)

// loadSettings is settings.LoadDigest for the agent: it also logs each of
// the file's warnings (settings.Warnings: an option of minipot's own
// sections that it does not read, a typo most likely), at the file's log
// level, each time the file is loaded. The exporter, which reads the same
// file beside it, leaves them to the agent's log.
func loadSettings(dir uci.Dir, stderr io.Writer) (settings.Settings, string, error) {
	s, digest, warns, err := settings.LoadFile(dir)
	if len(warns) > 0 {
		log := newLogger(stderr, s.Agent.LogLevel)
		for _, w := range warns {
			log.Warn().Str("option", w.Field).Msg("settings: " + w.Message)
		}
	}
	return s, digest, err
}

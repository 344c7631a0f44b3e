package ftp

import (
	"testing"

	"github.com/rs/zerolog"

	"github.com/minipot/minipot/agent"
	"github.com/minipot/minipot/agent/agenttest"
	"github.com/minipot/minipot/agent/session"
	"github.com/minipot/minipot/internal/event/eventtest"
	"github.com/minipot/minipot/internal/settings"
)

var raceEnabled bool // see race_test.go

// TestIdleStack: what an FTP connection that got its greeting and sends
// nothing holds in goroutine stack, served by the real agent. It is 4 KiB
// today, telnet's is 2 KiB (agent.TestIdleConnectionStack): the bound
// keeps it from growing further.
func TestIdleStack(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("opens a thousand connections; stack sizes under -race mean nothing")
	}
	a := agent.New(zerolog.Nop(), eventtest.New(), func(settings.Service) session.Handler { return &Handler{} })
	defer a.Close()
	per := agenttest.IdleStack(t, a, "21tcp", 1000, len(greeting))
	t.Logf("stack per idle connection: %.0f bytes", per)
	if per > 4.5*1024 {
		t.Errorf("each idle connection holds %.0f bytes of stack, want at most 4 KiB", per)
	}
}

package main

import (
	"path/filepath"
	"testing"

	"github.com/rs/zerolog"

	"github.com/minipot/minipot/internal/settings"
)

// TestEveryServerHasAHandler: each service of the table gets a fake, and
// the handler table holds no server the service table does not use.
func TestEveryServerHasAHandler(t *testing.T) {
	s := settings.Defaults()
	s.Store.Path = filepath.Join(t.TempDir(), "events.db") // the SSH host keys go beside it
	hf := makeHandlers(s, zerolog.Nop())
	used := map[string]bool{}
	for _, svc := range settings.Services() {
		used[svc.Server] = true
		if hf(svc) == nil {
			t.Errorf("%s (%s): no handler", svc.Key, svc.Server)
		}
		if tryKind[svc.Kind] == "" {
			t.Errorf("%s: no command to try a %s fake", svc.Key, svc.Kind)
		}
	}
	for name := range servers {
		if !used[name] {
			t.Errorf("handler for %s, which no service uses", name)
		}
	}
}

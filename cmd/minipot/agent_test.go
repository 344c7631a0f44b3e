package main

import (
	"bytes"
	"os"
	"path/filepath"
	"sync"
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

// TestSeedDevConfigAtomic: make run's three processes seed the
// development config at once; a reader meanwhile finds no file or the
// whole of it, never a part (an empty file would be read as the router's
// defaults, store path included).
func TestSeedDevConfigAtomic(t *testing.T) {
	for range 20 {
		dir := filepath.Join(t.TempDir(), "config")
		path := filepath.Join(dir, settings.Package)
		var wg sync.WaitGroup
		stop := make(chan struct{})
		var seen []int
		var mu sync.Mutex
		go func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				if data, err := os.ReadFile(path); err == nil {
					mu.Lock()
					seen = append(seen, len(data))
					mu.Unlock()
				}
			}
		}()
		for range 3 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := seedDevConfig(dir); err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		close(stop)
		if data, err := os.ReadFile(path); err != nil || !bytes.Equal(data, devConfig) {
			t.Fatalf("seeded file: %v, %d bytes", err, len(data))
		}
		mu.Lock()
		for _, n := range seen {
			if n != len(devConfig) {
				t.Fatalf("a reader saw %d bytes of the %d-byte development config", n, len(devConfig))
			}
		}
		mu.Unlock()
		if left, _ := filepath.Glob(filepath.Join(dir, ".ucollect-*")); len(left) != 0 {
			t.Errorf("temporary files left: %v", left)
		}
	}
}

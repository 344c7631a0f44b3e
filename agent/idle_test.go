package agent

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/rs/zerolog"

	"github.com/minipot/minipot/agent/agenttest"
	"github.com/minipot/minipot/agent/httpd"
	"github.com/minipot/minipot/agent/session"
	"github.com/minipot/minipot/agent/telnet"
	"github.com/minipot/minipot/internal/settings"
	"github.com/minipot/minipot/internal/store"
)

// TestIdleConnectionStack: an idle connection holds a goroutine with the
// smallest stack, 2 KiB: a telnet connection that got its greeting and
// waits for a login name, and an HTTP connection that has sent nothing
// yet (a slowloris). The greeting and the connect event go deeper than a
// new goroutine's stack allows, so the agent does them on the accept loop
// (session.Greeter); done on the connection's goroutine, they grew every
// idle connection's stack to 4 KiB, a third of what one costs.
func TestIdleConnectionStack(t *testing.T) {
	if testing.Short() {
		t.Skip("opens thousands of connections")
	}
	// Each service in a process of its own: stacks freed by the one
	// measured before would move the counts of the next.
	if key := os.Getenv(idleStackEnv); key != "" {
		fmt.Printf("stack per idle connection: %.0f\n", idleStack(t, mustService(t, key)))
		return
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{telnet.Service23, "80tcp"} {
		t.Run(key, func(t *testing.T) {
			cmd := exec.Command(exe, "-test.run", "^TestIdleConnectionStack$", "-test.count=1")
			cmd.Env = append(os.Environ(), idleStackEnv+"="+key)
			out, err := cmd.CombinedOutput()
			var per float64
			if _, serr := fmt.Sscanf(string(out), "stack per idle connection: %f", &per); err != nil || serr != nil {
				t.Fatalf("measuring in a process of its own: %v, %v\n%s", err, serr, out)
			}
			t.Logf("stack per idle connection: %.0f bytes", per)
			if per > 2.5*1024 {
				t.Errorf("each idle connection holds %.0f bytes of stack, want 2 KiB", per)
			}
		})
	}
}

const idleStackEnv = "MINIPOT_IDLE_STACK"

func mustService(t *testing.T, key string) settings.Service {
	svc, ok := settings.LookupService(key)
	if !ok {
		t.Fatalf("no service %s", key)
	}
	return svc
}

// idleStack opens a thousand connections to svc alone, served by the real
// handlers and store, reads the greeting if the service sends one, and
// returns the stack they added, per connection.
func idleStack(t *testing.T, only settings.Service) float64 {
	const conns = 1000
	st, err := store.Open(filepath.Join(t.TempDir(), "events.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	a := New(zerolog.Nop(), st, func(svc settings.Service) session.Handler {
		if svc.Kind == settings.Telnet {
			return &telnet.Handler{}
		}
		return httpd.ForService(svc.Key, svc.Port)
	})
	defer a.Close()

	greet := 0
	if only.Kind == settings.Telnet {
		greet = 12 // the IAC negotiation and the login prompt, at least
	}
	return agenttest.IdleStack(t, a, only.Key, conns, greet)
}

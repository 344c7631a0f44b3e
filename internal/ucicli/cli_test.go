package ucicli

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/minipot/minipot/internal/uci/ucitest"
)

// env is a config directory and a save directory for running the CLI.
type env struct {
	t    *testing.T
	conf string
	save string
	// viaMain runs through Main itself; it is off when the machine has
	// pending changes of a test package in the real /tmp/.uci, which
	// libuci (and so Main) always reads.
	viaMain bool
	defSave string
	stdin   string
}

func newEnv(t *testing.T, pkg string) *env {
	t.Helper()
	root := t.TempDir()
	e := &env{t: t, conf: filepath.Join(root, "config"), save: filepath.Join(root, "save"), defSave: filepath.Join(root, "default-save")}
	if err := os.Mkdir(e.conf, 0o755); err != nil {
		t.Fatal(err)
	}
	_, err := os.Stat(filepath.Join(DefaultSaveDir, pkg))
	e.viaMain = os.IsNotExist(err)
	if !e.viaMain {
		t.Logf("%s/%s exists; running without Main to keep clear of it", DefaultSaveDir, pkg)
	}
	return e
}

func (e *env) write(pkg, content string) {
	e.t.Helper()
	if err := os.WriteFile(filepath.Join(e.conf, pkg), []byte(content), 0o644); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) read(pkg string) string {
	e.t.Helper()
	b, err := os.ReadFile(filepath.Join(e.conf, pkg))
	if err != nil {
		e.t.Fatal(err)
	}
	return string(b)
}

// uci runs the CLI with -c and -t pointing into the environment.
func (e *env) uci(args ...string) (code int, stdout, stderr string) {
	e.t.Helper()
	var out, errb bytes.Buffer
	argv := append([]string{"-c", e.conf, "-t", e.save}, args...)
	in := strings.NewReader(e.stdin)
	if e.viaMain {
		code = Main("uci", argv, in, &out, &errb)
	} else {
		code = run("uci", argv, in, &out, &errb, e.defSave, false)
	}
	return code, out.String(), errb.String()
}

// TestConformance runs every shared case made with OpenWrt's uci through
// the CLI: show (output, exit status, error), export, then each command
// (exit status and output) and the file commit writes.
func TestConformance(t *testing.T) {
	for _, c := range ucitest.Load(t) {
		t.Run(c.Name, func(t *testing.T) {
			e := newEnv(t, "cfg")
			e.write("cfg", string(c.Input))
			code, out, errs := e.uci("show", "cfg")
			if code != c.Exit || out != string(c.Show) || errs != string(c.Stderr) {
				t.Errorf("show: got %d %q %q, want %d %q %q", code, out, errs, c.Exit, c.Show, c.Stderr)
			}
			code, out, _ = e.uci("export", "cfg")
			if code != c.Exit || out != string(c.Export) {
				t.Errorf("export: got %d %q, want %d %q", code, out, c.Exit, c.Export)
			}
			if c.Commands == nil {
				return
			}
			for i, argv := range c.Commands {
				code, out, errs := e.uci(argv...)
				out = strings.TrimSuffix(out, "\n")
				want := c.Results[i]
				if code != want.Exit || errs != "" {
					t.Errorf("%q: exit %d, stderr %q; want %d", argv, code, errs, want.Exit)
				}
				if argv[0] == "add" {
					if !ucitest.AnonName.MatchString(out) {
						t.Errorf("%q printed %q, not an anonymous section name", argv, out)
					}
				} else if out != want.Output {
					t.Errorf("%q printed %q, want %q", argv, out, want.Output)
				}
			}
			if code, _, errs := e.uci("commit", "cfg"); code != 0 || errs != "" {
				t.Fatalf("commit: exit %d, %q", code, errs)
			}
			if got := e.read("cfg"); got != string(c.Committed) {
				t.Errorf("committed:\n got %q\nwant %q", got, c.Committed)
			}
			if b, err := os.ReadFile(filepath.Join(e.save, "cfg")); err != nil || len(b) != 0 {
				t.Errorf("delta file after commit: %q, %v; want it empty", b, err)
			}
		})
	}
}

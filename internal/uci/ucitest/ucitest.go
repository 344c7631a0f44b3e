// Package ucitest loads the shared UCI conformance cases (produced with
// OpenWrt's own uci tool) for the tests of package uci and of the uci
// command line.
package ucitest

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// EnvDir overrides where the cases are looked for.
const EnvDir = "MINIPOT_UCI_TESTDATA"

// Case is one case folder; see the README next to the cases.
type Case struct {
	Name   string
	Input  []byte
	Show   []byte
	Export []byte
	Stderr []byte
	Exit   int
	// Commands are the uci argument lists of the optional `commands` file,
	// with Results their recorded exit statuses and outputs.
	Commands  [][]string
	Results   []Result
	Committed []byte
}

// Result is one line of command-results.
type Result struct {
	Exit   int
	Output string
}

// AnonName matches the names libuci gives anonymous sections.
var AnonName = regexp.MustCompile(`^cfg[0-9a-f]{2,8}[0-9a-f]{4}$`)

// Find returns the case directory: $MINIPOT_UCI_TESTDATA, or
// shared/testdata/uci next to the repository holding the current
// directory (found by walking up to go.mod).
func Find() (string, error) {
	if d := os.Getenv(EnvDir); d != "" {
		if fi, err := os.Stat(d); err != nil || !fi.IsDir() {
			return "", fmt.Errorf("no conformance cases at %s (from %s)", d, EnvDir)
		}
		return d, nil
	}
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for d := wd; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			cases := filepath.Join(filepath.Dir(d), "shared", "testdata", "uci")
			if fi, err := os.Stat(cases); err != nil || !fi.IsDir() {
				return "", fmt.Errorf("no conformance cases at %s", cases)
			}
			return cases, nil
		}
		if filepath.Dir(d) == d {
			return "", errors.New("go.mod not found above " + wd)
		}
	}
}

// Dir returns the case directory, or ends the test: a failure when
// CI=true, a skip otherwise.
func Dir(t testing.TB) string {
	t.Helper()
	d, err := Find()
	if err != nil {
		msg := fmt.Sprintf("UCI conformance cases needed: %v (check out shared/testdata/uci next to the repository, or set %s)", err, EnvDir)
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return d
}

// Load reads every case, or ends the test like Dir.
func Load(t testing.TB) []Case {
	t.Helper()
	cases, err := Read(Dir(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(cases) == 0 {
		t.Fatal("no UCI conformance cases found")
	}
	return cases
}

// Read reads every case folder of dir, in name order.
func Read(dir string) ([]Case, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var cases []Case
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		c, err := readCase(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("case %s: %w", e.Name(), err)
		}
		cases = append(cases, c)
	}
	return cases, nil
}

func readCase(dir string) (Case, error) {
	c := Case{Name: filepath.Base(dir)}
	read := func(name string, optional bool) ([]byte, error) {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if optional && errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
		return b, err
	}
	var err error
	for _, f := range []struct {
		name string
		dst  *[]byte
	}{{"input", &c.Input}, {"show", &c.Show}, {"export", &c.Export}, {"stderr", &c.Stderr}} {
		if *f.dst, err = read(f.name, false); err != nil {
			return c, err
		}
	}
	exit, err := read("exit", false)
	if err != nil {
		return c, err
	}
	if c.Exit, err = strconv.Atoi(strings.TrimSpace(string(exit))); err != nil {
		return c, fmt.Errorf("exit: %w", err)
	}
	commands, err := read("commands", true)
	if err != nil || commands == nil {
		return c, err
	}
	for _, line := range strings.Split(strings.TrimRight(string(commands), "\n"), "\n") {
		words, err := SplitShell(line)
		if err != nil {
			return c, fmt.Errorf("commands: %w", err)
		}
		c.Commands = append(c.Commands, words)
	}
	results, err := read("command-results", false)
	if err != nil {
		return c, err
	}
	for _, line := range strings.Split(strings.TrimRight(string(results), "\n"), "\n") {
		code, out, _ := strings.Cut(line, " ")
		n, err := strconv.Atoi(code)
		if err != nil {
			return c, fmt.Errorf("command-results: %w", err)
		}
		c.Results = append(c.Results, Result{Exit: n, Output: out})
	}
	if len(c.Results) != len(c.Commands) {
		return c, fmt.Errorf("%d commands but %d results", len(c.Commands), len(c.Results))
	}
	c.Committed, err = read("committed", false)
	return c, err
}

// SplitShell splits a line into words like a POSIX shell does for simple
// words: blanks separate, '…' is literal, "…" and bare text honour
// backslashes.
func SplitShell(line string) ([]string, error) {
	var words []string
	var w strings.Builder
	inWord := false
	for i := 0; i < len(line); i++ {
		ch := line[i]
		switch {
		case ch == ' ' || ch == '\t':
			if inWord {
				words = append(words, w.String())
				w.Reset()
				inWord = false
			}
		case ch == '\'':
			end := strings.IndexByte(line[i+1:], '\'')
			if end < 0 {
				return nil, fmt.Errorf("unterminated ' in %q", line)
			}
			w.WriteString(line[i+1 : i+1+end])
			i += end + 1
			inWord = true
		case ch == '"':
			i++
			for ; i < len(line) && line[i] != '"'; i++ {
				if line[i] == '\\' && i+1 < len(line) && strings.IndexByte("\"\\$`", line[i+1]) >= 0 {
					i++
				}
				w.WriteByte(line[i])
			}
			if i >= len(line) {
				return nil, fmt.Errorf("unterminated \" in %q", line)
			}
			inWord = true
		case ch == '\\' && i+1 < len(line):
			i++
			w.WriteByte(line[i])
			inWord = true
		default:
			w.WriteByte(ch)
			inWord = true
		}
	}
	if inWord {
		words = append(words, w.String())
	}
	return words, nil
}

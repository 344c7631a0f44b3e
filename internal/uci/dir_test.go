package uci

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
)

func TestDirLoad(t *testing.T) {
	d := Dir{Path: t.TempDir()}
	p, err := d.Load("missing")
	if err != nil || p.Name != "missing" || len(p.Sections) != 0 {
		t.Errorf("missing file: %+v, %v", p, err)
	}
	if err := os.Mkdir(filepath.Join(d.Path, "adir"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Load("adir"); !errors.Is(err, ErrNotRegular) {
		t.Errorf("directory: %v", err)
	}
	if _, err := d.Load("../etc"); err == nil {
		t.Error("path outside the directory accepted")
	}
	os.WriteFile(filepath.Join(d.Path, "bad"), []byte("config a 'x\n"), 0o644)
	var pe *ParseError
	if _, err := d.Load("bad"); !errors.As(err, &pe) || pe.Line != 1 {
		t.Errorf("bad file: %v", err)
	}
	if _, err := d.ReadFile("missing"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("ReadFile of a missing file: %v", err)
	}
}

func setOption(sec, opt, v string) func(*Package) error {
	return func(p *Package) error {
		s := p.AddSection("t", sec)
		s.Set(opt, v)
		return nil
	}
}

func TestUpdateKeepsModeAndOwner(t *testing.T) {
	d := Dir{Path: t.TempDir()}
	path := filepath.Join(d.Path, "cfg")
	if err := os.WriteFile(path, []byte("# hand-written\nconfig t 's'\n\toption a 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	os.Chmod(path, 0o640)
	asRoot := os.Geteuid() == 0
	if asRoot {
		if err := os.Chown(path, 1234, 5678); err != nil {
			t.Fatal(err)
		}
	}
	if err := d.Update("cfg", setOption("s", "b", "2")); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(path)
	if want := "\nconfig t 's'\n\toption a '1'\n\toption b '2'\n\n"; string(got) != want {
		t.Errorf("file %q, want %q", got, want)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o640 {
		t.Errorf("mode %v, want 0640", fi.Mode())
	}
	if st := fi.Sys().(*syscall.Stat_t); asRoot && (st.Uid != 1234 || st.Gid != 5678) {
		t.Errorf("owner %d:%d, want 1234:5678", st.Uid, st.Gid)
	}
	assertNoTemp(t, d.Path)
}

func assertNoTemp(t *testing.T, dir string) {
	t.Helper()
	matches, _ := filepath.Glob(filepath.Join(dir, ".*.uci-*"))
	if len(matches) != 0 {
		t.Errorf("temporary files left: %q", matches)
	}
}

func TestUpdateWritesNothingOnFailure(t *testing.T) {
	const bad = "config a 'x'\n\toption k 'unterminated\n# more\n"
	tests := []struct {
		name    string
		content string // "" means no file
		fn      func(*Package) error
		check   func(error) bool
	}{
		{"unparsable file", bad, setOption("x", "k", "v"), func(err error) bool {
			var pe *ParseError
			return errors.As(err, &pe) && pe.Reason == "EOF with unterminated '"
		}},
		{"fn fails", "config a 'x'\n", func(*Package) error { return errBoom }, func(err error) bool { return err == errBoom }},
		{"fn fails on missing file", "", func(*Package) error { return errBoom }, func(err error) bool { return err == errBoom }},
		{"invalid result", "config a 'x'\n", func(p *Package) error {
			p.Sections[0].Type = "bad type"
			return nil
		}, func(err error) bool { return err != nil }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := Dir{Path: t.TempDir()}
			path := filepath.Join(d.Path, "cfg")
			if tt.content != "" {
				if err := os.WriteFile(path, []byte(tt.content), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			before, _ := os.Stat(path)
			err := d.Update("cfg", tt.fn)
			if !tt.check(err) {
				t.Fatalf("unexpected error %v", err)
			}
			got, rerr := os.ReadFile(path)
			switch {
			case tt.content == "" && !errors.Is(rerr, fs.ErrNotExist):
				t.Errorf("file created: %q, %v", got, rerr)
			case tt.content != "" && string(got) != tt.content:
				t.Errorf("file changed to %q", got)
			case tt.content != "":
				if after, _ := os.Stat(path); !os.SameFile(before, after) {
					t.Error("file replaced")
				}
			}
			assertNoTemp(t, d.Path)
		})
	}
}

var errBoom = errors.New("boom")

func TestUpdateCreatesAndFollowsSymlink(t *testing.T) {
	d := Dir{Path: t.TempDir(), NewFileMode: 0o644}
	if err := d.Update("new", setOption("s", "a", "1")); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(d.Path, "new"))
	if err != nil || fi.Mode().Perm() != 0o644&^umask() {
		t.Errorf("new file: %v, %v", fi, err)
	}
	target := filepath.Join(t.TempDir(), "real")
	os.WriteFile(target, []byte("config t 's'\n"), 0o600)
	link := filepath.Join(d.Path, "linked")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	if err := d.Update("linked", setOption("s", "a", "1")); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&fs.ModeSymlink == 0 {
		t.Error("symlink replaced")
	}
	if got, _ := os.ReadFile(target); string(got) != "\nconfig t 's'\n\toption a '1'\n\n" {
		t.Errorf("target: %q", got)
	}
	if err := os.Symlink(filepath.Join(d.Path, "nowhere", "x"), filepath.Join(d.Path, "dangling")); err != nil {
		t.Fatal(err)
	}
	if err := d.Update("dangling", setOption("s", "a", "1")); err == nil {
		t.Error("Update through a dangling symlink succeeded")
	}
}

func umask() fs.FileMode {
	m := syscall.Umask(0)
	syscall.Umask(m)
	return fs.FileMode(m)
}

// increment adds one to cfg.counter.n and records who did it.
func increment(d Dir, who string) error {
	return d.Update("cfg", func(p *Package) error {
		s := p.AddSection("counter", "counter")
		n := 0
		if v, ok := s.Get("n"); ok {
			var err error
			if n, err = strconv.Atoi(v); err != nil {
				return err
			}
		}
		s.Set("n", strconv.Itoa(n+1))
		s.AddList("by", who)
		return nil
	})
}

func checkCount(t *testing.T, d Dir, want []string) {
	t.Helper()
	p, err := d.Load("cfg")
	if err != nil {
		t.Fatal(err)
	}
	s := p.Section("counter")
	if s == nil {
		t.Fatal("no counter")
	}
	if n, _ := s.Get("n"); n != strconv.Itoa(len(want)) {
		t.Errorf("counter %s, want %d", n, len(want))
	}
	got := s.List("by")
	sort.Strings(got)
	sort.Strings(want)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("lost updates: got %d entries, want %d", len(got), len(want))
	}
}

func TestConcurrentUpdatesGoroutines(t *testing.T) {
	d := Dir{Path: t.TempDir()}
	const workers, each = 8, 15
	var wg sync.WaitGroup
	var want []string
	errs := make(chan error, workers*each)
	for w := range workers {
		for i := range each {
			want = append(want, fmt.Sprintf("g%d_%d", w, i))
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				if err := increment(d, fmt.Sprintf("g%d_%d", w, i)); err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	checkCount(t, d, want)
	assertNoTemp(t, d.Path)
}

const childEnv = "UCI_TEST_UPDATE_CHILD"

// TestConcurrentUpdatesProcesses runs the test binary twice more, each
// incrementing the same file while the parent does too.
func TestConcurrentUpdatesProcesses(t *testing.T) {
	if spec := os.Getenv(childEnv); spec != "" {
		return // the child's work is done in TestMain
	}
	d := Dir{Path: t.TempDir()}
	const each = 25
	var cmds []*exec.Cmd
	var want []string
	for c := range 2 {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s:p%d:%d", childEnv, d.Path, c, each))
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds = append(cmds, cmd)
		for i := range each {
			want = append(want, fmt.Sprintf("p%d_%d", c, i))
		}
	}
	for i := range each {
		if err := increment(d, fmt.Sprintf("parent_%d", i)); err != nil {
			t.Error(err)
		}
		want = append(want, fmt.Sprintf("parent_%d", i))
	}
	for _, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Errorf("child: %v", err)
		}
	}
	checkCount(t, d, want)
}

// TestMain also serves as the child process of
// TestConcurrentUpdatesProcesses: UCI_TEST_UPDATE_CHILD=dir:who:count.
func TestMain(m *testing.M) {
	if spec := os.Getenv(childEnv); spec != "" {
		parts := strings.SplitN(spec, ":", 3)
		if len(parts) != 3 {
			os.Exit(2)
		}
		n, _ := strconv.Atoi(parts[2])
		for i := range n {
			if err := increment(Dir{Path: parts[0]}, fmt.Sprintf("%s_%d", parts[1], i)); err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(1)
			}
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

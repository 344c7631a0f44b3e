package ucicli

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// TestDeltaSharing reads pending changes as the real uci writes them and
// checks that what this tool writes is in the same form.
func TestDeltaSharing(t *testing.T) {
	e := newEnv(t, "cfg")
	e.write("cfg", "config foo\n\toption x '1'\n\nconfig bar 'b'\n")
	if err := os.Mkdir(e.save, 0o700); err != nil {
		t.Fatal(err)
	}
	// As libuci would record: uci add cfg foo; uci set cfg.@foo[-1].x=2;
	// a value over two lines with a quote; a list; a removal; a change to a
	// missing section (skipped) and one for another package (ignored).
	delta := "+cfg.cfg027389='foo'\n" +
		"cfg.cfg027389.x='2'\n" +
		"cfg.b.text='it'\\''s\ntwo lines'\n" +
		"|cfg.b.l='one'\n" +
		"|cfg.b.l='two'\n" +
		"-cfg.cfg017389.x\n" +
		"cfg.gone.x='1'\n" +
		"other.b.x='1'\n"
	if err := os.WriteFile(filepath.Join(e.save, "cfg"), []byte(delta), 0o600); err != nil {
		t.Fatal(err)
	}
	e.check(t, []step{
		{args: "show cfg", stdout: "cfg.@foo[0]=foo\ncfg.b=bar\ncfg.b.text='it'\\''s\ntwo lines'\ncfg.b.l='one' 'two'\ncfg.@foo[1]=foo\ncfg.@foo[1].x='2'\n"},
		{args: "changes cfg", stdout: "cfg.cfg027389='foo'\ncfg.cfg027389.x='2'\ncfg.b.text='it'\\''s\ntwo lines'\ncfg.b.l+='one'\ncfg.b.l+='two'\n-cfg.cfg017389.x\ncfg.gone.x='1'\n"},
		{args: "set cfg.@foo[-1].y=it's"},
		{args: "add cfg foo", stdout: "cfg047389\n"}, // the fourth section created
	})
	got, _ := os.ReadFile(filepath.Join(e.save, "cfg"))
	if want := delta + "cfg.cfg027389.y='it'\\''s'\n+cfg.cfg047389='foo'\n"; string(got) != want {
		t.Errorf("delta file:\n got %q\nwant %q", got, want)
	}
	e.check(t, []step{{args: "commit cfg"}})
	want := "\nconfig foo\n\nconfig bar 'b'\n\toption text 'it'\\''s\ntwo lines'\n\tlist l 'one'\n\tlist l 'two'\n\nconfig foo\n\toption x '2'\n\toption y 'it'\\''s'\n\nconfig foo\n\n"
	if got := e.read("cfg"); got != want {
		t.Errorf("committed:\n got %q\nwant %q", got, want)
	}
}

func TestDeltaDirectories(t *testing.T) {
	e := newEnv(t, "cfg")
	e.write("cfg", "config t 's'\n")
	state := filepath.Join(t.TempDir(), "state")
	extra := filepath.Join(t.TempDir(), "extra")
	os.Mkdir(extra, 0o700)
	os.WriteFile(filepath.Join(extra, "cfg"), []byte("cfg.s.from_extra='1'\n"), 0o600)
	e.check(t, []step{
		{args: "set cfg.s.a=1"},
		// -P records elsewhere but still reads the save directory, and
		// never commits.
		{args: "-P " + state + " set cfg.s.b=2"},
		{args: "-P " + state + " show cfg", stdout: "cfg.s=t\ncfg.s.a='1'\ncfg.s.b='2'\n"},
		{args: "-P " + state + " commit cfg"},
		{args: "-p " + extra + " show cfg", stdout: "cfg.s=t\ncfg.s.from_extra='1'\ncfg.s.a='1'\n"},
		{args: "commit cfg"},
	})
	if got := e.read("cfg"); got != "\nconfig t 's'\n\toption a '1'\n\n" {
		t.Errorf("committed %q", got)
	}
	if b, _ := os.ReadFile(filepath.Join(state, "cfg")); string(b) != "cfg.s.b='2'\n" {
		t.Errorf("state file %q", b)
	}
}

func TestUnparsableConfig(t *testing.T) {
	e := newEnv(t, "cfg")
	const bad = "config t 's'\n\toption a 'open\n"
	e.write("cfg", "config t 's'\n")
	e.check(t, []step{{args: "set cfg.s.a=1"}})
	e.write("cfg", bad)
	const msg = "uci: Parse error (EOF with unterminated ') at line 2, byte 16\n"
	e.check(t, []step{
		{args: "show cfg", code: 1, stderr: msg},
		{args: "set cfg.s.b=1", code: 1, stderr: msg},
		{args: "add cfg t", code: 5, stderr: msg},
		{args: "commit cfg", code: 1, stderr: msg},
		{args: "show", stderr: msg},
		{args: "-S show cfg", stdout: "cfg.s=t\ncfg.s.a='1'\n", stderr: "Parse error (EOF with unterminated ') at line 2, byte 16\n"},
	})
	if got := e.read("cfg"); got != bad {
		t.Errorf("file changed to %q", got)
	}
}

func TestCommitModes(t *testing.T) {
	e := newEnv(t, "cfg")
	e.write("cfg", "config t 's'\n")
	path := filepath.Join(e.conf, "cfg")
	os.Chmod(path, 0o640)
	os.Chmod(e.conf, 0o750)
	e.check(t, []step{{args: "set cfg.s.a=1"}})
	for p, want := range map[string]fs.FileMode{e.save: 0o750, filepath.Join(e.save, "cfg"): 0o640} {
		if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != want&^umask(t) {
			t.Errorf("%s: %v %v, want %v", p, fi.Mode(), err, want)
		}
	}
	before, _ := os.Stat(path)
	e.check(t, []step{{args: "commit cfg"}})
	after, err := os.Stat(path)
	if err != nil || after.Mode().Perm() != 0o640 || os.SameFile(before, after) {
		t.Errorf("after commit: %v %v (replaced: %v)", after.Mode(), err, !os.SameFile(before, after))
	}
	// Nothing pending: nothing written.
	e.check(t, []step{{args: "commit cfg"}})
	if again, _ := os.Stat(path); !os.SameFile(after, again) {
		t.Error("commit without changes rewrote the file")
	}
}

func umask(t *testing.T) fs.FileMode {
	dir := t.TempDir()
	p := filepath.Join(dir, "probe")
	if err := os.WriteFile(p, nil, 0o777); err != nil {
		t.Fatal(err)
	}
	fi, _ := os.Stat(p)
	return 0o777 &^ fi.Mode().Perm()
}

// TestConcurrentCLI sets and commits from many goroutines at once: every
// change ends up in the file.
func TestConcurrentCLI(t *testing.T) {
	e := newEnv(t, "cfg")
	e.write("cfg", "config t 's'\n")
	const n = 12
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if code, _, errs := e.uci("set", fmt.Sprintf("cfg.s.o%d=%d", i, i)); code != 0 {
				t.Errorf("set: %d %s", code, errs)
			}
			if code, _, errs := e.uci("commit", "cfg"); code != 0 {
				t.Errorf("commit: %d %s", code, errs)
			}
		}()
	}
	wg.Wait()
	got := e.read("cfg")
	for i := range n {
		if !strings.Contains(got, fmt.Sprintf("\toption o%d '%d'\n", i, i)) {
			t.Errorf("o%d lost: %q", i, got)
		}
	}
}

package ucicli

import (
	"strings"
	"testing"
)

// step is one uci invocation and what it must print.
type step struct {
	args   string // split on spaces; "\x00" stands for a space inside an argument
	stdin  string
	code   int
	stdout string
	stderr string // "" means nothing; "usage" means the usage text
	getopt string // a getopt complaint before the usage
}

func (e *env) check(t *testing.T, steps []step) {
	t.Helper()
	for _, st := range steps {
		args := strings.Fields(st.args)
		for i := range args {
			args[i] = strings.ReplaceAll(args[i], "\x00", " ")
		}
		e.stdin = st.stdin
		code, out, errs := e.uci(args...)
		if st.stderr == "usage" {
			errs = strings.TrimPrefix(errs, st.getopt)
			if !strings.HasPrefix(errs, "Usage: uci [<options>] <command> [<arguments>]\n") {
				t.Errorf("%s: stderr %q, want the usage", st.args, errs)
			}
			errs = "usage"
		}
		if code != st.code || out != st.stdout || errs != st.stderr {
			t.Errorf("%s:\n got %d %q %q\nwant %d %q %q", st.args, code, out, errs, st.code, st.stdout, st.stderr)
		}
	}
}

const sample = "config foo\n\toption x '1'\n\nconfig bar 'b'\n\tlist l 'a b'\n\tlist l 'c'\n\toption s 'it'\\''s'\n"

func TestCommands(t *testing.T) {
	tests := []struct {
		name  string
		steps []step
		file  string // the config file at the end; "" to skip the check
	}{
		{"get", []step{
			{args: "get cfg.b.l", code: 0, stdout: "'a b' c\n"},
			{args: "get cfg.b.s", code: 0, stdout: "it's\n"},
			{args: "get cfg.b", code: 0, stdout: "bar\n"},
			{args: "get cfg.@foo[0].x", code: 0, stdout: "1\n"},
			{args: "get cfg.@bar[-1]", code: 0, stdout: "bar\n"},
			{args: "get cfg", code: 0},
			{args: "-d , get cfg.b.l", code: 0, stdout: "'a b',c\n"},
			{args: "get cfg.b.nope", code: 1, stderr: "uci: Entry not found\n"},
			{args: "get cfg.@foo[5]", code: 1, stderr: "uci: Entry not found\n"},
			{args: "get cfg.@foo", code: 1, stderr: "uci: Invalid argument\n"},
			{args: "get cfg.b-c", code: 1, stderr: "uci: Invalid argument\n"},
			{args: "get cfg.b.x-y", code: 1, stderr: "uci: Parse error\n"},
			{args: "get cfg.b.s.t", code: 1, stderr: "uci: Parse error\n"},
			{args: "get cfg.b=x", code: 1},
			{args: "get nope.b", code: 1, stderr: "uci: Entry not found\n"},
			{args: "-q get nope.b", code: 1},
			{args: "get", code: 255, stderr: "usage"},
		}, sample},
		{"show", []step{
			{args: "show cfg", stdout: "cfg.@foo[0]=foo\ncfg.@foo[0].x='1'\ncfg.b=bar\ncfg.b.l='a b' 'c'\ncfg.b.s='it'\\''s'\n"},
			{args: "show cfg.b", stdout: "cfg.b=bar\ncfg.b.l='a b' 'c'\ncfg.b.s='it'\\''s'\n"},
			{args: "show cfg.b.l", stdout: "cfg.b.l='a b' 'c'\n"},
			{args: "-X show cfg.@foo[0].x", stdout: "cfg.cfg017389.x='1'\n"},
			{args: "show cfg.@foo[0].x", stdout: "cfg.cfg017389.x='1'\n"},
			{args: "-X show cfg", stdout: "cfg.cfg017389=foo\ncfg.cfg017389.x='1'\ncfg.b=bar\ncfg.b.l='a b' 'c'\ncfg.b.s='it'\\''s'\n"},
			{args: "show cfg.nope", code: 1, stderr: "uci: Entry not found\n"},
			{args: "show", stdout: "cfg.@foo[0]=foo\ncfg.@foo[0].x='1'\ncfg.b=bar\ncfg.b.l='a b' 'c'\ncfg.b.s='it'\\''s'\n"},
			{args: "export cfg", stdout: "package cfg\n\n" + "config foo\n\toption x '1'\n\nconfig bar 'b'\n\tlist l 'a b'\n\tlist l 'c'\n\toption s 'it'\\''s'\n\n"},
			{args: "-n export cfg", stdout: "package cfg\n\n" + "config foo 'cfg017389'\n\toption x '1'\n\nconfig bar 'b'\n\tlist l 'a b'\n\tlist l 'c'\n\toption s 'it'\\''s'\n\n"},
			{args: "show cfg extra", code: 255, stderr: "usage"},
		}, sample},
		{"set and commit", []step{
			{args: "set cfg.b.s=new\x00value"},
			{args: "set cfg.b.l=plain"},
			{args: "set cfg.b.s=new\x00value"},
			{args: "set cfg.@foo[0].y=2"},
			{args: "set cfg.n=newtype"},
			{args: "set cfg.n.o=o"},
			{args: "set cfg.b.nothing="},
			{args: "set cfg.@foo[0].x="},
			{args: "changes cfg", stdout: "cfg.b.s='new value'\ncfg.b.l='plain'\ncfg.cfg017389.y='2'\ncfg.n='newtype'\ncfg.n.o='o'\n-cfg.cfg017389.x\n"},
			{args: "get cfg.b.s", stdout: "new value\n"},
			{args: "set cfg.nope.o=1", code: 1, stderr: "uci: Invalid argument\n"},
			{args: "set cfg.n=bad\x00type", code: 1, stderr: "uci: Invalid argument\n"},
			{args: "set cfg.b.o", code: 1, stderr: "uci: Invalid argument\n"},
			{args: "set cfg.b.o=a\x01b", code: 1, stderr: "uci: Parse error\n"},
			{args: "set cfg.b.o", code: 1, stderr: "uci: Invalid argument\n"},
			{args: "commit cfg"},
			{args: "changes cfg"},
		}, "\nconfig foo\n\toption y '2'\n\nconfig bar 'b'\n\toption l 'plain'\n\toption s 'new value'\n\nconfig newtype 'n'\n\toption o 'o'\n\n"},
		{"lists", []step{
			{args: "add_list cfg.b.l=d"},
			{args: "add_list cfg.@foo[0].x=2"},
			{args: "add_list cfg.b.new=1"},
			{args: "del_list cfg.b.l=c"},
			{args: "del_list cfg.b.s=it's"},
			{args: "del_list cfg.b.nope=1"},
			{args: "delete cfg.b.l=0"},
			{args: "delete cfg.b.l=9"},
			{args: "delete cfg.b.l=x", code: 1},
			{args: "add_list cfg.nope.l=1", code: 1, stderr: "uci: Invalid argument\n"},
			{args: "changes", stdout: "cfg.b.l+='d'\ncfg.cfg017389.x+='2'\ncfg.b.new+='1'\ncfg.b.l-='c'\n-cfg.b.l\n"},
			{args: "show cfg.b.l", stdout: "cfg.b.l='d'\n"},
			{args: "commit"},
		}, "\nconfig foo\n\tlist x '1'\n\tlist x '2'\n\nconfig bar 'b'\n\tlist l 'd'\n\toption s 'it'\\''s'\n\tlist new '1'\n\n"},
		{"add, rename, reorder, delete", []step{
			{args: "add cfg baz", stdout: "cfg0360c2\n"},
			{args: "add cfg baz", stdout: "cfg0460c2\n"},
			{args: "add cfg bad\x00type", code: 2, stderr: "uci: Invalid argument\n"},
			{args: "add nope baz", code: 3, stderr: "uci: Entry not found\n"},
			{args: "set cfg.@baz[0].k=v"},
			{args: "rename cfg.@baz[-1]=last"},
			{args: "rename cfg.b.s=t"},
			{args: "rename cfg.b=bad-name", code: 1, stderr: "uci: Invalid argument\n"},
			{args: "rename cfg.nope=x", code: 1, stderr: "uci: Entry not found\n"},
			{args: "reorder cfg.last=0"},
			{args: "reorder cfg.nope=0", code: 1, stderr: "uci: Entry not found\n"},
			{args: "delete cfg.@foo[0]"},
			{args: "delete cfg.@foo[0]", code: 1, stderr: "uci: Entry not found\n"},
			{args: "delete cfg", code: 1, stderr: "uci: Invalid argument\n"},
			{args: "show cfg", stdout: "cfg.last=baz\ncfg.b=bar\ncfg.b.l='a b' 'c'\ncfg.b.t='it'\\''s'\ncfg.@baz[1]=baz\ncfg.@baz[1].k='v'\n"},
			{args: "commit cfg"},
		}, "\nconfig baz 'last'\n\nconfig bar 'b'\n\tlist l 'a b'\n\tlist l 'c'\n\toption t 'it'\\''s'\n\nconfig baz\n\toption k 'v'\n\n"},
		{"revert", []step{
			{args: "set cfg.b.s=1"},
			{args: "set cfg.b.x=2"},
			{args: "set cfg.@foo[0].x=3"},
			{args: "revert cfg.b.s"},
			{args: "changes cfg", stdout: "cfg.b.x='2'\ncfg.cfg017389.x='3'\n"},
			{args: "revert cfg.@foo[0]"},
			{args: "changes cfg", stdout: "cfg.b.x='2'\n"},
			{args: "revert cfg.b=1", code: 1},
			{args: "revert cfg"},
			{args: "changes cfg"},
			{args: "revert cfg.b"},
			{args: "commit cfg"},
		}, sample},
		{"batch", []step{
			{args: "batch", stdin: "set cfg.b.s='one two'\nget cfg.b.s\n# comment\n\nadd_list cfg.b.l=\"x y\"\nshow cfg.b.l\nbogus\nset a b c\nexit\nget cfg.b.s\n",
				stdout: "one two\ncfg.b.l='a b' 'c' 'x y'\n", stderr: "Unknown command\nToo many arguments\n"},
			{args: "batch", stdin: "get cfg.b.s\nget cfg.b.s 'unterminated\n", stdout: "one two\n", stderr: "uci: Parse error (EOF with unterminated ') at line 1, byte 26\n"},
			{args: "-q batch", stdin: "bogus\nget cfg.nope\n"},
			{args: "batch", stdin: "batch\n", stderr: "Unknown command\n"},
		}, ""},
		{"options", []step{
			{args: "-z show cfg", stderr: "usage", getopt: "uci: unrecognized option: z\n"},
			{args: "-c", stderr: "usage", getopt: "uci: option requires an argument: c\n"},
			{args: "", stderr: "usage"},
			{args: "help", stderr: "usage"},
			{args: "-qX -- show cfg.@foo[0]", stdout: "cfg.cfg017389=foo\ncfg.cfg017389.x='1'\n"},
			{args: "SHOW cfg.b.s", stdout: "cfg.b.s='it'\\''s'\n"},
		}, sample},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, "cfg")
			e.write("cfg", sample)
			e.check(t, tt.steps)
			if tt.file != "" {
				if got := e.read("cfg"); got != tt.file {
					t.Errorf("file:\n got %q\nwant %q", got, tt.file)
				}
			}
		})
	}
}

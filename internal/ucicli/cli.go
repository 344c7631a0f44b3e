package ucicli

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/minipot/minipot/internal/uci"
)

// DefaultSaveDir is where libuci keeps pending changes.
const DefaultSaveDir = "/tmp/.uci"

// Main runs one uci command line. prog names the tool in messages (libuci
// prints its argv[0]); args are the arguments after it. It returns the
// exit status `uci` would.
func Main(prog string, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return run(prog, args, stdin, stdout, stderr, DefaultSaveDir, false)
}

// MainStrict is Main as a minipot subcommand: options may stand after the
// command too, -h and --help print the usage on stdout and exit 0, and an
// unknown option, one without its value, an unknown command or wrong
// arguments exit 2, as every minipot subcommand does. OpenWrt's uci takes
// options before the command only, exits 0 on the first three and 255 on
// the rest, and prints the usage on stderr; Main keeps that.
func MainStrict(prog string, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return run(prog, args, stdin, stdout, stderr, DefaultSaveDir, true)
}

// run is Main with the built-in save directory as a parameter, so tests
// need not touch the real /tmp/.uci (libuci always reads it first).
func run(prog string, args []string, stdin io.Reader, stdout, stderr io.Writer, defaultSave string, strict bool) int {
	out := bufio.NewWriter(stdout)
	c := &cli{
		prog:       prog,
		in:         stdin,
		out:        out,
		errw:       stderr,
		confdir:    uci.DefaultDir,
		savedir:    defaultSave,
		deltaPaths: []string{defaultSave},
		showExt:    true,
		delim:      " ",
		strict:     strict,
	}
	code := c.main(args)
	out.Flush()
	return code
}

// libuci's error codes, which are also exit statuses of `uci add`.
const (
	codeMem       = 1
	codeInval     = 2
	codeNotFound  = 3
	codeIO        = 4
	codeParse     = 5
	codeDuplicate = 6
)

// codeText is libuci's message for an error code.
func codeText(code int) string {
	switch code {
	case codeMem:
		return "Out of memory"
	case codeInval:
		return "Invalid argument"
	case codeNotFound:
		return "Entry not found"
	case codeIO:
		return "I/O error"
	case codeParse:
		return "Parse error"
	case codeDuplicate:
		return "Duplicate entry"
	default:
		return "Unknown error"
	}
}

// uciError is a failure as libuci reports it: a code, and for a parse
// error the details of the parse context.
type uciError struct {
	code   int
	detail string // " (reason) at line L, byte B" for parse errors
	err    error  // the underlying error, for the curious
}

func (e *uciError) Error() string { return codeText(e.code) + e.detail }
func (e *uciError) Unwrap() error { return e.err }

// asUCIError maps library and system errors to libuci's codes.
func asUCIError(err error) *uciError {
	var ue *uciError
	var pe *uci.ParseError
	switch {
	case errors.As(err, &ue):
		return ue
	case errors.As(err, &pe):
		return &uciError{code: codeParse, detail: fmt.Sprintf(" (%s) at line %d, byte %d", pe.Reason, pe.Line, pe.Byte), err: err}
	case errors.Is(err, uci.ErrNotFound):
		return &uciError{code: codeNotFound, err: err}
	case errors.Is(err, uci.ErrInvalid):
		return &uciError{code: codeInval, err: err}
	default:
		return &uciError{code: codeIO, err: err}
	}
}

type cli struct {
	strict bool // MainStrict
	prog   string
	in     io.Reader
	out    *bufio.Writer
	errw   io.Writer

	confdir    string
	savedir    string
	deltaPaths []string // read in order; the save directory is always last
	input      string   // -f
	quiet      bool
	showExt    bool // "@type[i]" names in show (off with -X)
	noCommit   bool // -P: changes go to a state directory, never committed
	lenient    bool // -S
	names      bool // -n: export anonymous section names
	delim      string

	// batch state: the reader shares libuci's parse context, which loading
	// a config file replaces.
	batch    *uci.ArgReader
	reparsed bool
}

// errorf prints a message of the tool itself unless -q.
func (c *cli) errorf(format string, a ...any) {
	if c.quiet {
		return
	}
	c.out.Flush()
	fmt.Fprintf(c.errw, format, a...)
}

// perror prints err the way libuci's uci_perror does, unless -q.
func (c *cli) perror(err error) {
	c.errorf("%s: %s\n", c.prog, asUCIError(err).Error())
}

// parseErrorHere is the error libuci reports for a malformed argument:
// "Parse error", with the details of whatever its parse context last held,
// which in batch mode is the batch input.
func (c *cli) parseErrorHere() error {
	if c.batch == nil || c.reparsed {
		return &uciError{code: codeParse}
	}
	reason, line, pos := c.batch.State()
	if reason == "" {
		reason = "unknown"
	}
	return &uciError{code: codeParse, detail: fmt.Sprintf(" (%s) at line %d, byte %d", reason, line, pos)}
}

func (c *cli) main(args []string) int {
	if c.strict {
		args = optionsFirst(args)
	}
	rest, code, ok := c.options(args)
	if !ok {
		return code
	}
	if len(rest) < 1 {
		c.usage()
		return 0
	}
	code = c.command(rest)
	if code == 255 {
		c.usage()
		if c.strict {
			return 2 // an unknown command or wrong arguments, as for every minipot subcommand
		}
	}
	return code
}

// optionsFirst moves the options after the command before it, followed
// by "--", as GNU getopt reorders: a minipot subcommand takes its options
// wherever they stand (`minipot uci show --help`), OpenWrt's uci only
// before the command. "--" ends the options.
func optionsFirst(args []string) []string {
	var opts, words []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			words = append(words, args[i+1:]...)
			i = len(args)
		case len(a) < 2 || a[0] != '-':
			words = append(words, a)
		default:
			opts = append(opts, a)
			// An option that takes a value as the cluster's last letter
			// takes the next argument.
			if strings.IndexByte("cdfpPt", a[len(a)-1]) >= 0 && !strings.HasPrefix(a, "--") &&
				!strings.ContainsAny(a[1:len(a)-1], "cdfpPt") {
				if i+1 == len(args) {
					// Its value is missing: options says so.
					return opts
				}
				i++
				opts = append(opts, args[i])
			}
		}
	}
	return append(append(opts, "--"), words...)
}

// options handles the options before the command like POSIX getopt with
// "c:d:f:LmnNp:P:qsSt:X" (no reordering, as on OpenWrt).
func (c *cli) options(args []string) (rest []string, code int, ok bool) {
	i := 0
	for ; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			i++
			break
		}
		if len(a) < 2 || a[0] != '-' {
			break
		}
		if c.strict && (a == "-h" || a == "--help") {
			c.usageTo(c.out)
			return nil, 0, false
		}
		if c.strict && strings.HasPrefix(a, "--") {
			fmt.Fprintf(c.errw, "%s: unrecognized option: %s\n", c.prog, a)
			c.usage()
			return nil, 2, false
		}
		for j := 1; j < len(a); j++ {
			opt := a[j]
			switch opt {
			case 'c', 'd', 'f', 'p', 'P', 't':
				var val string
				switch {
				case j+1 < len(a):
					val = a[j+1:]
				case i+1 < len(args):
					i++
					val = args[i]
				default:
					fmt.Fprintf(c.errw, "%s: option requires an argument: %c\n", c.prog, opt)
					c.usage()
					if c.strict {
						return nil, 2, false
					}
					return nil, 0, false
				}
				if code, ok := c.valueOption(opt, val); !ok {
					return nil, code, false
				}
				j = len(a)
			case 'm', 'n', 'N', 'q', 's', 'S', 'X':
				c.flagOption(opt)
			default:
				if opt != 'L' {
					fmt.Fprintf(c.errw, "%s: unrecognized option: %c\n", c.prog, opt)
				}
				c.usage()
				if c.strict {
					return nil, 2, false
				}
				return nil, 0, false
			}
		}
	}
	return args[i:], 0, true
}

func (c *cli) valueOption(opt byte, val string) (int, bool) {
	switch opt {
	case 'c':
		c.confdir = val
	case 'd':
		c.delim = val
	case 'f':
		if c.input != "" {
			c.errorf("Too many input files.\n")
			return 1, false
		}
		f, err := os.Open(val)
		if err != nil {
			c.errorf("uci: %s", errText(err))
			return 1, false
		}
		f.Close()
		c.input = val
	case 'p':
		c.addDeltaPath(val)
	case 'P':
		c.setSaveDir(val)
		c.noCommit = true
	case 't':
		c.setSaveDir(val)
	}
	return 0, true
}

func (c *cli) flagOption(opt byte) {
	switch opt {
	case 'q':
		c.quiet = true
	case 's':
		c.lenient = false
	case 'S':
		c.lenient = true
	case 'n':
		c.names = true
	case 'N':
		c.names = false
	case 'X':
		c.showExt = false
	case 'm':
		// Merging applies to import, which this tool does not offer.
	}
}

// errText is C's strerror text for err.
func errText(err error) string {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return errno.Error()
	}
	return err.Error()
}

// addDeltaPath adds a directory of pending changes to read, before the
// save directory; libuci ignores a directory given twice.
func (c *cli) addDeltaPath(dir string) {
	for _, d := range c.deltaPaths {
		if d == dir {
			return
		}
	}
	last := len(c.deltaPaths) - 1
	c.deltaPaths = append(c.deltaPaths[:last], dir, c.deltaPaths[last])
}

// setSaveDir makes dir the save directory, moving it to the end of the
// directories read. The previous ones are still read, as in libuci.
func (c *cli) setSaveDir(dir string) {
	kept := c.deltaPaths[:0]
	for _, d := range c.deltaPaths {
		if d != dir {
			kept = append(kept, d)
		}
	}
	c.deltaPaths = append(kept, dir)
	c.savedir = dir
}

func (c *cli) usage() { c.usageTo(c.errw) }

func (c *cli) usageTo(w io.Writer) {
	c.out.Flush()
	fmt.Fprintf(w, `Usage: %s [<options>] <command> [<arguments>]

Commands:
%s
Options:
	-c <path>  directory of the config files (default: %s)
	-d <str>   separator of list items in show and get (default: a space)
	-f <file>  read batch commands from <file> instead of standard input
	-n         export anonymous sections with their names
	-N         export anonymous sections without names (default)
	-p <path>  also read pending changes from <path>
	-P <path>  like -p, and record changes there; commit does nothing
	-t <path>  record pending changes in <path> (default: %s)
	-q         print no error messages
	-s         stop at the first syntax error in a config file (default)
	-S         skip lines with syntax errors
	-X         show anonymous sections by name instead of @type[index]

`, c.prog, commandLines(), uci.DefaultDir, DefaultSaveDir)
}

// commandTable is the commands the usage names, in its order, with their
// arguments; command runs them (and libuci's short aliases).
var commandTable = []struct{ name, args string }{
	{"batch", ""},
	{"export", "[<config>]"},
	{"changes", "[<config>]"},
	{"commit", "[<config>]"},
	{"add", "<config> <section-type>"},
	{"add_list", "<config>.<section>.<option>=<string>"},
	{"del_list", "<config>.<section>.<option>=<string>"},
	{"show", "[<config>[.<section>[.<option>]]]"},
	{"get", "<config>.<section>[.<option>]"},
	{"set", "<config>.<section>[.<option>]=<value>"},
	{"delete", "<config>[.<section>[[.<option>][=<id>]]]"},
	{"rename", "<config>.<section>[.<option>]=<name>"},
	{"revert", "<config>[.<section>[.<option>]]"},
	{"reorder", "<config>.<section>=<position>"},
}

// Commands names the commands, as the usage lists them.
func Commands() []string {
	var names []string
	for _, c := range commandTable {
		names = append(names, c.name)
	}
	return names
}

func commandLines() string {
	var b strings.Builder
	for _, c := range commandTable {
		if c.args == "" {
			fmt.Fprintf(&b, "\t%s\n", c.name)
			continue
		}
		fmt.Fprintf(&b, "\t%-10s %s\n", c.name, c.args)
	}
	return b.String()
}

// command runs one command (libuci's uci_cmd); 255 means unknown command
// or wrong arguments, for which the caller prints the usage.
func (c *cli) command(argv []string) int {
	switch name := asciiLower(argv[0]); name {
	case "batch":
		if c.batch == nil {
			return c.runBatch()
		}
		return 255
	case "show", "changes", "export", "commit":
		return c.packageCommand(name, argv)
	case "get", "set", "ren", "rename", "revert", "reorder", "del", "delete", "add_list", "del_list":
		return c.sectionCommand(name, argv)
	case "add":
		return c.add(argv)
	case "help":
		c.usage()
		return 0
	default:
		return 255
	}
}

// asciiLower lower-cases ASCII letters only, as strcasecmp compares.
func asciiLower(s string) string {
	b := []byte(s)
	for i, ch := range b {
		if ch >= 'A' && ch <= 'Z' {
			b[i] = ch + 'a' - 'A'
		}
	}
	return string(b)
}

// loaded is a package as libuci loads it: the file, then the pending
// changes of every delta directory applied in order.
type loaded struct {
	p     *uci.Package
	saved []uci.Change // the pending changes read, for `changes`
}

func (c *cli) dir() uci.Dir { return uci.Dir{Path: c.confdir} }

func (c *cli) parseOptions() uci.ParseOptions {
	return uci.ParseOptions{
		Lenient: c.lenient,
		OnError: func(pe *uci.ParseError) {
			// libuci prints skipped errors even with -q.
			c.out.Flush()
			fmt.Fprintf(c.errw, "%s\n", pe.Error())
		},
	}
}

func (c *cli) load(name string) (*loaded, error) {
	if !uci.ValidPackageName(name) {
		// libuci would read a path here; only config names are supported.
		return nil, &uciError{code: codeNotFound}
	}
	data, err := c.dir().ReadFile(name)
	switch {
	case errors.Is(err, fs.ErrNotExist), errors.Is(err, uci.ErrNotRegular):
		return nil, &uciError{code: codeNotFound, err: err}
	case err != nil:
		return nil, &uciError{code: codeIO, err: err}
	}
	c.reparsed = true
	p, err := uci.ParseWith(name, data, c.parseOptions())
	if err != nil {
		return nil, err
	}
	l := &loaded{p: p}
	for _, d := range c.deltaPaths {
		data, err := readLocked(filepath.Join(d, name))
		if err != nil {
			continue // libuci ignores unreadable delta files
		}
		changes, _ := uci.ParseChanges(data)
		for _, ch := range changes {
			if ch.Package != name {
				continue
			}
			l.saved = append(l.saved, ch)
			p.Apply(ch) //nolint:errcheck // failing changes are skipped, as in libuci
		}
	}
	return l, nil
}

// readLocked reads a delta file under a shared lock.
func readLocked(path string) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: %w", path, uci.ErrNotRegular)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if err := uci.Flock(f, syscall.LOCK_SH); err != nil {
		return nil, err
	}
	return io.ReadAll(f)
}

// target is a looked-up "config[.section[.option]][=value]" argument
// (libuci's uci_lookup_ptr).
type target struct {
	ref      uci.Ref
	l        *loaded
	s        *uci.Section
	o        *uci.Option
	complete bool
}

func (c *cli) lookup(arg string) (*target, error) {
	ref, ok := uci.ParseRef(arg)
	if !ok {
		return nil, c.parseErrorHere()
	}
	l, err := c.load(ref.Package)
	if err != nil {
		return nil, err
	}
	t := &target{ref: ref, l: l}
	if ref.HasSection {
		s, err := l.p.LookupSection(ref.Section)
		if err != nil {
			return nil, err
		}
		if s != nil {
			t.s = s
			t.ref.Section = s.Name
		}
	}
	if t.s != nil && ref.HasOption {
		t.o = t.s.Option(ref.Option)
	}
	t.complete = !ref.HasSection || t.s != nil && (!ref.HasOption || t.o != nil)
	return t, nil
}

func (c *cli) packageCommand(cmd string, argv []string) int {
	if len(argv) > 2 {
		return 255
	}
	if len(argv) == 2 {
		return c.packageCommandOn(cmd, argv[1])
	}
	configs, err := c.listConfigs()
	if err != nil {
		c.perror(err)
		return 1
	}
	for _, name := range configs {
		c.packageCommandOn(cmd, name)
	}
	return 0
}

// listConfigs lists the config files like libuci: the files of the config
// directory in byte order, without names containing '.' or not valid.
func (c *cli) listConfigs() ([]string, error) {
	entries, err := os.ReadDir(c.confdir)
	if err != nil {
		return nil, &uciError{code: codeNotFound, err: err}
	}
	var names []string
	matched := false // by libuci's glob "*", which skips dot files
	for _, e := range entries {
		name := e.Name()
		if name[0] == '.' {
			continue
		}
		matched = true
		if !uci.ValidPackageName(name) {
			continue
		}
		if fi, err := os.Stat(filepath.Join(c.confdir, name)); err == nil && fi.IsDir() {
			continue
		}
		names = append(names, name)
	}
	if !matched {
		return nil, &uciError{code: codeNotFound}
	}
	return names, nil
}

func (c *cli) packageCommandOn(cmd, arg string) int {
	t, err := c.lookup(arg)
	if err != nil {
		c.perror(err)
		return 1
	}
	p := t.l.p
	switch cmd {
	case "changes":
		for _, ch := range t.l.saved {
			fmt.Fprintln(c.out, ch.String())
		}
	case "commit":
		if c.noCommit {
			return 0
		}
		if err := c.commit(p.Name); err != nil {
			c.perror(err)
			return 1
		}
	case "export":
		if c.names {
			c.out.Write(p.ExportNamed())
		} else {
			c.out.Write(p.Export())
		}
	case "show":
		switch {
		case !t.complete:
			c.perror(uci.ErrNotFound)
			return 1
		case t.o != nil:
			io.WriteString(c.out, uci.ShowOption(p.Name, t.s.Name, t.o, c.delim))
		case t.s != nil:
			io.WriteString(c.out, uci.ShowSection(p.Name, t.s.Name, t.s, c.delim))
		default:
			c.out.Write(p.ShowWith(uci.ShowOptions{RealNames: !c.showExt, Delimiter: c.delim}))
		}
	}
	return 0
}

// kindOf is the change a section command makes.
func kindOf(cmd string) uci.ChangeKind {
	switch cmd {
	case "ren", "rename":
		return uci.ChangeRename
	case "reorder":
		return uci.ChangeReorder
	case "del", "delete":
		return uci.ChangeRemove
	case "add_list":
		return uci.ChangeAddList
	case "del_list":
		return uci.ChangeDelList
	default:
		return uci.ChangeSet
	}
}

func (c *cli) sectionCommand(cmd string, argv []string) int {
	if len(argv) != 2 {
		return 255
	}
	t, err := c.lookup(argv[1])
	if err != nil {
		c.perror(err)
		return 1
	}
	ref := t.ref
	if ref.HasValue && (cmd == "get" || cmd == "revert") {
		return 1
	}
	switch cmd {
	case "get":
		switch {
		case !t.complete:
			c.perror(uci.ErrNotFound)
			return 1
		case t.o != nil:
			fmt.Fprintln(c.out, uci.FormatValue(t.o, false, c.delim))
		case t.s != nil:
			fmt.Fprintln(c.out, t.s.Type)
		}
		return 0
	case "revert":
		// libuci's CLI reports nothing about a failed revert.
		c.revert(t) //nolint:errcheck
		return 0
	case "reorder":
		if t.s == nil || !ref.HasValue {
			c.perror(uci.ErrNotFound)
			return 1
		}
	case "del", "delete":
		if ref.HasValue && !scansInt(ref.Value) {
			return 1
		}
	}
	ch := uci.Change{Kind: kindOf(cmd), Package: ref.Package, Option: ref.Option, Value: ref.Value, HasValue: ref.HasValue}
	if ref.HasSection {
		ch.Section = ref.Section
	}
	rec, err := t.l.p.Apply(ch)
	if err == nil && rec != nil {
		err = c.save(ref.Package, *rec)
	}
	if err != nil {
		c.perror(err)
		return 1
	}
	return 0
}

// scansInt is false only where C's sscanf(s, "%d") matches nothing
// although s holds more than white space.
func scansInt(s string) bool {
	i := 0
	for i < len(s) && (s[i] == ' ' || s[i] >= '\t' && s[i] <= '\r') {
		i++
	}
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		i++
		return i < len(s) && s[i] >= '0' && s[i] <= '9'
	}
	return i == len(s) || s[i] >= '0' && s[i] <= '9'
}

// add adds an anonymous section and prints its name; like libuci it
// exits with the library's error code on failure.
func (c *cli) add(argv []string) int {
	if len(argv) != 3 {
		return 255
	}
	l, err := c.load(argv[1])
	if err == nil && !uci.ValidType(argv[2]) {
		err = uci.ErrInvalid
	}
	var s *uci.Section
	if err == nil {
		s = l.p.AddSection(argv[2], "")
		err = c.save(l.p.Name, uci.Change{Kind: uci.ChangeAdd, Package: l.p.Name, Section: s.Name, Value: argv[2], HasValue: true})
	}
	if err != nil {
		ue := asUCIError(err)
		c.perror(ue)
		return ue.code
	}
	fmt.Fprintln(c.out, s.Name)
	return 0
}

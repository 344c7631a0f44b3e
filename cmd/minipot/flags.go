package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
)

// usage is what `minipot COMMAND --help` prints: a synopsis, what the
// command does, and its options.
type usage struct {
	synopsis string // after "usage: minipot "
	about    []string
}

// parseFlags parses a subcommand's arguments the same way for every
// subcommand: -h or --help prints the usage on stdout and exits 0 (asked
// for, it is the output); a bad option prints the error and the usage on
// stderr and exits 2. Options may stand before, between and after the
// words (`minipot rpcd list --help`, `minipot firewall --json status`);
// "--" ends them. args are the words, in order; ok is false when the
// command must return code now.
func parseFlags(fs *flag.FlagSet, u usage, in []string, stdout, stderr io.Writer) (args []string, code int, ok bool) {
	// flag prints its own usage on both paths; this prints it once, where
	// it belongs.
	fs.Usage = func() {}
	fs.SetOutput(io.Discard)
	defer func() {
		fs.SetOutput(stderr)
		fs.Usage = func() { u.print(fs, stderr) }
	}()
	for rest := in; ; {
		err := fs.Parse(rest)
		switch {
		case errors.Is(err, flag.ErrHelp):
			u.print(fs, stdout)
			return nil, 0, false
		case err != nil:
			fmt.Fprintf(stderr, "minipot %s: %v\n", fs.Name(), err)
			u.print(fs, stderr)
			return nil, 2, false
		}
		left := fs.Args()
		if len(left) == 0 {
			return args, 0, true
		}
		if used := len(rest) - len(left); used > 0 && rest[used-1] == "--" {
			return append(args, left...), 0, true
		}
		args, rest = append(args, left[0]), left[1:]
	}
}

// noArgs refuses words where a command takes none: exit 2, as for a bad
// option. ok is false when the command must return code now.
func noArgs(fs *flag.FlagSet, args []string, stderr io.Writer) (code int, ok bool) {
	if len(args) == 0 {
		return 0, true
	}
	fmt.Fprintf(stderr, "minipot %s: unexpected argument %q\n", fs.Name(), args[0])
	fs.Usage()
	return 2, false
}

// refuseRoot is the check of every command that reads what the network
// sends (the agent, the exporter): a bug in it must not be a root shell.
// why ends the message; it returns true when the command must stop.
func refuseRoot(name string, allowRoot bool, why string, stderr io.Writer) bool {
	if os.Geteuid() != 0 || allowRoot {
		return false
	}
	fmt.Fprintf(stderr, "minipot %s: refusing to run as root: %s, or pass --allow-root.\n", name, why)
	return true
}

func (u usage) print(fs *flag.FlagSet, w io.Writer) {
	fmt.Fprintln(w, "usage: minipot "+u.synopsis)
	for _, l := range u.about {
		fmt.Fprintln(w, l)
	}
	out := fs.Output()
	fs.SetOutput(w)
	fs.PrintDefaults()
	fs.SetOutput(out)
}

package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
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
// stderr and exits 2. ok is false when the command must return code now.
func parseFlags(fs *flag.FlagSet, u usage, args []string, stdout, stderr io.Writer) (code int, ok bool) {
	// flag prints its own usage on both paths; this prints it once, where
	// it belongs.
	fs.Usage = func() {}
	fs.SetOutput(io.Discard)
	err := fs.Parse(args)
	fs.SetOutput(stderr)
	fs.Usage = func() { u.print(fs, stderr) }
	switch {
	case errors.Is(err, flag.ErrHelp):
		u.print(fs, stdout)
		return 0, false
	case err != nil:
		fmt.Fprintf(stderr, "minipot %s: %v\n", fs.Name(), err)
		u.print(fs, stderr)
		return 2, false
	}
	return 0, true
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

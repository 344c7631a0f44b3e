package ucicli

import (
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

// save appends changes to the package's delta file in the save directory
// (libuci's uci_save): the directory is created like the config directory
// (mode 0700 if that is missing too), the file like the config file
// (0600 if that is missing), and the file is locked while written.
func (c *cli) save(pkg string, changes ...uci.Change) error {
	fi, err := os.Stat(c.savedir)
	switch {
	case err != nil:
		mode := fs.FileMode(0o700)
		if ci, err := os.Stat(c.confdir); err == nil {
			mode = ci.Mode().Perm()
		}
		// A failure shows when the file cannot be opened below.
		os.Mkdir(c.savedir, mode) //nolint:errcheck
	case !fi.IsDir():
		return &uciError{code: codeIO, err: fmt.Errorf("%s: not a directory", c.savedir)}
	}
	mode := fs.FileMode(0o600)
	if ci, err := os.Stat(filepath.Join(c.confdir, pkg)); err == nil {
		mode = ci.Mode().Perm()
	}
	path := filepath.Join(c.savedir, pkg)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, mode)
	if err != nil {
		return &uciError{code: codeIO, err: err}
	}
	defer f.Close()
	if err := uci.Flock(f, syscall.LOCK_EX); err != nil {
		return &uciError{code: codeIO, err: err}
	}
	var b strings.Builder
	for _, ch := range changes {
		b.WriteString(ch.DeltaLine())
	}
	if _, err := io.WriteString(f, b.String()); err != nil {
		return &uciError{code: codeIO, err: fmt.Errorf("write %s: %w", path, err)}
	}
	if err := f.Close(); err != nil {
		return &uciError{code: codeIO, err: fmt.Errorf("close %s: %w", path, err)}
	}
	return nil
}

// revert drops the pending changes of the target from the save directory
// (libuci's uci_revert). Like libuci it rewrites nothing when the file
// holds a line it cannot read, and rewrites the lines it keeps in its own
// format, under the package's name.
func (c *cli) revert(t *target) error {
	pkg := t.ref.Package
	path := filepath.Join(c.savedir, pkg)
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := uci.Flock(f, syscall.LOCK_EX); err != nil {
		return err
	}
	data, err := io.ReadAll(f)
	if err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	changes, bad := uci.ParseChanges(data)
	if bad > 0 {
		return fmt.Errorf("%s: %d unreadable lines", path, bad)
	}
	var b strings.Builder
	for _, ch := range changes {
		match := !t.ref.HasSection || ch.Section == t.ref.Section
		if match && t.ref.HasOption {
			match = ch.Option == t.ref.Option
		}
		if !match {
			ch.Package = pkg
			b.WriteString(ch.DeltaLine())
		}
	}
	if err := f.Truncate(0); err != nil {
		return fmt.Errorf("truncate %s: %w", path, err)
	}
	if _, err := f.WriteAt([]byte(b.String()), 0); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return f.Close()
}

var errNoChanges = errors.New("no pending changes")

// commit writes the package with all pending changes applied (libuci's
// uci_commit): under the config file's lock it re-reads the file, applies
// the changes of every delta directory in order, writes the file
// atomically and only then empties the save directory's delta file, which
// stays locked meanwhile so that no change recorded in between is lost.
// Nothing is written when no change applies.
func (c *cli) commit(pkg string) error {
	var held *os.File
	defer func() {
		if held != nil {
			held.Close()
		}
	}()
	err := c.dir().UpdateWith(pkg, c.parseOptions(), func(p *uci.Package) error {
		applied := 0
		for i, d := range c.deltaPaths {
			path := filepath.Join(d, pkg)
			var data []byte
			if i < len(c.deltaPaths)-1 {
				var err error
				if data, err = readLocked(path); err != nil {
					continue
				}
			} else {
				f, err := os.OpenFile(path, os.O_RDWR, 0)
				if err != nil {
					continue
				}
				held = f
				if err := uci.Flock(f, syscall.LOCK_EX); err != nil {
					return err
				}
				if data, err = io.ReadAll(f); err != nil {
					return fmt.Errorf("read %s: %w", path, err)
				}
			}
			changes, _ := uci.ParseChanges(data)
			for _, ch := range changes {
				if ch.Package != pkg {
					continue
				}
				if _, err := p.Apply(ch); err == nil {
					applied++
				}
			}
		}
		if applied == 0 {
			return errNoChanges
		}
		if c.names {
			// libuci's commit honours -n too and names anonymous sections.
			for _, s := range p.Sections {
				s.Anonymous = false
			}
		}
		return nil
	})
	switch {
	case errors.Is(err, errNoChanges):
		return nil
	case err != nil:
		return err
	case held != nil:
		if err := held.Truncate(0); err != nil {
			return fmt.Errorf("truncate %s: %w", held.Name(), err)
		}
	}
	return nil
}

// runBatch runs commands read from standard input (or -f), one per line
// and at most three words each (libuci rejects a fourth word), until the input ends or a line says
// "exit" (libuci's uci_batch).
func (c *cli) runBatch() int {
	var data []byte
	var err error
	if c.input != "" {
		data, err = os.ReadFile(c.input)
	} else if c.in != nil {
		data, err = io.ReadAll(c.in)
	}
	if err != nil {
		c.errorf("uci: %s\n", errText(err))
		return 1
	}
	c.batch = uci.NewArgReader(data)
	defer func() { c.batch = nil }()
	for !c.batch.EOF() {
		switch c.batchCommand() {
		case 254:
			return 0
		case 255:
			c.errorf("Unknown command\n")
		}
	}
	return 0
}

const maxBatchArgs = 4

func (c *cli) batchCommand() int {
	if c.reparsed {
		c.batch.Reset()
		c.reparsed = false
	}
	var argv []string
	for i := 0; ; i++ {
		if i == maxBatchArgs {
			c.errorf("Too many arguments\n")
			return 1
		}
		a, err := c.batch.Next(i == 0)
		if err != nil {
			c.perror(err)
			argv = nil
			break
		}
		if a == "" {
			break
		}
		argv = append(argv, a)
	}
	if len(argv) == 0 {
		return 0
	}
	if asciiLower(argv[0]) == "exit" {
		return 254
	}
	return c.command(argv)
}

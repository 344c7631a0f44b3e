package uci

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// DefaultDir is where OpenWrt keeps its UCI config files.
const DefaultDir = "/etc/config"

// ErrNotRegular reports a config path that exists but is not a regular
// file (libuci treats it as missing).
var ErrNotRegular = errors.New("not a regular file")

// Dir is a directory of config files, one file per package.
type Dir struct {
	// Path is the directory; empty means DefaultDir.
	Path string
	// NewFileMode is the mode of a file Update creates; zero means 0600,
	// what libuci gives the files it creates. Existing files keep theirs.
	NewFileMode fs.FileMode
}

func (d Dir) dir() string {
	if d.Path == "" {
		return DefaultDir
	}
	return d.Path
}

// File returns the path of package pkg's file, or an error if pkg is not
// a valid package name.
func (d Dir) File(pkg string) (string, error) {
	if !ValidPackageName(pkg) {
		return "", fmt.Errorf("uci: invalid package name %q", pkg)
	}
	return filepath.Join(d.dir(), pkg), nil
}

// ReadFile returns the content of package pkg's file, read under a shared
// lock as libuci reads it. A missing file gives an error wrapping
// fs.ErrNotExist, anything but a regular file one wrapping ErrNotRegular.
func (d Dir) ReadFile(pkg string) ([]byte, error) {
	path, err := d.File(pkg)
	if err != nil {
		return nil, err
	}
	// Checked before opening: opening a FIFO for reading would block.
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("uci: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("uci: %s: %w", path, ErrNotRegular)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("uci: %w", err)
	}
	defer f.Close()
	if err := flock(f, syscall.LOCK_SH); err != nil {
		return nil, fmt.Errorf("uci: lock %s: %w", path, err)
	}
	data, err := io.ReadAll(f)
	if err != nil {
		return nil, fmt.Errorf("uci: read %s: %w", path, err)
	}
	return data, nil
}

// Load reads and parses package pkg. A missing file is an empty package.
// A file that does not parse gives a *ParseError (wrapped; use errors.As).
func (d Dir) Load(pkg string) (*Package, error) {
	data, err := d.ReadFile(pkg)
	if errors.Is(err, fs.ErrNotExist) {
		return &Package{Name: pkg}, nil
	}
	if err != nil {
		return nil, err
	}
	p, err := Parse(pkg, data)
	if err != nil {
		return nil, fmt.Errorf("uci: %s: %w", pkg, err)
	}
	return p, nil
}

// Update changes package pkg in place: it locks the file the way libuci's
// commit does (flock on the file itself), reads and parses it, calls fn
// and writes the result atomically (temporary file in the same directory,
// fsync, rename, fsync of the directory), keeping the file's mode, and its
// owner when running as root. A missing file starts as an empty package.
//
// Nothing is written when the file does not parse (the *ParseError is
// returned, wrapped), when fn returns an error (returned as is) or when
// the result fails Validate. Concurrent Updates, from goroutines or
// processes, are serialized and never lose each other's changes.
func (d Dir) Update(pkg string, fn func(*Package) error) error {
	return d.UpdateWith(pkg, ParseOptions{}, fn)
}

// UpdateWith is Update reading the file with parse options.
func (d Dir) UpdateWith(pkg string, opt ParseOptions, fn func(*Package) error) error {
	path, err := d.File(pkg)
	if err != nil {
		return err
	}
	f, created, err := d.openLocked(path)
	if err != nil {
		return err
	}
	defer f.Close()
	written := false
	defer func() {
		// A file created only to hold the lock must not outlive a failure.
		if created && !written {
			os.Remove(path)
		}
	}()
	data, err := io.ReadAll(f)
	if err != nil {
		return fmt.Errorf("uci: read %s: %w", path, err)
	}
	p, err := ParseWith(pkg, data, opt)
	if err != nil {
		return fmt.Errorf("uci: %s: %w", path, err)
	}
	if err := fn(p); err != nil {
		return err
	}
	if err := p.Validate(); err != nil {
		return err
	}
	if err := replaceFile(f, path, pkg, p.Marshal()); err != nil {
		return err
	}
	written = true
	return nil
}

// openLocked opens path for update, creating it if needed, and returns it
// locked exclusively. Whoever held the lock before may have replaced the
// file by rename, leaving this lock on an unlinked inode: the inode is
// checked after locking and the open retried until they match.
func (d Dir) openLocked(path string) (f *os.File, created bool, err error) {
	mode := d.NewFileMode
	if mode == 0 {
		mode = 0o600
	}
	for {
		if fi, err := os.Stat(path); err == nil && !fi.Mode().IsRegular() {
			return nil, false, fmt.Errorf("uci: %s: %w", path, ErrNotRegular)
		}
		created = false
		f, err = os.OpenFile(path, os.O_RDWR, 0)
		if errors.Is(err, fs.ErrNotExist) {
			f, err = os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, mode)
			if errors.Is(err, fs.ErrExist) {
				if _, serr := os.Stat(path); errors.Is(serr, fs.ErrNotExist) {
					// O_EXCL does not follow a symlink to nowhere.
					return nil, false, fmt.Errorf("uci: %s: dangling symlink", path)
				}
				continue // created meanwhile by someone else
			}
			created = err == nil
		}
		if err != nil {
			return nil, false, fmt.Errorf("uci: open %s: %w", path, err)
		}
		if err := flock(f, syscall.LOCK_EX); err != nil {
			f.Close()
			return nil, false, fmt.Errorf("uci: lock %s: %w", path, err)
		}
		held, err := f.Stat()
		if err != nil {
			f.Close()
			return nil, false, fmt.Errorf("uci: stat %s: %w", path, err)
		}
		if !held.Mode().IsRegular() {
			f.Close()
			return nil, false, fmt.Errorf("uci: %s: %w", path, ErrNotRegular)
		}
		if now, err := os.Stat(path); err == nil && os.SameFile(held, now) {
			return f, created, nil
		}
		f.Close()
	}
}

// replaceFile atomically replaces path (whose current file is the locked
// f) with data, giving the new file f's mode and, as root, its owner.
func replaceFile(f *os.File, path, pkg string, data []byte) (err error) {
	held, err := f.Stat()
	if err != nil {
		return fmt.Errorf("uci: stat %s: %w", path, err)
	}
	// Through a symlink, replace its target, in the target's directory so
	// that the rename stays atomic.
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		return fmt.Errorf("uci: %w", err)
	}
	dir := filepath.Dir(real)
	tmp, err := os.CreateTemp(dir, "."+pkg+".uci-*")
	if err != nil {
		return fmt.Errorf("uci: %w", err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err = tmp.Write(data); err != nil {
		return fmt.Errorf("uci: write %s: %w", tmp.Name(), err)
	}
	if st, ok := held.Sys().(*syscall.Stat_t); ok && os.Geteuid() == 0 {
		// Before chmod: changing the owner may clear set-id bits.
		if err = tmp.Chown(int(st.Uid), int(st.Gid)); err != nil {
			return fmt.Errorf("uci: %w", err)
		}
	}
	if err = tmp.Chmod(held.Mode() & (fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky)); err != nil {
		return fmt.Errorf("uci: %w", err)
	}
	if err = tmp.Sync(); err != nil {
		return fmt.Errorf("uci: sync %s: %w", tmp.Name(), err)
	}
	if err = tmp.Close(); err != nil {
		return fmt.Errorf("uci: close %s: %w", tmp.Name(), err)
	}
	if err = os.Rename(tmp.Name(), real); err != nil {
		return fmt.Errorf("uci: %w", err)
	}
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("uci: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("uci: sync %s: %w", dir, err)
	}
	return nil
}

// flock locks f like libuci does, tolerating file systems without locks.
func flock(f *os.File, how int) error {
	for {
		err := syscall.Flock(int(f.Fd()), how)
		switch {
		case err == nil, errors.Is(err, syscall.ENOSYS):
			return nil
		case errors.Is(err, syscall.EINTR):
			continue
		default:
			return err
		}
	}
}

// Flock locks f with syscall.LOCK_SH or LOCK_EX (waiting for it), the way
// libuci locks config and delta files; closing f releases the lock.
func Flock(f *os.File, how int) error {
	if err := flock(f, how); err != nil {
		return fmt.Errorf("uci: lock %s: %w", f.Name(), err)
	}
	return nil
}

// Package atomicfile replaces a file whole: a reader, or the file after a
// crash, holds either the old content or the new one, never a part. The
// agent's status report, the exporter's cursors, the SSH host keys, the
// nftables include and the development config are written through it
// (the UCI package has its own, which also keeps the file's owner).
package atomicfile

import (
	"fmt"
	"os"
	"path/filepath"
)

// Write replaces path with data, with mode: a temporary file in the same
// folder (so the rename is atomic), given its mode before the data lands
// (a private key is never readable by others, not even for a moment),
// synced, and renamed over path.
func Write(path string, data []byte, mode os.FileMode) (err error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+"-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
			err = fmt.Errorf("write %s: %w", path, err)
		}
	}()
	if err = tmp.Chmod(mode); err != nil {
		return err
	}
	if _, err = tmp.Write(data); err != nil {
		return err
	}
	if err = tmp.Sync(); err != nil {
		return err
	}
	if err = tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

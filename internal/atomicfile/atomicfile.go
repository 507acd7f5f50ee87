// Package atomicfile replaces a file whole, so that a crash leaves the old
// file or the new one, never half of either.
package atomicfile

import (
	"io"
	"os"
	"path/filepath"
)

// Write replaces path, mode 0600, with what write writes: to a temporary
// file beside it, synced, then renamed over it.
func Write(path string, write func(io.Writer) error) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+"-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := write(tmp); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

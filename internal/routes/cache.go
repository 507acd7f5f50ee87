package routes

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/porticoproxy/portico/internal/atomicfile"
	"github.com/porticoproxy/portico/internal/mapping"
)

// cacheFile is the on-disk form of a table.
type cacheFile struct {
	Revision int64             `json:"revision"`
	Mappings []mapping.Mapping `json:"mappings"`
}

// Save writes the table to path atomically (a temporary file renamed into
// place), so a crash never leaves a torn cache behind.
func (t *Table) Save(path string) error {
	rev, ms := t.Mappings()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("creating cache directory: %w", err)
	}
	err := atomicfile.Write(path, func(w io.Writer) error {
		return json.NewEncoder(w).Encode(cacheFile{Revision: rev, Mappings: ms})
	})
	if err != nil {
		return fmt.Errorf("writing cache file: %w", err)
	}
	return nil
}

// Load fills the table from a cache written by Save. A missing file is not an
// error: loaded is false and the table is left alone.
func (t *Table) Load(path string) (loaded bool, err error) {
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("opening cache file: %w", err)
	}
	defer f.Close()
	var c cacheFile
	if err := json.NewDecoder(f).Decode(&c); err != nil {
		return false, fmt.Errorf("reading cache file %s: %w", path, err)
	}
	t.Replace(c.Revision, c.Mappings)
	return true, nil
}

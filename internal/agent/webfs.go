package agent

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"github.com/caddyserver/caddy/v2"
)

func init() { caddy.RegisterModule(DirFS{}) }

// DirFS is the file system a web share serves: the shared directory, with
// what a user sharing a folder rarely means to publish left out. Unless
// told otherwise it hides dotfiles (.env, .git/config, …), from listings
// too, and refuses symlinks that lead out of the directory, which
// os.Root enforces. Caddy's file_server serves it by name (its "fs").
//
// Caddy's own hide option is not used for dotfiles: it matches every
// component of the absolute path, so a share under a dotted directory (such
// as ~/.local/share/site) would hide everything.
type DirFS struct {
	// Root is the shared directory.
	Root string `json:"root"`
	// ShowHidden serves files and directories whose names start with a dot.
	ShowHidden bool `json:"show_hidden,omitempty"`
	// FollowSymlinks follows symlinks wherever they lead.
	FollowSymlinks bool `json:"follow_symlinks,omitempty"`

	fsys fs.FS
}

// CaddyModule returns the Caddy module information.
func (DirFS) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "caddy.fs.portico_dir", New: func() caddy.Module { return new(DirFS) }}
}

// Provision opens the directory.
func (d *DirFS) Provision(caddy.Context) error {
	if d.FollowSymlinks {
		d.fsys = os.DirFS(d.Root)
		return nil
	}
	root, err := os.OpenRoot(d.Root)
	if err != nil {
		return fmt.Errorf("web backend: %w", err)
	}
	d.fsys = root.FS()
	return nil
}

// Open opens name, hiding dotfiles unless ShowHidden; a directory it opens
// lists no dotfiles either.
func (d *DirFS) Open(name string) (fs.File, error) {
	if err := d.check("open", name); err != nil {
		return nil, err
	}
	f, err := d.fsys.Open(name)
	if err != nil {
		return nil, notFound(err)
	}
	if dir, ok := f.(*os.File); ok && !d.ShowHidden {
		if fi, err := dir.Stat(); err == nil && fi.IsDir() {
			return dotlessDir{dir}, nil
		}
	}
	return f, nil
}

// Stat describes name, as Open would find it.
func (d *DirFS) Stat(name string) (fs.FileInfo, error) {
	if err := d.check("stat", name); err != nil {
		return nil, err
	}
	fi, err := fs.Stat(d.fsys, name)
	return fi, notFound(err)
}

func (d *DirFS) check(op, name string) error {
	if d.ShowHidden {
		return nil
	}
	for part := range strings.SplitSeq(name, "/") {
		if strings.HasPrefix(part, ".") && part != "." {
			return &fs.PathError{Op: op, Path: name, Err: fs.ErrNotExist}
		}
	}
	return nil
}

// notFound turns os.Root's refusal of a path that escapes the directory
// into not-found, which the file server answers with 404 rather than 500.
// os does not export that error, so it is known by its text.
func notFound(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) && pe.Err.Error() == "path escapes from parent" {
		return &fs.PathError{Op: pe.Op, Path: pe.Path, Err: fs.ErrNotExist}
	}
	return err
}

// dotlessDir is a directory whose listing leaves out dotfiles.
type dotlessDir struct{ *os.File }

// ReadDir keeps fs.ReadDirFile's promise that, for n > 0, an empty result
// comes with an error: it reads on while every entry was a dotfile.
func (d dotlessDir) ReadDir(n int) ([]fs.DirEntry, error) {
	for {
		entries, err := d.File.ReadDir(n)
		kept := entries[:0]
		for _, e := range entries {
			if !strings.HasPrefix(e.Name(), ".") {
				kept = append(kept, e)
			}
		}
		if len(kept) > 0 || err != nil || n <= 0 {
			return kept, err
		}
	}
}

var (
	_ fs.StatFS         = (*DirFS)(nil)
	_ caddy.Provisioner = (*DirFS)(nil)
)

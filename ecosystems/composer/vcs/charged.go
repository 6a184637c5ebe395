package vcs

import (
	"os"

	"github.com/go-git/go-billy/v5"
	"github.com/go-git/go-billy/v5/osfs"
	"github.com/go-git/go-git/v5/plumbing/cache"
	"github.com/go-git/go-git/v5/storage/filesystem"

	"github.com/packyard/packyard/pkg/spool"
)

// chargedStorage is go-git's filesystem storage in a spool directory whose
// every write is charged to the spool's cap before it is made: a clone
// past PACKYARD_TMP_MAX_SIZE stops at the cap, not once it is done. Its
// pack files stay open once read (go-git otherwise opens the pack again,
// and parses it anew, for every object: thousands of times for one sync);
// Close releases them, and a later read opens them again.
func chargedStorage(dir *spool.Dir) *filesystem.Storage {
	fs := chargedFS{Filesystem: osfs.New(dir.Path()), dir: dir}
	return filesystem.NewStorageWithOptions(fs, cache.NewObjectLRUDefault(), filesystem.Options{KeepDescriptors: true})
}

// chargedFS is a billy filesystem whose files charge their writes to dir.
type chargedFS struct {
	billy.Filesystem
	dir *spool.Dir
}

func (f chargedFS) wrap(file billy.File, err error) (billy.File, error) {
	if err != nil {
		return nil, err
	}
	return chargedFile{File: file, dir: f.dir}, nil
}

func (f chargedFS) Create(name string) (billy.File, error) {
	return f.wrap(f.Filesystem.Create(name))
}

func (f chargedFS) OpenFile(name string, flag int, perm os.FileMode) (billy.File, error) {
	return f.wrap(f.Filesystem.OpenFile(name, flag, perm))
}

func (f chargedFS) TempFile(dir, prefix string) (billy.File, error) {
	return f.wrap(f.Filesystem.TempFile(dir, prefix))
}

func (f chargedFS) Chroot(path string) (billy.Filesystem, error) {
	inner, err := f.Filesystem.Chroot(path)
	if err != nil {
		return nil, err
	}
	return chargedFS{Filesystem: inner, dir: f.dir}, nil
}

// Capabilities are the wrapped filesystem's.
func (f chargedFS) Capabilities() billy.Capability { return billy.Capabilities(f.Filesystem) }

// Chmod passes through (go-git makes its pack files read-only).
func (f chargedFS) Chmod(name string, mode os.FileMode) error {
	if c, ok := f.Filesystem.(billy.Chmod); ok {
		return c.Chmod(name, mode)
	}
	return billy.ErrNotSupported
}

// chargedFile charges each write to the directory before making it.
type chargedFile struct {
	billy.File
	dir *spool.Dir
}

func (f chargedFile) Write(p []byte) (int, error) {
	if err := f.dir.Grow(int64(len(p))); err != nil {
		return 0, err
	}
	return f.File.Write(p)
}

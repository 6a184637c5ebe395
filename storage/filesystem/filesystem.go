// Package filesystem is the blob.Store driver over a local directory,
// packyard's default for a single replica.
//
// A key maps to the path of the same name under the root. Put writes a
// temporary file in the target's directory, syncs it, renames it over the
// target and syncs the directory, so readers see the old object or the whole
// new one and a crash never leaves a partial object visible. Temporary files
// are named with tempPrefix; keys whose last segment starts with it are
// reserved and rejected.
package filesystem

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"go.uber.org/zap"

	"github.com/packyard/packyard/pkg/blob"
	"github.com/packyard/packyard/pkg/errs"
	"github.com/packyard/packyard/storage/internal/streamio"
)

// tempPrefix starts the names of in-progress writes.
const tempPrefix = ".packyard-tmp-"

// Config locates the store.
type Config struct {
	Root string // directory holding the objects; created if missing
}

// Store is a BlobStore rooted at a directory.
type Store struct {
	root   string
	logger *zap.Logger
}

var (
	_ blob.Store  = (*Store)(nil)
	_ blob.Lister = (*Store)(nil)
	_ blob.Pinger = (*Store)(nil)
)

// New creates the root directory if needed and returns the store.
func New(cfg Config, logger *zap.Logger) (*Store, error) {
	if cfg.Root == "" {
		return nil, fmt.Errorf("filesystem storage: root directory is empty: %w", errs.ErrInvalidArgument)
	}
	root, err := filepath.Abs(cfg.Root)
	if err != nil {
		return nil, fmt.Errorf("filesystem storage: root %q: %w", cfg.Root, err)
	}
	if err := os.MkdirAll(root, 0o700); err != nil {
		return nil, fmt.Errorf("filesystem storage: create root %s: %w", root, err)
	}
	// Objects are 0600 in 0700 directories, whatever the umask; the root
	// is made private even when an older version created it.
	if err := os.Chmod(root, 0o700); err != nil {
		return nil, fmt.Errorf("filesystem storage: root %s: %w", root, err)
	}
	fi, err := os.Stat(root)
	if err != nil {
		return nil, fmt.Errorf("filesystem storage: root %s: %w", root, err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("filesystem storage: root %s is not a directory: %w", root, errs.ErrInvalidArgument)
	}
	if logger == nil {
		logger = zap.NewNop()
	}
	return &Store{root: root, logger: logger}, nil
}

// Root returns the absolute root directory.
func (s *Store) Root() string { return s.root }

// path validates key and returns its file path under the root.
func (s *Store) path(key string) (string, error) {
	if err := blob.ValidKey(key); err != nil {
		return "", err
	}
	if strings.HasPrefix(key[strings.LastIndexByte(key, '/')+1:], tempPrefix) {
		return "", fmt.Errorf("filesystem storage: key %q uses the reserved prefix %q: %w", key, tempPrefix, errs.ErrInvalidArgument)
	}
	rel := filepath.FromSlash(key)
	if !filepath.IsLocal(rel) { // belt and braces: ValidKey already forbids escapes
		return "", fmt.Errorf("filesystem storage: key %q: %w", key, errs.ErrInvalidArgument)
	}
	return filepath.Join(s.root, rel), nil
}

// mapErr turns a missing file (or a file where a directory would be) into
// ErrNotFound and keeps other errors as they are.
func mapErr(key string, err error) error {
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
		return fmt.Errorf("filesystem storage: object %s: %w", key, errs.ErrNotFound)
	}
	return fmt.Errorf("filesystem storage: object %s: %w", key, err)
}

// Open implements blob.Store; the *os.File it returns is seekable.
func (s *Store) Open(ctx context.Context, key string) (io.ReadSeekCloser, error) {
	p, err := s.path(key)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if err != nil {
		return nil, mapErr(key, err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, mapErr(key, err)
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, mapErr(key, fs.ErrNotExist)
	}
	return f, nil
}

// Stat implements blob.Store.
func (s *Store) Stat(ctx context.Context, key string) (blob.Info, error) {
	p, err := s.path(key)
	if err != nil {
		return blob.Info{}, err
	}
	if err := ctx.Err(); err != nil {
		return blob.Info{}, err
	}
	fi, err := os.Stat(p)
	if err != nil {
		return blob.Info{}, mapErr(key, err)
	}
	if !fi.Mode().IsRegular() {
		return blob.Info{}, mapErr(key, fs.ErrNotExist)
	}
	return blob.Info{Key: key, Size: fi.Size(), ModTime: fi.ModTime()}, nil
}

// mkdirs creates dir and its missing parents below the root with mode
// 0700, whatever the umask.
func (s *Store) mkdirs(dir string) error {
	if fi, err := os.Stat(dir); err == nil && fi.IsDir() {
		return nil
	}
	if parent := filepath.Dir(dir); parent != s.root && len(parent) > len(s.root) {
		if err := s.mkdirs(parent); err != nil {
			return err
		}
	}
	if err := os.Mkdir(dir, 0o700); err != nil {
		if errors.Is(err, fs.ErrExist) {
			if fi, serr := os.Stat(dir); serr == nil && fi.IsDir() {
				return nil // made concurrently
			}
			return syscall.ENOTDIR
		}
		return err
	}
	return os.Chmod(dir, 0o700)
}

// Put implements blob.Store: temporary file, fsync, rename, fsync of
// the directory. The temporary file is removed on every failure.
func (s *Store) Put(ctx context.Context, key string, r io.Reader, size int64) (err error) {
	p, err := s.path(key)
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	dir := filepath.Dir(p)
	if err := s.mkdirs(dir); err != nil {
		if errors.Is(err, syscall.ENOTDIR) {
			return fmt.Errorf("filesystem storage: put %s: a parent of the key is an object: %w", key, errs.ErrFailedPrecondition)
		}
		return fmt.Errorf("filesystem storage: put %s: %w", key, err)
	}
	f, err := os.CreateTemp(dir, tempPrefix+"*")
	if err != nil {
		return fmt.Errorf("filesystem storage: put %s: %w", key, err)
	}
	tmp := f.Name()
	if err := f.Chmod(0o600); err != nil {
		_ = f.Close()
		_ = os.Remove(tmp)
		return fmt.Errorf("filesystem storage: put %s: %w", key, err)
	}
	defer func() {
		if err != nil {
			_ = f.Close()
			if rerr := os.Remove(tmp); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) {
				s.logger.Warn("remove temporary file", zap.String("path", tmp), zap.Error(rerr))
			}
		}
	}()
	if _, err = io.Copy(f, streamio.Exact(streamio.WithContext(ctx, r), size)); err != nil {
		return fmt.Errorf("filesystem storage: put %s: %w", key, err)
	}
	if err = f.Sync(); err != nil {
		return fmt.Errorf("filesystem storage: put %s: sync: %w", key, err)
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("filesystem storage: put %s: close: %w", key, err)
	}
	if err = ctx.Err(); err != nil {
		return err
	}
	if err = os.Rename(tmp, p); err != nil {
		if fi, serr := os.Stat(p); serr == nil && fi.IsDir() {
			return fmt.Errorf("filesystem storage: put %s: other objects are stored below this key: %w", key, errs.ErrFailedPrecondition)
		}
		return fmt.Errorf("filesystem storage: put %s: rename: %w", key, err)
	}
	// The object is in place; a failed directory sync only weakens durability.
	if serr := syncDir(dir); serr != nil {
		s.logger.Warn("sync directory", zap.String("dir", dir), zap.Error(serr))
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// Delete implements blob.Store. Empty directories are left in place:
// removing them would race with a concurrent Put into the same directory.
func (s *Store) Delete(ctx context.Context, key string) error {
	p, err := s.path(key)
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	fi, err := os.Lstat(p)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
			return nil
		}
		return fmt.Errorf("filesystem storage: delete %s: %w", key, err)
	}
	if fi.IsDir() {
		return nil // not an object
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("filesystem storage: delete %s: %w", key, err)
	}
	return nil
}

// List implements blob.Lister. It walks the directory named by the
// prefix (or reports the single object the prefix names), skipping
// temporary files and anything that is not a regular file.
func (s *Store) List(ctx context.Context, prefix string, fn func(blob.Info) error) error {
	if err := blob.ValidPrefix(prefix); err != nil {
		return err
	}
	start := s.root
	if dir := strings.TrimSuffix(prefix, "/"); dir != "" {
		start = filepath.Join(s.root, filepath.FromSlash(dir))
	}
	err := filepath.WalkDir(start, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p == start && (errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR)) {
				return fs.SkipAll
			}
			if errors.Is(err, fs.ErrNotExist) {
				return nil // removed while walking
			}
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if !d.Type().IsRegular() || strings.HasPrefix(d.Name(), tempPrefix) {
			return nil
		}
		fi, err := d.Info()
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(s.root, p)
		if err != nil {
			return err
		}
		return fn(blob.Info{Key: filepath.ToSlash(rel), Size: fi.Size(), ModTime: fi.ModTime()})
	})
	if err != nil {
		return err
	}
	return ctx.Err()
}

// Ping implements blob.Pinger: the root must still be a directory.
func (s *Store) Ping(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	fi, err := os.Stat(s.root)
	if err != nil {
		return errs.Wrap(errs.ErrUnavailable, "blob storage unavailable", fmt.Errorf("filesystem storage: root %s: %w", s.root, err))
	}
	if !fi.IsDir() {
		return errs.Wrap(errs.ErrUnavailable, "blob storage unavailable", fmt.Errorf("filesystem storage: root %s is not a directory", s.root))
	}
	return nil
}

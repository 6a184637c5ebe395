package filesystem

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"go.uber.org/zap"

	"github.com/packyard/packyard/pkg/blob"
)

var _ blob.BatchPutter = (*Store)(nil)

// staged is an object of a batch written to its temporary file.
type staged struct{ tmp, path string }

// PutAll implements blob.BatchPutter: every object is written to a
// temporary file beside its place, the files are flushed to disk together,
// renamed into place, and the renames flushed together: two flushes for the
// batch instead of two per object.
func (s *Store) PutAll(ctx context.Context, objs []blob.Object) (err error) {
	files := make([]staged, 0, len(objs))
	defer func() {
		if err == nil {
			return
		}
		for _, f := range files {
			if rerr := os.Remove(f.tmp); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) {
				s.logger.Warn("remove temporary file", zap.String("path", f.tmp), zap.Error(rerr))
			}
		}
	}()
	for _, o := range objs {
		if err := ctx.Err(); err != nil {
			return err
		}
		f, err := s.stage(o)
		if err != nil {
			return err
		}
		files = append(files, f)
	}
	if err := s.flush(files); err != nil {
		return fmt.Errorf("filesystem storage: put %d objects: sync: %w", len(files), err)
	}
	for _, f := range files {
		if err := os.Rename(f.tmp, f.path); err != nil {
			return fmt.Errorf("filesystem storage: put %s: rename: %w", f.path, err)
		}
	}
	// The objects are in place; a failed flush of the renames only weakens durability.
	if err := s.flush(files); err != nil {
		s.logger.Warn("sync renamed objects", zap.Error(err))
	}
	return nil
}

// stage writes one object to a temporary file in its directory.
func (s *Store) stage(o blob.Object) (staged, error) {
	p, err := s.path(o.Key)
	if err != nil {
		return staged{}, err
	}
	dir := filepath.Dir(p)
	if err := s.mkdirs(dir); err != nil {
		return staged{}, fmt.Errorf("filesystem storage: put %s: %w", o.Key, err)
	}
	f, err := os.CreateTemp(dir, tempPrefix+"*")
	if err != nil {
		return staged{}, fmt.Errorf("filesystem storage: put %s: %w", o.Key, err)
	}
	_, werr := f.Write(o.Data)
	cerr := f.Close()
	if err := errors.Join(werr, cerr); err != nil {
		_ = os.Remove(f.Name())
		return staged{}, fmt.Errorf("filesystem storage: put %s: %w", o.Key, err)
	}
	if err := os.Chmod(f.Name(), 0o600); err != nil {
		_ = os.Remove(f.Name())
		return staged{}, fmt.Errorf("filesystem storage: put %s: %w", o.Key, err)
	}
	return staged{tmp: f.Name(), path: p}, nil
}

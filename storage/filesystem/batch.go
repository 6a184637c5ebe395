package filesystem

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"

	"github.com/packyard/packyard/pkg/blob"
)

var _ blob.BatchPutter = (*Store)(nil)

// stageParallelism bounds the temporary files a batch writes at once.
const stageParallelism = 8

// staged is an object of a batch written to its temporary file.
type staged struct{ tmp, path string }

// PutAll implements blob.BatchPutter: every object is written to a
// temporary file beside its place, the files are flushed to disk together,
// renamed into place, and the renames flushed together: two flushes for the
// batch instead of two per object.
func (s *Store) PutAll(ctx context.Context, objs []blob.Object) (err error) {
	files := make([]staged, len(objs))
	defer func() {
		if err == nil {
			return
		}
		for _, f := range files {
			if f.tmp == "" {
				continue
			}
			if rerr := os.Remove(f.tmp); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) {
				s.logger.Warn("remove temporary file", zap.String("path", f.tmp), zap.Error(rerr))
			}
		}
	}()
	// The writes wait on the file system more than on the CPU: several at a time.
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(stageParallelism)
	for i, o := range objs {
		g.Go(func() error {
			if err := gctx.Err(); err != nil {
				return err
			}
			f, err := s.stage(o)
			files[i] = f
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return err
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

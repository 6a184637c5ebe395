package cas

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/packyard/packyard/pkg/blob"
	"github.com/packyard/packyard/pkg/errs"
)

// GCStats reports what a GC run removed.
type GCStats struct {
	Records int   // index rows of unreferenced blobs removed
	Objects int   // objects of those rows removed
	Orphans int   // objects without an index row removed
	Packs   int   // pack objects no row names any more removed
	Kept    int   // candidates left alone because a writer reused them meanwhile
	Refs    int64 // stale references removed by the sweepers (Collect only)
}

// gcBatch is how many unreferenced blobs GC asks the index for at a time.
const gcBatch = 500

// maxGCErrors bounds how many per-blob errors a run collects before giving up.
const maxGCErrors = 20

// GC removes blobs that nothing references and that no writer stored or
// reused within grace, in two passes:
//
//  1. Index pass: for each unreferenced blob untouched since now-grace, the
//     index row is deleted first, conditionally (DeleteBlobRecord only
//     deletes a row that is still unreferenced and untouched), and the
//     object second. A Put of the same content touches the row before it
//     returns, so either the conditional delete fails and the blob stays, or
//     the row is gone first; GC then looks for the row again and leaves the
//     object alone when a writer has recorded it anew, and that writer also
//     re-checks the object after recording it (see Put). Row before object
//     means a crash leaves at worst an object without a row, never a row
//     without its object.
//     A pack object goes once no row names it: pack ids are never reused
//     and rows naming a pack are only written right after it, so a pack
//     found unused stays unused.
//  2. Orphan pass (blob stores that implement blob.Lister): objects under
//     blobs/sha256/ older than grace with no index row, left by a crash
//     between a Put's upload and its index write, are deleted, and so are
//     packs older than grace that no row names.
//
// Within one process, Put and GC also serialize on a per-digest lock, which
// closes every window between their steps. Across replicas the re-checks
// leave one narrow window (a Put on another replica completing entirely
// between GC's last re-check and its object delete); the grace period
// makes a candidate already unused for that long, which is why it should be
// generous (hours, not seconds). Callers must keep grace longer than the
// longest upload, since an object being uploaded has no row yet.
func (s *IndexedStore) GC(ctx context.Context, grace time.Duration) (GCStats, error) {
	var stats GCStats
	if grace < 0 {
		return stats, errs.Invalidf("gc grace period %s is negative", grace)
	}
	g := &gcRun{before: s.now().Add(-grace), stats: &stats}
	if err := s.gcIndex(ctx, g); err != nil {
		return stats, err
	}
	if err := s.gcWalk(ctx, g); err != nil {
		return stats, err
	}
	s.logger.Debug("blob garbage collection",
		zap.Int("records", stats.Records), zap.Int("objects", stats.Objects),
		zap.Int("orphans", stats.Orphans), zap.Int("packs", stats.Packs), zap.Int("kept", stats.Kept),
		zap.Duration("grace", grace), zap.Int("errors", len(g.failures)))
	return stats, errors.Join(g.failures...)
}

// gcRun is the state of one GC run.
type gcRun struct {
	before   time.Time
	stats    *GCStats
	failures []error
}

// fail records a per-blob error and reports whether the run should stop.
func (g *gcRun) fail(err error) bool {
	g.failures = append(g.failures, err)
	return len(g.failures) >= maxGCErrors
}

// gcIndex is the index pass; it returns only a fatal error.
func (s *IndexedStore) gcIndex(ctx context.Context, g *gcRun) error {
	seen := map[string]bool{}
	for {
		digests, err := s.index.UnreferencedBlobs(ctx, g.before, gcBatch)
		if err != nil {
			return fmt.Errorf("cas gc: list unreferenced blobs: %w", err)
		}
		progress := false
		for _, d := range digests {
			if seen[d] {
				continue
			}
			seen[d], progress = true, true
			if err := s.collect(ctx, d, g.before, g.stats); err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				if g.fail(err) {
					return nil
				}
			}
		}
		if !progress || len(digests) < gcBatch {
			return nil
		}
	}
}

// gcWalk is the orphan pass over the packs and then the blobs, on blob
// stores that list; it returns only a fatal error.
func (s *IndexedStore) gcWalk(ctx context.Context, g *gcRun) error {
	l, ok := s.blobs.(blob.Lister)
	if !ok {
		return nil
	}
	walks := []struct {
		prefix string
		fn     func(info blob.Info) error
	}{
		{PackPrefix, func(info blob.Info) error {
			if id, ok := packIDFromKey(info.Key); ok && info.ModTime.Before(g.before) {
				return s.collectPack(ctx, id, g.stats)
			}
			return nil
		}},
		{KeyPrefix, func(info blob.Info) error {
			d, ok := digestFromKey(info.Key)
			if !ok || !info.ModTime.Before(g.before) {
				return nil
			}
			if _, err := s.index.GetBlob(ctx, d); !errors.Is(err, errs.ErrNotFound) {
				return err // nil: indexed, keep
			}
			return s.collectOrphan(ctx, d, g.before, g.stats)
		}},
	}
	for _, w := range walks {
		if len(g.failures) >= maxGCErrors {
			return nil
		}
		err := l.List(ctx, w.prefix, func(info blob.Info) error {
			if err := w.fn(info); err != nil && g.fail(err) {
				return errors.New("too many errors")
			}
			return nil
		})
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			g.failures = append(g.failures, fmt.Errorf("cas gc: walk %s: %w", w.prefix, err))
		}
	}
	return nil
}

// collect removes one unreferenced blob: its row (conditionally), then its object.
func (s *IndexedStore) collect(ctx context.Context, digest string, before time.Time, stats *GCStats) error {
	if ValidateDigest(digest) != nil {
		s.logger.Warn("gc: index holds a malformed digest; leaving it", zap.String("digest", digest))
		return nil
	}
	unlock, err := s.locks.lock(ctx, digest)
	if err != nil {
		return err
	}
	defer unlock()
	row, err := s.index.GetBlob(ctx, digest)
	if errors.Is(err, errs.ErrNotFound) {
		return nil // collected by another replica meanwhile
	}
	if err != nil {
		return fmt.Errorf("cas gc: read index row %s: %w", digest, err)
	}
	deleted, err := s.index.DeleteBlobRecord(ctx, digest, before)
	if err != nil {
		return fmt.Errorf("cas gc: delete index row %s: %w", digest, err)
	}
	if !deleted {
		stats.Kept++ // referenced or touched since the listing
		return nil
	}
	stats.Records++
	if _, err := s.index.GetBlob(ctx, digest); err == nil {
		stats.Kept++ // recorded again by a writer on another replica
		return nil
	} else if !errors.Is(err, errs.ErrNotFound) {
		// Unsure: keep the object; the orphan pass retries later.
		return fmt.Errorf("cas gc: re-check %s: %w", digest, err)
	}
	if err := s.blobs.Delete(ctx, Key(digest)); err != nil {
		return fmt.Errorf("cas gc: delete object %s: %w", digest, err)
	}
	if row.Pack != "" {
		// The bytes were in the pack (an own object, if any, came from a Put).
		return s.collectPack(ctx, row.Pack, stats)
	}
	stats.Objects++
	return nil
}

// collectPack removes a pack object when no index row names it.
func (s *IndexedStore) collectPack(ctx context.Context, id string, stats *GCStats) error {
	used, err := s.index.PackInUse(ctx, id)
	if err != nil {
		return fmt.Errorf("cas gc: check pack %s: %w", id, err)
	}
	if used {
		return nil
	}
	if err := s.blobs.Delete(ctx, PackKey(id)); err != nil {
		return fmt.Errorf("cas gc: delete pack %s: %w", id, err)
	}
	stats.Packs++
	return nil
}

// collectOrphan removes an object that has no index row, after checking
// again under the digest's lock that it still has none and is still old.
func (s *IndexedStore) collectOrphan(ctx context.Context, digest string, before time.Time, stats *GCStats) error {
	unlock, err := s.locks.lock(ctx, digest)
	if err != nil {
		return err
	}
	defer unlock()
	if _, err := s.index.GetBlob(ctx, digest); err == nil {
		stats.Kept++
		return nil
	} else if !errors.Is(err, errs.ErrNotFound) {
		return fmt.Errorf("cas gc: check %s: %w", digest, err)
	}
	key := Key(digest)
	info, err := s.blobs.Stat(ctx, key)
	if errors.Is(err, errs.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("cas gc: stat %s: %w", key, err)
	}
	if !info.ModTime.Before(before) {
		stats.Kept++ // uploaded again meanwhile
		return nil
	}
	if err := s.blobs.Delete(ctx, key); err != nil {
		return fmt.Errorf("cas gc: delete orphan %s: %w", key, err)
	}
	stats.Orphans++
	s.logger.Info("gc: removed an object without an index row", zap.String("digest", digest))
	return nil
}

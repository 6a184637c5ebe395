package cas

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.uber.org/fx"
	"go.uber.org/zap"
)

// A RefSweeper removes the blob references its area made whose owner (a
// package's archive, a module, a plugin revision) no longer exists: those
// left behind when a database cascade (deleting an organization) removed
// the owner's rows without the area's code. It never removes a reference
// whose owner row still exists. Each area provides its own with AsSweeper.
type RefSweeper interface {
	// SweepRefs removes the stale references and returns how many.
	SweepRefs(ctx context.Context) (int64, error)
}

// AsSweeper annotates a constructor of a RefSweeper for fx: the periodic
// collection runs every one provided this way (group "cas-sweepers").
func AsSweeper(constructor any) any {
	return fx.Annotate(constructor, fx.ResultTags(`group:"cas-sweepers"`))
}

// Collect runs every sweeper, then GC: blobs that only a deleted owner
// referenced are collected in the same run. A sweeper that fails is
// logged and reported, and GC still runs (it collects less, never more).
func (s *IndexedStore) Collect(ctx context.Context, grace time.Duration, sweepers []RefSweeper) (GCStats, error) {
	var failures []error
	var swept int64
	for _, sw := range sweepers {
		n, err := sw.SweepRefs(ctx)
		swept += n
		if err != nil {
			if ctx.Err() != nil {
				return GCStats{Refs: swept}, ctx.Err()
			}
			s.logger.Warn("gc: sweeping stale references failed", zap.String("sweeper", fmt.Sprintf("%T", sw)), zap.Error(err))
			failures = append(failures, fmt.Errorf("cas gc: sweep references: %w", err))
		}
	}
	stats, err := s.GC(ctx, grace)
	stats.Refs = swept
	return stats, errors.Join(append(failures, err)...)
}

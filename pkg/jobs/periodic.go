package jobs

import (
	"context"
	"time"

	"go.uber.org/zap"
)

// Periodic runs fn every interval on one replica at a time: the holder of
// the lease name. Every replica runs Periodic; each looks for the lease
// every third of the lease time (or every interval, when that is
// shorter), renews it while it holds it, and runs fn when the last run
// (on any replica) is an interval old. The first holder of a new lease
// starts the schedule: its first run is an interval later. When ctx ends
// the lease is released, so another replica takes it at once; a replica
// that dies holds it until it expires.
func (r *Runner) Periodic(ctx context.Context, name string, interval time.Duration, fn func(context.Context) error) {
	log := r.Log.With(zap.String("job", name))
	check := max(min(interval, r.Lease/3), time.Millisecond)
	t := time.NewTicker(check)
	defer t.Stop()
	defer func() {
		rel, done := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer done()
		if err := r.Leases.Release(rel, name, r.Owner); err != nil {
			log.Warn("release a lease", zap.Error(err))
		}
	}()
	for {
		r.periodicStep(ctx, log, name, interval, fn)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// periodicStep takes or renews the lease and runs fn when it is due.
func (r *Runner) periodicStep(ctx context.Context, log *zap.Logger, name string, interval time.Duration, fn func(context.Context) error) {
	l, ok, err := r.Leases.Acquire(ctx, name, r.Owner, r.Lease)
	if err != nil && ctx.Err() == nil {
		log.Warn("take a lease", zap.Error(err))
	}
	if !ok {
		return
	}
	now := time.Now()
	if l.LastRun.IsZero() {
		if err := r.Leases.Ran(ctx, name, r.Owner, now); err != nil && ctx.Err() == nil {
			log.Warn("start a schedule", zap.Error(err))
		}
		return
	}
	if now.Sub(l.LastRun) < interval {
		return
	}
	jctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := r.renew(jctx, cancel, func(c context.Context) error {
		_, ok, err := r.Leases.Acquire(c, name, r.Owner, r.Lease)
		if err == nil && !ok {
			return ErrLeaseLost
		}
		return err
	})
	err = fn(jctx)
	if stop() {
		log.Warn("a periodic job's lease was lost while it ran")
		return
	}
	if err != nil {
		log.Warn("periodic job failed", zap.Error(err))
	}
	if err := r.Leases.Ran(context.WithoutCancel(ctx), name, r.Owner, time.Now()); err != nil {
		log.Warn("record a periodic run", zap.Error(err))
	}
}

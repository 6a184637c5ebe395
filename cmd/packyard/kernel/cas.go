package kernel

import (
	"context"

	"go.uber.org/fx"
	"go.uber.org/zap"

	"github.com/packyard/packyard/pkg/blob"
	"github.com/packyard/packyard/pkg/cas"
	"github.com/packyard/packyard/pkg/changes"
	"github.com/packyard/packyard/pkg/jobs"
	"github.com/packyard/packyard/pkg/metadata"
	"github.com/packyard/packyard/pkg/spool"
	"github.com/packyard/packyard/pkg/sqldb"
	"github.com/packyard/packyard/storage"
)

type casOut struct {
	fx.Out
	Store cas.Store
	Impl  *cas.IndexedStore
}

func provideCAS(c Config, blobs blob.Store, meta metadata.Store, sp *spool.Spool, log *zap.Logger) casOut {
	s := cas.New(blobs, meta, cas.Options{MaxSize: c.CASMaxSize, Spool: sp, Logger: log.Named("cas")})
	return casOut{Store: s, Impl: s}
}

// provideJobs is the durable job queue and the periodic-job leases, in the
// metadata database. A queued job is announced on the change feed (when
// there is one), which followChanges hands to the runner: idle workers on
// every replica wake at once rather than at their next poll.
func provideJobs(c Config, db *sqldb.DB, ch storage.Changes, log *zap.Logger) *jobs.Runner {
	var notify []changes.Notifier
	if ch.Notifier != nil {
		notify = append(notify, ch.Notifier)
	}
	r := jobs.NewRunner(jobs.NewSQL(db, notify...), log.Named("jobs"))
	r.Lease, r.Poll = c.JobLease, c.JobPoll
	return r
}

// gcIn are the periodic collection's dependencies: the ecosystems' sweepers
// of references whose owner is gone.
type gcIn struct {
	fx.In
	Lifecycle fx.Lifecycle
	Config    Config
	Store     *cas.IndexedStore
	Jobs      *jobs.Runner
	Log       *zap.Logger
	Sweepers  []cas.RefSweeper `group:"cas-sweepers"`
}

// startGC runs the CAS garbage collection every PACKYARD_GC_INTERVAL, on the
// one replica that holds the lease "kernel:gc": first every ecosystem's
// sweep of references whose owner was deleted (an organization's packages,
// modules and plugins), then the removal of blobs unreferenced for
// PACKYARD_GC_GRACE.
func startGC(in gcIn) {
	lc, c, s, r, log := in.Lifecycle, in.Config, in.Store, in.Jobs, in.Log
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	log = log.Named("gc")
	lc.Append(fx.Hook{
		OnStart: func(context.Context) error {
			go func() {
				defer close(done)
				r.Periodic(ctx, "kernel:gc", c.GCInterval, func(ctx context.Context) error {
					stats, err := s.Collect(ctx, c.GCGrace, in.Sweepers)
					if err != nil {
						return err
					}
					log.Info("garbage collection done", zap.Any("stats", stats))
					return nil
				})
			}()
			return nil
		},
		OnStop: func(context.Context) error { cancel(); <-done; return nil },
	})
}

package kernel

import (
	"context"

	"go.uber.org/fx"
	"go.uber.org/zap"

	"github.com/packyard/packyard/auth/authcache"
	"github.com/packyard/packyard/pkg/changes"
	"github.com/packyard/packyard/pkg/jobs"
	"github.com/packyard/packyard/pkg/metadata"
	"github.com/packyard/packyard/pkg/sqldb"
	"github.com/packyard/packyard/storage"
)

func provideChanges(c Config, db *sqldb.DB, ca storage.Cache, log *zap.Logger) (storage.Changes, error) {
	return storage.OpenChanges(c.Config, db, ca, log)
}

type metadataOut struct {
	fx.Out
	Store metadata.Store
	Cache *authcache.Store
}

// provideMetadata is the metadata store: its writes announce their changes
// to the selected notifier (inside their transactions) and to this process
// at commit; its hot reads (tokens, organizations, memberships,
// generations) come from memory while the change feed is ready, which only
// the daemon subscribes to (followChanges): the admin CLI reads the
// database.
func provideMetadata(db *sqldb.DB, ch storage.Changes) metadataOut {
	if ch.Notifier == nil {
		return metadataOut{Store: metadata.NewSQL(db)}
	}
	local := changes.NewLocal()
	store := authcache.New(metadata.NewSQL(db, ch.Notifier, local))
	local.Listen(store.Forget)
	return metadataOut{Store: store, Cache: store}
}

// followChanges subscribes the cache and the job runner to the change feed
// once the database is migrated, until the daemon stops: the runner wakes
// its workers on the feed's job announcements (and when it is Ready), the
// cache hears the other changes.
func followChanges(lc fx.Lifecycle, ch storage.Changes, store *authcache.Store, runner *jobs.Runner, start *Startup) {
	if ch.Feed == nil || store == nil {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	lc.Append(fx.Hook{
		OnStart: func(startCtx context.Context) error {
			if err := start.Run(startCtx); err != nil {
				return err
			}
			events, err := ch.Feed.Subscribe(ctx)
			if err != nil {
				return err
			}
			go func() {
				defer close(done)
				store.Follow(teeJobs(events, runner))
			}()
			return nil
		},
		OnStop: func(stopCtx context.Context) error {
			cancel()
			select {
			case <-done:
			case <-stopCtx.Done():
			}
			return nil
		},
	})
}

// teeJobs hands every event to the runner (which never blocks) and passes
// on all but the job announcements, which concern no cache.
func teeJobs(in <-chan changes.Event, r *jobs.Runner) <-chan changes.Event {
	out := make(chan changes.Event, cap(in))
	go func() {
		defer close(out)
		for e := range in {
			r.Observe(e)
			if e.IsState || e.Change.Kind != changes.Job {
				out <- e
			}
		}
	}()
	return out
}

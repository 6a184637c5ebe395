package composer

import (
	"context"
	"time"

	"go.uber.org/fx"
	"go.uber.org/zap"

	"github.com/packyard/packyard/pkg/ecosystem"
)

// Module is the Composer ecosystem for packyard's fx application.
var Module = fx.Module("composer",
	fx.Provide(fx.Private, ConfigFromEnv),
	fx.Provide(New, (*Service).Proxy, ecosystem.As(NewEcosystem)),
	fx.Provide(fx.Annotate(Fragment, fx.ResultTags(`group:"openapi"`))),
	fx.Decorate(func(l *zap.Logger) *zap.Logger { return l.Named("composer") }),
	fx.Invoke(startBackground),
)

// startBackground runs the sync worker: webhook deliveries queued by
// QueueSync, and every source whose last sync is older than the sync
// interval (and, at that interval, the upstreams whose check failed). Hooks never block; the worker stops with the application.
func startBackground(lc fx.Lifecycle, s *Service) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	lc.Append(fx.Hook{
		OnStart: func(context.Context) error {
			go func() {
				defer close(done)
				s.run(ctx)
			}()
			return nil
		},
		OnStop: func(stop context.Context) error {
			cancel()
			select {
			case <-done:
			case <-stop.Done():
			}
			return nil
		},
	})
}

func (s *Service) run(ctx context.Context) {
	var tick <-chan time.Time
	if s.cfg.SyncInterval > 0 {
		t := time.NewTicker(s.cfg.SyncInterval)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-ctx.Done():
			return
		case id := <-s.queue:
			_, _ = s.SyncSource(ctx, id) // outcome recorded on the source and logged
		case <-tick:
			s.syncStale(ctx)
			s.proxy.recheck(ctx)
		}
	}
}

// syncStale syncs every source not synced within the interval. Replicas
// each run this; the per-source lock and the re-check of synced_at under it
// keep one sync per source per interval.
func (s *Service) syncStale(ctx context.Context) {
	ids, err := s.store.sourceIDs(ctx, "")
	if err != nil {
		s.log.Warn("list sources for periodic sync", zap.Error(err))
		return
	}
	for _, id := range ids {
		if ctx.Err() != nil {
			return
		}
		if !s.stale(ctx, id) {
			continue
		}
		_, _ = s.syncIfStale(ctx, id)
	}
}

func (s *Service) stale(ctx context.Context, id string) bool {
	at, err := s.store.syncedAt(ctx, id)
	if err != nil {
		return false
	}
	return !at.Valid || s.repo.now().Sub(fromMicros(at.Int64)) >= s.cfg.SyncInterval/2
}

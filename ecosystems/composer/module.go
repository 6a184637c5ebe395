package composer

import (
	"context"
	"errors"
	"sync"

	"go.uber.org/fx"
	"go.uber.org/zap"

	"github.com/packyard/packyard/ecosystems/composer/vcs"
	"github.com/packyard/packyard/pkg/cas"
	"github.com/packyard/packyard/pkg/ecosystem"
	"github.com/packyard/packyard/pkg/errs"
	"github.com/packyard/packyard/pkg/jobs"
)

// Module is the Composer ecosystem for packyard's fx application.
var Module = fx.Module("composer",
	fx.Provide(fx.Private, ConfigFromEnv),
	fx.Provide(New, (*Service).Proxy, ecosystem.As(NewEcosystem), cas.AsSweeper(func(s *Service) cas.RefSweeper { return s.store })),
	fx.Provide(fx.Annotate(Fragment, fx.ResultTags(`group:"openapi"`))),
	fx.Decorate(func(l *zap.Logger) *zap.Logger { return l.Named("composer") }),
	fx.Invoke(startBackground),
)

// syncJob is the kind of the queued jobs that sync a git source (key: the
// source id).
const syncJob = "composer:sync"

// The periodic jobs, each run by the one replica holding its lease.
const (
	sweepJob   = "composer:sync-sweep"       // queue a sync of every source not synced within the interval
	recheckJob = "composer:upstream-recheck" // check again the upstreams whose check failed
)

// startBackground runs the queued syncs (PACKYARD_COMPOSER_SYNC_CONCURRENCY
// at once) and, every sync interval, on one replica, the sweep that queues
// the syncs of stale sources and the re-check of failed upstreams. Hooks
// never block; the work stops with the application.
func startBackground(lc fx.Lifecycle, s *Service) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	lc.Append(fx.Hook{
		OnStart: func(context.Context) error {
			wg.Go(func() { s.syncs.Run(ctx) })
			if s.cfg.SyncInterval > 0 {
				wg.Go(func() { s.jobs.Periodic(ctx, sweepJob, s.cfg.SyncInterval, s.queueStale) })
				wg.Go(func() {
					s.jobs.Periodic(ctx, recheckJob, s.cfg.SyncInterval, func(ctx context.Context) error {
						s.proxy.recheck(ctx)
						return nil
					})
				})
			}
			return nil
		},
		OnStop: func(stop context.Context) error {
			cancel()
			done := make(chan struct{})
			go func() { wg.Wait(); close(done) }()
			select {
			case <-done:
			case <-stop.Done():
			}
			return nil
		},
	})
}

// runSyncJob does a queued sync. A source removed since is done with.
func (s *Service) runSyncJob(ctx context.Context, j jobs.Job) error {
	_, err := s.SyncSource(ctx, j.Key)
	if errors.Is(err, errs.ErrNotFound) {
		if _, gone := s.sourceByID(ctx, j.Key); errors.Is(gone, errs.ErrNotFound) {
			return nil
		}
	}
	if err != nil {
		return errors.New(errs.PublicMessage(err))
	}
	return nil
}

// queueStale queues a sync of every source not synced within half the
// interval (one synced by a webhook meanwhile waits for the next sweep).
func (s *Service) queueStale(ctx context.Context) error {
	ids, err := s.store.sourceIDs(ctx, "")
	if err != nil {
		return err
	}
	queued := 0
	for _, id := range ids {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if !s.stale(ctx, id) {
			continue
		}
		if err := s.jobs.Queue.Enqueue(ctx, syncJob, id); err != nil {
			return err
		}
		queued++
	}
	if queued > 0 {
		s.syncs.Wake()
		s.log.Info("periodic sync queued", zap.Int("sources", queued))
	}
	return nil
}

func (s *Service) stale(ctx context.Context, id string) bool {
	at, err := s.store.syncedAt(ctx, id)
	if err != nil {
		return false
	}
	return !at.Valid || s.repo.now().Sub(fromMicros(at.Int64)) >= s.cfg.SyncInterval/2
}

// mirrors are the git mirrors of the sources this process synced, by source
// id: a re-sync fetches only what changed. A mirror is used under its
// source's sync lock.
type mirrors struct {
	mu sync.Mutex
	m  map[string]*vcs.Mirror
}

func (m *mirrors) of(id string) *vcs.Mirror {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.m[id] == nil {
		m.m[id] = &vcs.Mirror{}
	}
	return m.m[id]
}

// drop removes a source's mirror (the source was removed).
func (m *mirrors) drop(id string) {
	m.mu.Lock()
	mi := m.m[id]
	delete(m.m, id)
	m.mu.Unlock()
	if mi != nil {
		mi.Remove()
	}
}

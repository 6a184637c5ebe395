package kernel

import (
	"context"
	"time"

	"go.uber.org/fx"
	"go.uber.org/zap"

	"github.com/packyard/packyard/pkg/blob"
	"github.com/packyard/packyard/pkg/cache"
	"github.com/packyard/packyard/pkg/cas"
	"github.com/packyard/packyard/pkg/metadata"
	"github.com/packyard/packyard/pkg/spool"
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

// startGC runs the CAS garbage collection every PACKYARD_GC_INTERVAL, on one
// replica at a time, removing blobs unreferenced for PACKYARD_GC_GRACE.
func startGC(lc fx.Lifecycle, c Config, s *cas.IndexedStore, locker cache.Locker, log *zap.Logger) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	log = log.Named("gc")
	lc.Append(fx.Hook{
		OnStart: func(context.Context) error {
			go func() {
				defer close(done)
				t := time.NewTicker(c.GCInterval)
				defer t.Stop()
				for {
					select {
					case <-ctx.Done():
						return
					case <-t.C:
					}
					unlock, err := locker.Lock(ctx, "kernel:gc", c.GCInterval)
					if err != nil {
						continue
					}
					stats, err := s.GC(ctx, c.GCGrace)
					unlock()
					if err != nil {
						log.Warn("garbage collection failed", zap.Error(err))
						continue
					}
					log.Info("garbage collection done", zap.Any("stats", stats))
				}
			}()
			return nil
		},
		OnStop: func(context.Context) error { cancel(); <-done; return nil },
	})
}

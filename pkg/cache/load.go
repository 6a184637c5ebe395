package cache

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"golang.org/x/sync/singleflight"
)

// Group collapses concurrent loads of one key within this process. Each
// component that calls GetOrLoad holds its own Group; the zero value is ready.
type Group struct {
	sf singleflight.Group
}

// GetOrLoad returns the cached value of key or, on a miss, calls load, stores
// its result for ttl and returns it. Concurrent misses of one key through the
// same Group run load once and share its result. A load error is returned to
// every waiter and is not cached. A failing Set is ignored: the value is still
// returned, the cache only costs time when it is missing.
//
// load runs with the context of the caller that started it; when that caller
// gives up, the others (whose contexts are still live) start a new load.
func GetOrLoad(ctx context.Context, c Cache, g *Group, key string, ttl time.Duration,
	load func(ctx context.Context) ([]byte, error)) ([]byte, error) {
	if v, err := c.Get(ctx, key); err == nil {
		return v, nil
	} else if !errors.Is(err, ErrMiss) {
		return nil, fmt.Errorf("cache get %q: %w", key, err)
	}
	for {
		ch := g.sf.DoChan(key, func() (any, error) {
			// A flight that ended just before this one stored the value:
			// look again so concurrent callers never load twice.
			if v, err := c.Get(ctx, key); err == nil {
				return v, nil
			}
			v, err := load(ctx)
			if err != nil {
				if ctx.Err() != nil {
					return nil, abandoned{err}
				}
				return nil, err
			}
			_ = c.Set(ctx, key, v, ttl)
			return v, nil
		})
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case r := <-ch:
			if r.Err != nil {
				var a abandoned
				if errors.As(r.Err, &a) {
					if ctx.Err() == nil {
						// The caller that ran load gave up; this one has not.
						continue
					}
					return nil, a.err
				}
				return nil, r.Err
			}
			v := r.Val.([]byte)
			if r.Shared {
				// Every waiter gets its own copy, as Get would give it.
				v = bytes.Clone(v)
			}
			return v, nil
		}
	}
}

// abandoned marks a load that failed because the context of the caller that
// started it ended.
type abandoned struct{ err error }

func (a abandoned) Error() string { return a.err.Error() }
func (a abandoned) Unwrap() error { return a.err }

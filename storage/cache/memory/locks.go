package memory

import (
	"context"
	"sync"
	"time"

	"github.com/packyard/packyard/pkg/errs"
)

// Locks is a set of process-local named locks that expire: a holder that
// never unlocks loses its lock after the ttl it asked for. The zero value is
// ready. The redis driver uses it as its fallback when Redis is unreachable.
type Locks struct {
	mu   sync.Mutex
	next uint64
	held map[string]*held
}

type held struct {
	token    uint64
	expires  time.Time
	released chan struct{} // closed when the lock is released or taken over
}

// Lock blocks until key is held or ctx ends. ttl must be positive.
func (l *Locks) Lock(ctx context.Context, key string, ttl time.Duration) (func(), error) {
	if ttl <= 0 {
		return nil, errs.Invalidf("cache: lock %q: ttl must be positive, got %s", key, ttl)
	}
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		l.mu.Lock()
		if l.held == nil {
			l.held = map[string]*held{}
		}
		now := time.Now()
		h, ok := l.held[key]
		if ok && now.Before(h.expires) {
			wait, released := h.expires.Sub(now), h.released
			l.mu.Unlock()
			t := time.NewTimer(wait)
			select {
			case <-released:
			case <-t.C:
			case <-ctx.Done():
			}
			t.Stop()
			continue
		}
		if ok {
			// An abandoned lock: wake its waiters, then take it.
			close(h.released)
		}
		l.next++
		mine := &held{token: l.next, expires: now.Add(ttl), released: make(chan struct{})}
		l.held[key] = mine
		l.mu.Unlock()

		var once sync.Once
		return func() { once.Do(func() { l.unlock(key, mine.token) }) }, nil
	}
}

// unlock releases key if token still holds it: a holder whose lock expired
// and was taken over must not release the new holder's lock.
func (l *Locks) unlock(key string, token uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if h, ok := l.held[key]; ok && h.token == token {
		delete(l.held, key)
		close(h.released)
	}
}

package plugin

import (
	"context"
	"sync"
	"time"

	"github.com/tetratelabs/wazero"
)

// compiledCache holds the compiled modules of a Runner by the sha256 of
// their bytes: at most max of them (the least recently used is closed
// first), none unused for longer than idle, and none after drop. A module
// some run is using is closed when that run releases it, so a run never
// loses its module.
type compiledCache struct {
	mu   sync.Mutex
	max  int
	idle time.Duration
	now  func() time.Time
	m    map[string]*compiledEntry
}

type compiledEntry struct {
	m     wazero.CompiledModule
	users int       // runs using it
	used  time.Time // last acquired or released
	out   bool      // no longer in the map: closed when users reaches 0
}

func newCompiledCache(max int, idle time.Duration) *compiledCache {
	return &compiledCache{max: max, idle: idle, now: time.Now, m: map[string]*compiledEntry{}}
}

// acquire returns the module with the digest, if compiled, and the func
// that releases it once the run is done with it.
func (c *compiledCache) acquire(digest string) (wazero.CompiledModule, func(), bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[digest]
	if !ok {
		return nil, nil, false
	}
	e.users++
	e.used = c.now()
	return e.m, func() { c.release(e) }, true
}

func (c *compiledCache) release(e *compiledEntry) {
	c.mu.Lock()
	e.users--
	e.used = c.now()
	closeNow := e.out && e.users == 0
	c.mu.Unlock()
	if closeNow {
		_ = e.m.Close(context.Background())
	}
}

// put adds a newly compiled module, then closes what is over max or idle.
func (c *compiledCache) put(ctx context.Context, digest string, m wazero.CompiledModule) {
	c.mu.Lock()
	old := c.m[digest]
	c.m[digest] = &compiledEntry{m: m, used: c.now()}
	closing := c.takeOut(old)
	closing = append(closing, c.evictLocked()...)
	c.mu.Unlock()
	closeAll(ctx, closing)
}

// drop closes the module with the digest (its plugin was removed): now
// when no run uses it, else when the last one releases it.
func (c *compiledCache) drop(ctx context.Context, digest string) {
	c.mu.Lock()
	closing := c.takeOut(c.m[digest])
	delete(c.m, digest)
	c.mu.Unlock()
	closeAll(ctx, closing)
}

// evictIdle closes the modules unused for longer than idle.
func (c *compiledCache) evictIdle(ctx context.Context) {
	c.mu.Lock()
	closing := c.evictLocked()
	c.mu.Unlock()
	closeAll(ctx, closing)
}

// len is how many modules are held.
func (c *compiledCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m)
}

// evictLocked takes out the idle modules and, past max, the least
// recently used ones, and returns those to close now.
func (c *compiledCache) evictLocked() []wazero.CompiledModule {
	var closing []wazero.CompiledModule
	cutoff := c.now().Add(-c.idle)
	for d, e := range c.m {
		if e.users == 0 && e.used.Before(cutoff) {
			closing = append(closing, c.takeOut(e)...)
			delete(c.m, d)
		}
	}
	for len(c.m) > c.max {
		var lru string
		for d, e := range c.m {
			if lru == "" || e.used.Before(c.m[lru].used) {
				lru = d
			}
		}
		closing = append(closing, c.takeOut(c.m[lru])...)
		delete(c.m, lru)
	}
	return closing
}

// takeOut marks e as out of the map and returns its module when it is to
// be closed now (no run uses it).
func (c *compiledCache) takeOut(e *compiledEntry) []wazero.CompiledModule {
	if e == nil || e.out {
		return nil
	}
	e.out = true
	if e.users > 0 {
		return nil
	}
	return []wazero.CompiledModule{e.m}
}

func closeAll(ctx context.Context, ms []wazero.CompiledModule) {
	for _, m := range ms {
		_ = m.Close(ctx)
	}
}

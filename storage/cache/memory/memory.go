// Package memory is the in-process cache driver for a single replica: a
// byte-bounded LRU with per-entry TTL and a per-key lock with expiry. Values are copied in and out, so callers never
// share memory with the cache.
package memory

import (
	"bytes"
	"container/list"
	"context"
	"sync"
	"time"

	"github.com/packyard/packyard/pkg/cache"
	"github.com/packyard/packyard/pkg/errs"
)

// DefaultMaxBytes bounds the cache when Config.MaxBytes is not set.
const DefaultMaxBytes = 64 << 20

// entryOverhead approximates the bookkeeping bytes of one entry, so that
// many tiny values still count against MaxBytes.
const entryOverhead = 64

// Config configures the memory cache.
type Config struct {
	// MaxBytes bounds the sum of key and value sizes; the least recently
	// used entries are evicted beyond it. 0 means DefaultMaxBytes.
	MaxBytes int64
}

// Cache is an in-process cache.Cache and cache.Locker.
type Cache struct {
	maxBytes int64

	mu    sync.Mutex
	size  int64
	lru   *list.List // front: most recently used; values are *entry
	items map[string]*list.Element

	locks Locks
}

var (
	_ cache.Cache  = (*Cache)(nil)
	_ cache.Locker = (*Cache)(nil)
)

type entry struct {
	key     string
	value   []byte
	expires time.Time // zero: never
}

func (e *entry) size() int64 { return int64(len(e.key)+len(e.value)) + entryOverhead }

// New returns an empty memory cache.
func New(cfg Config) *Cache {
	maxBytes := cfg.MaxBytes
	if maxBytes <= 0 {
		maxBytes = DefaultMaxBytes
	}
	return &Cache{maxBytes: maxBytes, lru: list.New(), items: map[string]*list.Element{}}
}

// Get returns a copy of the value of key, or cache.ErrMiss.
func (c *Cache) Get(ctx context.Context, key string) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.items[key]
	if !ok {
		return nil, cache.ErrMiss
	}
	e := el.Value.(*entry)
	if !e.expires.IsZero() && !time.Now().Before(e.expires) {
		c.remove(el)
		return nil, cache.ErrMiss
	}
	c.lru.MoveToFront(el)
	return bytes.Clone(e.value), nil
}

// Set stores a copy of value for ttl (0: no expiry). A value larger than
// MaxBytes is not stored (and any older value of key is dropped).
func (c *Cache) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if ttl < 0 {
		return errs.Invalidf("cache: negative ttl %s for key %q", ttl, key)
	}
	e := &entry{key: key, value: bytes.Clone(value)}
	if e.value == nil {
		e.value = []byte{}
	}
	if ttl > 0 {
		e.expires = time.Now().Add(ttl)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[key]; ok {
		c.remove(el)
	}
	if e.size() > c.maxBytes {
		return nil
	}
	c.items[key] = c.lru.PushFront(e)
	c.size += e.size()
	c.evict()
	return nil
}

// Delete removes keys; missing keys are not an error.
func (c *Cache) Delete(ctx context.Context, keys ...string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, k := range keys {
		if el, ok := c.items[k]; ok {
			c.remove(el)
		}
	}
	return nil
}

// Ping always succeeds: the cache lives in this process.
func (c *Cache) Ping(context.Context) error { return nil }

// Len reports the number of stored entries, expired ones included until
// they are looked up or evicted.
func (c *Cache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.items)
}

// remove drops el; c.mu must be held.
func (c *Cache) remove(el *list.Element) {
	e := c.lru.Remove(el).(*entry)
	delete(c.items, e.key)
	c.size -= e.size()
}

// evict drops expired entries at the cold end, then least recently used
// entries until the cache fits; c.mu must be held.
func (c *Cache) evict() {
	now := time.Now()
	for el := c.lru.Back(); el != nil; el = c.lru.Back() {
		e := el.Value.(*entry)
		if e.expires.IsZero() || now.Before(e.expires) {
			break
		}
		c.remove(el)
	}
	for c.size > c.maxBytes {
		c.remove(c.lru.Back())
	}
}

// Lock takes the process-local lock on key; see Locks.Lock.
func (c *Cache) Lock(ctx context.Context, key string, ttl time.Duration) (func(), error) {
	return c.locks.Lock(ctx, key, ttl)
}

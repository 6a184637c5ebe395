// Package cache is the kernel's cache port: derived bytes under string keys
// and a "one at a time" lock. Its drivers live in storage/cache (memory for
// one replica, redis for many); cachetest is the conformance suite. The cache only ever holds data that can be rebuilt from
// the metadata store and the blob store: losing it costs time, never data.
package cache

import (
	"context"
	"errors"
	"time"
)

// ErrMiss is returned by Get when the key is not cached.
var ErrMiss = errors.New("cache: miss")

// Cache stores derived bytes. Keys are namespaced by their user
// ("composer:p2:acme/foo/bar").
type Cache interface {
	// Get returns the value or ErrMiss. A back end that is down answers
	// ErrMiss (and is reported by Ping), so reads fall through to the source.
	Get(ctx context.Context, key string) ([]byte, error)
	// Set stores value for ttl (0: no expiry).
	Set(ctx context.Context, key string, value []byte, ttl time.Duration) error
	// Delete removes keys, on every replica.
	Delete(ctx context.Context, keys ...string) error
	// Ping reports whether the back end is reachable.
	Ping(ctx context.Context) error
}

// Locker grants one holder at a time a named lock, across replicas.
type Locker interface {
	// Lock blocks until the lock is held or ctx ends. The lock expires after
	// ttl if unlock is never called (a crashed holder). When the shared back
	// end is down it falls back to a lock local to this process.
	Lock(ctx context.Context, key string, ttl time.Duration) (unlock func(), err error)
}

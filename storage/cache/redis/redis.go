// Package redis is the cache driver shared by every replica: values and a
// lock over SET NX PX.
//
// Redis is optional and safe to lose. When it is unreachable Get answers
// cache.ErrMiss (so reads fall through to the source), Set and Delete return
// errors wrapping errs.ErrUnavailable, Ping reports errs.ErrUnavailable, and
// Lock falls back to a lock local to this process. After a failure, Get, Set
// and Lock skip Redis for a second (so requests do not each pay the dial
// retries) while one background Ping per second checks whether it is back;
// Delete and Ping always try Redis.
//
// Keys: a cache key k is stored as KeyPrefix+k and a lock on k as
// KeyPrefix+"lock:"+k. Replicas that share a Redis and a KeyPrefix share the
// cache, its invalidations and its locks.
package redis

import (
	"cmp"
	"context"
	cryptorand "crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/packyard/packyard/pkg/cache"
	"github.com/packyard/packyard/pkg/errs"
	"github.com/packyard/packyard/storage/cache/memory"
)

const (
	// warnEvery is the least time between two "Redis is unreachable"
	// warnings; the ones in between are counted, not logged.
	warnEvery = 10 * time.Second
	// unlockTimeout bounds the release of a lock (the unlock func has no context).
	unlockTimeout = 5 * time.Second
	lockPollMin   = 5 * time.Millisecond
	lockPollMax   = 200 * time.Millisecond
	lockKeyPrefix = "lock:"
	// downWindow is how long Get, Set and Lock skip Redis after it failed
	// (a dial to a dead Redis costs hundreds of milliseconds of retries);
	// when the window ends one background Ping decides whether it is back.
	downWindow   = time.Second
	probeTimeout = 2 * time.Second
)

// Config configures the Redis cache.
type Config struct {
	// URL is redis://[user:password@]host[:port][/db] (rediss:// for TLS;
	// go-redis query options such as dial_timeout are accepted).
	URL string
	// KeyPrefix namespaces every key, lock and channel, so several
	// installations can share one Redis.
	KeyPrefix string
	// LockLease is how long a lock outlives a holder that stopped renewing
	// it (a killed process); 0: DefaultLockLease.
	LockLease time.Duration
}

// DefaultLockLease is a lock's lease in Redis: its holder renews it every
// third of it while it holds the lock, so a crashed holder's lock frees
// within this time rather than its whole ttl.
const DefaultLockLease = 5 * time.Second

// Cache is a cache.Cache and cache.Locker on Redis.
type Cache struct {
	client  *goredis.Client
	prefix  string
	log     *zap.Logger
	release *goredis.Script
	renew   *goredis.Script
	lease   time.Duration // DefaultLockLease or Config.LockLease
	local   memory.Locks
	warn    warnLimiter
	// downUntil is when the current down window ends (Unix nanoseconds);
	// 0 while Redis answers.
	downUntil atomic.Int64
}

var (
	_ cache.Cache  = (*Cache)(nil)
	_ cache.Locker = (*Cache)(nil)
)

// New parses cfg.URL and returns a cache. It does no network I/O: call Ping
// to check that Redis answers. Close releases the connections.
func New(cfg Config, logger *zap.Logger) (*Cache, error) {
	opts, err := parseURL(cfg.URL)
	if err != nil {
		return nil, err
	}
	if logger == nil {
		logger = zap.NewNop()
	}
	return &Cache{
		client: goredis.NewClient(opts),
		prefix: cfg.KeyPrefix,
		log:    logger,
		// Deletes the lock only if it still holds this holder's token: a
		// holder whose lock expired must not release its successor's.
		release: goredis.NewScript(`if redis.call("get", KEYS[1]) == ARGV[1] then return redis.call("del", KEYS[1]) end return 0`),
		// Extends the lock only while it holds this holder's token.
		renew: goredis.NewScript(`if redis.call("get", KEYS[1]) == ARGV[1] then return redis.call("pexpire", KEYS[1], ARGV[2]) end return 0`),
		lease: cmp.Or(cfg.LockLease, DefaultLockLease),
		warn:  warnLimiter{every: warnEvery},
	}, nil
}

// parseURL parses a Redis URL without ever echoing it: it may hold a password.
func parseURL(raw string) (*goredis.Options, error) {
	if strings.TrimSpace(raw) == "" {
		return nil, errs.Invalidf("redis URL is empty (want redis://[user:password@]host:port/db)")
	}
	opts, err := goredis.ParseURL(raw)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, errs.Wrap(errs.ErrInvalidArgument, "invalid redis URL (want redis://[user:password@]host:port/db)", err)
	}
	// A cache must fail fast: the client's defaults (5 dial attempts per
	// connection, 3 retries per command, 5 s dial timeout) make one Get
	// against a dead Redis take seconds. The URL's own settings win.
	if opts.MaxRetries == 0 {
		opts.MaxRetries = 1
	}
	if opts.DialTimeout == 0 {
		opts.DialTimeout = 2 * time.Second
	}
	opts.DialerRetries = 2
	opts.DialerRetryTimeout = 50 * time.Millisecond
	return opts, nil
}

// Close closes the connections to Redis.
func (c *Cache) Close() error { return c.client.Close() }

// Get returns the value of key, or cache.ErrMiss when it is absent or Redis
// cannot be reached (logged at Warn, at most once per warnEvery).
func (c *Cache) Get(ctx context.Context, key string) ([]byte, error) {
	if c.skip(ctx) {
		return nil, cache.ErrMiss
	}
	v, err := c.client.Get(ctx, c.prefix+key).Bytes()
	switch {
	case err == nil:
		return v, nil
	case errors.Is(err, goredis.Nil):
		return nil, cache.ErrMiss
	case ctx.Err() != nil:
		return nil, ctx.Err()
	default:
		c.markDown()
		c.warnUnreachable("get: reading through to the source", err)
		return nil, cache.ErrMiss
	}
}

// Set stores value for ttl (0: no expiry; Redis keeps millisecond precision).
func (c *Cache) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	if ttl < 0 {
		return errs.Invalidf("cache: negative ttl %s for key %q", ttl, key)
	}
	if ttl > 0 && ttl < time.Millisecond {
		ttl = time.Millisecond
	}
	if c.skip(ctx) {
		return unavailable(fmt.Errorf("redis set %s: redis failed less than %s ago", key, downWindow))
	}
	if err := c.client.Set(ctx, c.prefix+key, value, ttl).Err(); err != nil {
		return c.failed(ctx, "set "+key, err)
	}
	return nil
}

// Delete removes keys for every replica that shares this Redis and prefix.
func (c *Cache) Delete(ctx context.Context, keys ...string) error {
	if len(keys) == 0 {
		return nil
	}
	full := make([]string, len(keys))
	for i, k := range keys {
		full[i] = c.prefix + k
	}
	if err := c.client.Del(ctx, full...).Err(); err != nil {
		return c.failed(ctx, fmt.Sprintf("delete %d keys", len(keys)), err)
	}
	c.markUp()
	return nil
}

// Ping reports an error wrapping errs.ErrUnavailable when Redis does not answer.
func (c *Cache) Ping(ctx context.Context) error {
	if err := c.client.Ping(ctx).Err(); err != nil {
		if ctx.Err() == nil {
			c.markDown()
		}
		return unavailable(fmt.Errorf("redis ping: %w", err))
	}
	c.markUp()
	return nil
}

// Lock takes key for one holder across every replica sharing this Redis and
// prefix, waiting until it is free or ctx ends. The lock expires after ttl
// if unlock is never called; in Redis it is held for a lease (at most ttl)
// that this process renews until then, so the lock of a holder whose
// process died frees within a lease. Holders in one process first queue on
// a local lock, so only one of them polls Redis; when Redis cannot be
// reached the local lock alone is held (logged at Warn).
func (c *Cache) Lock(ctx context.Context, key string, ttl time.Duration) (func(), error) {
	unlockLocal, err := c.local.Lock(ctx, key, ttl)
	if err != nil {
		return nil, err
	}
	if ttl < time.Millisecond {
		ttl = time.Millisecond
	}
	token, err := newToken()
	if err != nil {
		unlockLocal()
		return nil, err
	}
	if c.skip(ctx) {
		return unlockLocal, nil
	}
	rkey := c.prefix + lockKeyPrefix + key
	wait := lockPollMin
	lease := min(ttl, c.lease)
	for {
		ok, err := c.client.SetNX(ctx, rkey, token, lease).Result()
		switch {
		case err == nil && ok:
			stop := c.keep(ctx, rkey, token, lease, time.Now().Add(ttl))
			var once sync.Once
			return func() {
				once.Do(func() {
					stop()
					c.unlock(ctx, rkey, token)
					unlockLocal()
				})
			}, nil
		case err == nil:
			// Held by another replica: poll with jittered, growing waits.
			t := time.NewTimer(wait/2 + rand.N(wait/2+1))
			select {
			case <-ctx.Done():
				t.Stop()
				unlockLocal()
				return nil, ctx.Err()
			case <-t.C:
			}
			wait = min(wait*2, lockPollMax)
		case ctx.Err() != nil:
			unlockLocal()
			return nil, ctx.Err()
		default:
			c.markDown()
			c.warnUnreachable("lock "+key+": holding a process-local lock only", err)
			return unlockLocal, nil
		}
	}
}

// keep renews a held lock's lease every third of it until the returned
// stop is called or until is reached (then the lease runs out by itself),
// or until the lock turns out to be another holder's.
func (c *Cache) keep(ctx context.Context, rkey, token string, lease time.Duration, until time.Time) (stop func()) {
	if !time.Now().Add(lease).Before(until) {
		return func() {}
	}
	quit := make(chan struct{})
	done := make(chan struct{})
	ctx = context.WithoutCancel(ctx)
	go func() {
		defer close(done)
		t := time.NewTicker(max(lease/3, time.Millisecond))
		defer t.Stop()
		for {
			select {
			case <-quit:
				return
			case <-t.C:
			}
			ext := min(lease, time.Until(until))
			if ext <= 0 {
				return
			}
			rctx, cancel := context.WithTimeout(ctx, max(lease/3, time.Millisecond))
			n, err := c.renew.Run(rctx, c.client, []string{rkey}, token, max(ext.Milliseconds(), 1)).Int()
			cancel()
			switch {
			case err != nil:
				c.warnUnreachable("renew a lock: it expires unless renewed", err)
			case n == 0:
				c.log.Warn("a lock expired before its holder released it", zap.String("lock", strings.TrimPrefix(rkey, c.prefix)))
				return
			}
		}
	}()
	return func() { close(quit); <-done }
}

func (c *Cache) unlock(ctx context.Context, rkey, token string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), unlockTimeout)
	defer cancel()
	if err := c.release.Run(ctx, c.client, []string{rkey}, token).Err(); err != nil {
		// The lock still expires after its ttl.
		c.warnUnreachable("unlock: the lock will expire after its ttl", err)
	}
}

// failed wraps a Redis error: the caller's context error as is, anything
// else as unavailable.
func (c *Cache) failed(ctx context.Context, op string, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("redis %s: %w", op, ctx.Err())
	}
	c.markDown()
	return unavailable(fmt.Errorf("redis %s: %w", op, err))
}

// unavailable is what a client may be told when Redis is down; cause, for
// the log, says which operation failed and why.
func unavailable(cause error) error {
	return errs.Wrap(errs.ErrUnavailable, "cache unavailable", cause)
}

// skip reports whether Redis failed within the last downWindow. When a
// window has ended it opens the next one and starts a single background
// Ping, which ends the down state if Redis answers.
func (c *Cache) skip(ctx context.Context) bool {
	until := c.downUntil.Load()
	if until == 0 {
		return false
	}
	now := time.Now().UnixNano()
	if now < until {
		return true
	}
	if c.downUntil.CompareAndSwap(until, now+int64(downWindow)) {
		go func() {
			ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), probeTimeout)
			defer cancel()
			if c.client.Ping(ctx).Err() == nil {
				c.markUp()
			}
		}()
	}
	return true
}

func (c *Cache) markDown() { c.downUntil.Store(time.Now().Add(downWindow).UnixNano()) }
func (c *Cache) markUp()   { c.downUntil.Store(0) }

func (c *Cache) warnUnreachable(msg string, err error) {
	if suppressed, ok := c.warn.allow(time.Now()); ok {
		c.log.Warn("redis unreachable: "+msg, zap.Error(err), zap.Int("suppressed_warnings", suppressed))
	}
}

func newToken() (string, error) {
	var b [16]byte
	if _, err := cryptorand.Read(b[:]); err != nil {
		return "", fmt.Errorf("lock token: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}

// warnLimiter lets one warning through per period and counts the others.
type warnLimiter struct {
	every time.Duration

	mu         sync.Mutex
	last       time.Time
	suppressed int
}

func (w *warnLimiter) allow(now time.Time) (suppressed int, ok bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.last.IsZero() && now.Sub(w.last) < w.every {
		w.suppressed++
		return 0, false
	}
	suppressed, w.suppressed, w.last = w.suppressed, 0, now
	return suppressed, true
}

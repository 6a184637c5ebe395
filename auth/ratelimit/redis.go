package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/packyard/packyard/pkg/errs"
)

// Redis is a Counter shared by every replica that uses the same Redis and
// key prefix. While Redis does not answer it counts in memory (failing
// open to a per-replica limit, never to none) and tries Redis again after a
// second.
type Redis struct {
	client    *goredis.Client
	prefix    string
	hit, peek *goredis.Script
	local     *Memory
	log       *zap.Logger
	downUntil atomic.Int64
	lastWarn  atomic.Int64
}

var _ Counter = (*Redis)(nil)

// One atomic round trip: count, start the window on the first event, and
// report the time left (repairing a key that lost its expiry).
const hitScript = `
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]); ttl = tonumber(ARGV[1]) end
return {n, ttl}`

const peekScript = `
local n = redis.call('GET', KEYS[1])
if not n then return {0, 0} end
return {tonumber(n), redis.call('PTTL', KEYS[1])}`

// NewRedis parses url (redis:// or rediss://) and returns a counter whose
// keys start with prefix+"ratelimit:". It does no network I/O; Close
// releases the connections.
func NewRedis(url, prefix string, log *zap.Logger) (*Redis, error) {
	opts, err := goredis.ParseURL(url)
	if err != nil {
		return nil, errs.Invalidf("invalid redis URL (want redis://[user:password@]host:port/db)")
	}
	// A rate limit must not make requests wait for a sick Redis.
	opts.DialTimeout, opts.ReadTimeout, opts.WriteTimeout = 500*time.Millisecond, 500*time.Millisecond, 500*time.Millisecond
	opts.MaxRetries = 0
	if log == nil {
		log = zap.NewNop()
	}
	return &Redis{client: goredis.NewClient(opts), prefix: prefix + "ratelimit:", hit: goredis.NewScript(hitScript),
		peek: goredis.NewScript(peekScript), local: NewMemory(), log: log}, nil
}

// Close releases the connections.
func (r *Redis) Close() error { return r.client.Close() }

func (r *Redis) up() bool { return time.Now().UnixNano() >= r.downUntil.Load() }

func (r *Redis) failed(err error) {
	now := time.Now()
	r.downUntil.Store(now.Add(time.Second).UnixNano())
	if last := r.lastWarn.Load(); now.UnixNano()-last > int64(10*time.Second) && r.lastWarn.CompareAndSwap(last, now.UnixNano()) {
		r.log.Warn("redis is not reachable; rate limits count on this replica only until it is", zap.Error(err))
	}
}

func (r *Redis) run(ctx context.Context, s *goredis.Script, key string, args ...any) (int64, time.Duration, error) {
	v, err := s.Run(ctx, r.client, []string{r.prefix + key}, args...).Int64Slice()
	if err != nil {
		return 0, 0, err
	}
	if len(v) != 2 {
		return 0, 0, fmt.Errorf("ratelimit: unexpected script answer %v", v)
	}
	return v[0], time.Duration(v[1]) * time.Millisecond, nil
}

// Hit implements Counter.
func (r *Redis) Hit(ctx context.Context, key string, window time.Duration) (int64, time.Duration, error) {
	if r.up() {
		n, ttl, err := r.run(ctx, r.hit, key, window.Milliseconds())
		if err == nil {
			return n, ttl, nil
		}
		if errors.Is(err, context.Canceled) {
			return 0, 0, err
		}
		r.failed(err)
	}
	return r.local.Hit(ctx, key, window)
}

// Peek implements Counter.
func (r *Redis) Peek(ctx context.Context, key string) (int64, time.Duration, error) {
	if r.up() {
		n, ttl, err := r.run(ctx, r.peek, key)
		if err == nil {
			return n, max(ttl, 0), nil
		}
		if errors.Is(err, context.Canceled) {
			return 0, 0, err
		}
		r.failed(err)
	}
	return r.local.Peek(ctx, key)
}

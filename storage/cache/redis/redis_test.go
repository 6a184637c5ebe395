package redis_test

import (
	"context"
	"net"
	"os/exec"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/packyard/packyard/pkg/cache"
	"github.com/packyard/packyard/pkg/cache/cachetest"
	"github.com/packyard/packyard/pkg/errs"
	"github.com/packyard/packyard/pkg/testenv"
	"github.com/packyard/packyard/storage/cache/redis"
)

// newCache connects to the test Redis under prefix (a fresh one when empty)
// and removes the prefix's keys when the test ends.
func newCache(tb testing.TB, prefix string) *redis.Cache {
	tb.Helper()
	url := testenv.RedisURL(tb)
	if prefix == "" {
		prefix = testenv.RandomName("packyard-test-") + ":"
	}
	c, err := redis.New(redis.Config{URL: url, KeyPrefix: prefix}, zap.NewNop())
	require.NoError(tb, err)
	tb.Cleanup(func() {
		_ = c.Close()
		dropPrefix(tb, url, prefix)
	})
	return c
}

func dropPrefix(tb testing.TB, url, prefix string) {
	opts, err := goredis.ParseURL(url)
	require.NoError(tb, err)
	rdb := goredis.NewClient(opts)
	defer rdb.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	iter := rdb.Scan(ctx, 0, prefix+"*", 500).Iterator()
	var keys []string
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
	}
	if len(keys) > 0 {
		_ = rdb.Del(ctx, keys...).Err()
	}
}

func TestConformance(t *testing.T) {
	cachetest.Run(t, func(t *testing.T) cache.Cache { return newCache(t, "") })
}

func BenchmarkCache(b *testing.B) {
	cachetest.Bench(b, func(b *testing.B) cache.Cache { return newCache(b, "") })
}

// Two replicas on one Redis with one prefix: what one deletes or locks, the
// other sees.
func TestReplicasShareOneRedis(t *testing.T) {
	prefix := testenv.RandomName("packyard-test-") + ":"
	a, b := newCache(t, prefix), newCache(t, prefix)
	ctx := t.Context()

	t.Run("Invalidation", func(t *testing.T) {
		require.NoError(t, a.Set(ctx, "composer:p2:acme/x/y", []byte("v1"), time.Minute))
		v, err := b.Get(ctx, "composer:p2:acme/x/y")
		require.NoError(t, err)
		require.Equal(t, "v1", string(v))
		require.NoError(t, b.Delete(ctx, "composer:p2:acme/x/y"))
		_, err = a.Get(ctx, "composer:p2:acme/x/y")
		require.ErrorIs(t, err, cache.ErrMiss, "a replica still serves a key another replica deleted")
	})
	t.Run("LockExclusion", func(t *testing.T) {
		cachetest.CheckLockExclusion(t, []cache.Locker{a, b}, "shared-counter")
	})
	t.Run("LockExpiry", func(t *testing.T) {
		cachetest.CheckLockExpiry(t, a, b)
	})
}

func TestPrefixesAreSeparate(t *testing.T) {
	a, b := newCache(t, ""), newCache(t, "")
	ctx := t.Context()
	require.NoError(t, a.Set(ctx, "k", []byte("a"), time.Minute))
	_, err := b.Get(ctx, "k")
	require.ErrorIs(t, err, cache.ErrMiss)
	require.NoError(t, b.Delete(ctx, "k"))
	v, err := a.Get(ctx, "k")
	require.NoError(t, err, "a delete under another prefix removed the key")
	require.Equal(t, "a", string(v))
}

// closedPort returns a loopback address nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	return addr
}

// Losing Redis never breaks reads: Get misses, writes and Ping report
// unavailable, locks fall back to this process, and the warning is not
// repeated for every request.
func TestRedisDown(t *testing.T) {
	core, logs := observer.New(zapcore.WarnLevel)
	c, err := redis.New(redis.Config{URL: "redis://" + closedPort(t) + "/0", KeyPrefix: "p:"}, zap.New(core))
	require.NoError(t, err, "New must not connect")
	t.Cleanup(func() { _ = c.Close() })
	ctx := t.Context()

	start := time.Now()
	_, err = c.Get(ctx, "k")
	require.ErrorIs(t, err, cache.ErrMiss)
	t.Logf("the first Get against a closed port took %s", time.Since(start))
	start = time.Now()
	for range 50 {
		_, err := c.Get(ctx, "k")
		require.ErrorIs(t, err, cache.ErrMiss)
	}
	require.Less(t, time.Since(start), 500*time.Millisecond,
		"after one failure, Gets must not each wait for Redis dial retries")
	require.Equal(t, 1, logs.FilterMessageSnippet("redis unreachable").Len(),
		"a dead Redis must be reported once, not on every Get")

	require.ErrorIs(t, c.Ping(ctx), errs.ErrUnavailable)
	require.ErrorIs(t, c.Set(ctx, "k", []byte("v"), time.Minute), errs.ErrUnavailable)
	require.ErrorIs(t, c.Delete(ctx, "k"), errs.ErrUnavailable)

	cachetest.CheckLockExclusion(t, []cache.Locker{c}, "local-fallback")

	held, err := c.Lock(ctx, "held", time.Minute)
	require.NoError(t, err)
	short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	_, err = c.Lock(short, "held", time.Minute)
	require.ErrorIs(t, err, context.DeadlineExceeded, "the local fallback lock was granted twice")
	held()
}

// A Redis that comes back is used again, also after a restart.
func TestRedisComesBack(t *testing.T) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if testenv.Required() {
			t.Fatal("redis-server not found")
		}
		t.Skip("redis-server not found")
	}
	addr := closedPort(t)
	host, port, _ := net.SplitHostPort(addr)
	c, err := redis.New(redis.Config{URL: "redis://" + addr + "/0", KeyPrefix: "p:"}, zap.NewNop())
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	ctx := t.Context()

	var stop func()
	_, err = c.Get(ctx, "k")
	require.ErrorIs(t, err, cache.ErrMiss)

	start := func() {
		srv := exec.Command(bin, "--bind", host, "--port", port, "--save", "", "--appendonly", "no")
		require.NoError(t, srv.Start())
		stopped := false
		stop = func() {
			if !stopped {
				stopped = true
				_ = srv.Process.Kill()
				_ = srv.Wait()
			}
		}
	}
	t.Cleanup(func() { stop() })

	start()
	// No Ping from the caller: the cache notices on its own that Redis is back.
	require.Eventually(t, func() bool { return c.Set(ctx, "k", []byte("v"), time.Minute) == nil },
		15*time.Second, 50*time.Millisecond, "the cache never used Redis on port %s again", port)
	require.NoError(t, c.Ping(ctx))
	v, err := c.Get(ctx, "k")
	require.NoError(t, err)
	require.Equal(t, "v", string(v))

	// Redis restarts (empty): reads miss, then the cache uses it again.
	stop()
	_, err = c.Get(ctx, "k")
	require.ErrorIs(t, err, cache.ErrMiss)
	start()
	require.Eventually(t, func() bool { return c.Set(ctx, "k", []byte("v2"), time.Minute) == nil },
		30*time.Second, 50*time.Millisecond, "the cache did not use Redis again after a restart")
}

func TestNewRejectsBadURLs(t *testing.T) {
	for _, tc := range []struct{ name, url string }{
		{"empty", ""},
		{"blank", "   "},
		{"scheme", "http://127.0.0.1:6379"},
		{"unparsable", "redis://user:s3cret-pass@[::1"},
		{"database", "redis://127.0.0.1:6379/notanumber"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := redis.New(redis.Config{URL: tc.url}, zap.NewNop())
			require.Error(t, err)
			require.Nil(t, c)
			require.ErrorIs(t, err, errs.ErrInvalidArgument)
			require.NotContains(t, err.Error(), "s3cret", "the error leaks the password")
		})
	}
	c, err := redis.New(redis.Config{URL: "redis://:pw@127.0.0.1:6379/2"}, nil)
	require.NoError(t, err)
	require.NoError(t, c.Close())
}

// A lock's holder renews its lease in Redis while it holds the lock: the
// lock stays held past the lease for as long as its ttl allows, and the
// lock of a holder that stopped renewing (its process killed: here its
// connections closed) frees within a lease, not at the end of its ttl.
func TestLockLeaseOutlivesNoDeadHolder(t *testing.T) {
	url := testenv.RedisURL(t)
	prefix := testenv.RandomName("packyard-test-") + ":"
	const lease = 300 * time.Millisecond
	open := func() *redis.Cache {
		c, err := redis.New(redis.Config{URL: url, KeyPrefix: prefix, LockLease: lease}, zap.NewNop())
		require.NoError(t, err)
		t.Cleanup(func() { _ = c.Close() })
		return c
	}
	t.Cleanup(func() { dropPrefix(t, url, prefix) })
	live, dead, other := open(), open(), open()
	ctx := t.Context()

	unlock, err := live.Lock(ctx, "sync", time.Minute)
	require.NoError(t, err)
	short, cancel := context.WithTimeout(ctx, 4*lease)
	_, err = other.Lock(short, "sync", time.Minute)
	cancel()
	require.ErrorIs(t, err, context.DeadlineExceeded, "a live holder keeps its lock past the lease")
	unlock()
	unlock, err = other.Lock(ctx, "sync", time.Minute)
	require.NoError(t, err)
	unlock()

	_, err = dead.Lock(ctx, "sync", time.Hour)
	require.NoError(t, err)
	require.NoError(t, dead.Close()) // it renews no more
	start := time.Now()
	bounded, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	unlock, err = other.Lock(bounded, "sync", time.Minute)
	require.NoError(t, err, "a dead holder's lock frees after its lease, not its hour-long ttl")
	took := time.Since(start)
	unlock()
	t.Logf("a dead holder's lock was taken over after %v (lease %v)", took.Round(time.Millisecond), lease)
	require.Less(t, took, 3*lease)
}

// Package cachetest is the conformance suite every cache driver passes:
// values, expiry, isolation, the lock (when the driver offers it) and
// GetOrLoad over the driver.
package cachetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/packyard/packyard/pkg/cache"
)

// Run runs the suite. newCache returns a fresh, empty cache for each subtest
// (for a shared back end: under a fresh key prefix).
func Run(t *testing.T, newCache func(t *testing.T) cache.Cache) {
	for _, ck := range checks() {
		t.Run(ck.name, func(t *testing.T) { ck.run(t, newCache(t)) })
	}
}

// check is one subtest of the suite, run on a fresh cache.
type check struct {
	name string
	run  func(t *testing.T, c cache.Cache)
}

// checks are the suite's subtests, in order.
func checks() []check {
	return []check{
		{"GetMiss", checkGetMiss},
		{"SetGet", checkSetGet},
		{"EmptyValueIsAHit", checkEmptyValueIsAHit},
		{"Overwrite", checkOverwrite},
		{"Delete", checkDelete},
		{"TTLExpiry", checkTTLExpiry},
		{"NegativeTTLRejected", checkNegativeTTLRejected},
		{"LargeValue", checkLargeValue},
		{"BinaryValue", checkBinaryValue},
		{"OddKeys", checkOddKeys},
		{"ValueIsolation", checkValueIsolation},
		{"Ping", checkPing},
		{"LockMutualExclusion", checkLockMutualExclusion},
		{"LockKeysAreIndependent", checkLockKeysAreIndependent},
		{"LockExpiresWhenAbandoned", checkLockExpiresWhenAbandoned},
		{"LockInvalidTTL", checkLockInvalidTTL},
		{"GetOrLoadLoadsOnce", checkGetOrLoadLoadsOnce},
		{"GetOrLoadErrorIsNotCached", checkGetOrLoadErrorIsNotCached},
		{"GetOrLoadWaiterOutlivesStarter", checkGetOrLoadWaiterOutlivesStarter},
	}
}

// lockerOf returns c as a cache.Locker, or skips the test when c is none.
func lockerOf(t *testing.T, c cache.Cache) cache.Locker {
	t.Helper()
	l, ok := c.(cache.Locker)
	if !ok {
		t.Skipf("%T does not implement cache.Locker", c)
	}
	return l
}

func checkGetMiss(t *testing.T, c cache.Cache) {
	_, err := c.Get(t.Context(), "composer:p2:acme/none")
	require.ErrorIs(t, err, cache.ErrMiss)
}

func checkSetGet(t *testing.T, c cache.Cache) {
	ctx := t.Context()
	require.NoError(t, c.Set(ctx, "k", []byte("value"), 0))
	v, err := c.Get(ctx, "k")
	require.NoError(t, err)
	require.Equal(t, []byte("value"), v)
	_, err = c.Get(ctx, "other")
	require.ErrorIs(t, err, cache.ErrMiss)
}

func checkEmptyValueIsAHit(t *testing.T, c cache.Cache) {
	ctx := t.Context()
	require.NoError(t, c.Set(ctx, "empty", []byte{}, 0))
	v, err := c.Get(ctx, "empty")
	require.NoError(t, err)
	require.Empty(t, v)
}

func checkOverwrite(t *testing.T, c cache.Cache) {
	ctx := t.Context()
	require.NoError(t, c.Set(ctx, "k", []byte("first, longer value"), 0))
	require.NoError(t, c.Set(ctx, "k", []byte("second"), 0))
	v, err := c.Get(ctx, "k")
	require.NoError(t, err)
	require.Equal(t, []byte("second"), v)
}

func checkDelete(t *testing.T, c cache.Cache) {
	ctx := t.Context()
	for _, k := range []string{"a", "b", "c", "d"} {
		require.NoError(t, c.Set(ctx, k, []byte("v-"+k), 0))
	}
	require.NoError(t, c.Delete(ctx, "a"))
	require.NoError(t, c.Delete(ctx, "b", "c", "never-set"))
	require.NoError(t, c.Delete(ctx))
	for _, k := range []string{"a", "b", "c"} {
		_, err := c.Get(ctx, k)
		require.ErrorIs(t, err, cache.ErrMiss, "key %q", k)
	}
	v, err := c.Get(ctx, "d")
	require.NoError(t, err)
	require.Equal(t, []byte("v-d"), v)
	require.NoError(t, c.Delete(ctx, "a"), "deleting a missing key is not an error")
}

func checkTTLExpiry(t *testing.T, c cache.Cache) {
	ctx := t.Context()
	require.NoError(t, c.Set(ctx, "short", []byte("v"), 1500*time.Millisecond))
	require.NoError(t, c.Set(ctx, "forever", []byte("v"), 0))
	require.NoError(t, c.Set(ctx, "long", []byte("v"), time.Hour))
	v, err := c.Get(ctx, "short")
	require.NoError(t, err, "a fresh entry is a hit before its ttl")
	require.Equal(t, []byte("v"), v)
	require.Eventually(t, func() bool {
		_, err := c.Get(ctx, "short")
		return errors.Is(err, cache.ErrMiss)
	}, 10*time.Second, 50*time.Millisecond, "entry outlived its ttl")
	for _, k := range []string{"forever", "long"} {
		_, err := c.Get(ctx, k)
		require.NoError(t, err, "key %q expired with another key's ttl", k)
	}
}

func checkNegativeTTLRejected(t *testing.T, c cache.Cache) {
	ctx := t.Context()
	require.Error(t, c.Set(ctx, "k", []byte("v"), -time.Second))
	_, err := c.Get(ctx, "k")
	require.ErrorIs(t, err, cache.ErrMiss, "a rejected Set stores nothing")
}

func checkLargeValue(t *testing.T, c cache.Cache) {
	ctx := t.Context()
	big := pattern(1 << 20)
	require.NoError(t, c.Set(ctx, "big", big, time.Minute))
	v, err := c.Get(ctx, "big")
	require.NoError(t, err)
	require.True(t, bytes.Equal(big, v), "1 MiB value changed in the cache")
}

func checkBinaryValue(t *testing.T, c cache.Cache) {
	ctx := t.Context()
	bin := make([]byte, 0, 512)
	for i := range 256 {
		bin = append(bin, byte(i), byte(255-i)) // NUL, invalid UTF-8, CR/LF...
	}
	require.NoError(t, c.Set(ctx, "bin", bin, 0))
	v, err := c.Get(ctx, "bin")
	require.NoError(t, err)
	require.Equal(t, bin, v)
}

func checkOddKeys(t *testing.T, c cache.Cache) {
	ctx := t.Context()
	keys := []string{
		"composer:p2:acme/vendor/name~dev",
		"with space",
		"glob*?[chars]",
		"unicodé/ключ/键",
		"new\nline\ttab",
		"nul\x00byte",
		"a:b", "a:b:", ":a:b", // neighbours that must not collide
		string(bytes.Repeat([]byte("k"), 1000)),
	}
	for i, k := range keys {
		require.NoError(t, c.Set(ctx, k, fmt.Appendf(nil, "value-%d", i), 0), "key %q", k)
	}
	for i, k := range keys {
		v, err := c.Get(ctx, k)
		require.NoError(t, err, "key %q", k)
		require.Equal(t, fmt.Sprintf("value-%d", i), string(v), "key %q", k)
	}
	require.NoError(t, c.Delete(ctx, "glob*?[chars]"))
	_, err := c.Get(ctx, "glob*?[chars]")
	require.ErrorIs(t, err, cache.ErrMiss)
	_, err = c.Get(ctx, "with space")
	require.NoError(t, err, "deleting a key with glob characters removed another key")
}

func checkValueIsolation(t *testing.T, c cache.Cache) {
	ctx := t.Context()
	in := []byte("original")
	require.NoError(t, c.Set(ctx, "k", in, 0))
	copy(in, "MUTATED!")
	out, err := c.Get(ctx, "k")
	require.NoError(t, err)
	require.Equal(t, "original", string(out), "mutating the slice given to Set changed the cache")
	copy(out, "MUTATED!")
	again, err := c.Get(ctx, "k")
	require.NoError(t, err)
	require.Equal(t, "original", string(again), "mutating the slice returned by Get changed the cache")
}

func checkPing(t *testing.T, c cache.Cache) {
	require.NoError(t, c.Ping(t.Context()))
}

func checkLockMutualExclusion(t *testing.T, c cache.Cache) {
	l := lockerOf(t, c)
	CheckLockExclusion(t, []cache.Locker{l}, "counter")
}

func checkLockKeysAreIndependent(t *testing.T, c cache.Cache) {
	l := lockerOf(t, c)
	ctx := t.Context()
	unlockA, err := l.Lock(ctx, "a", time.Minute)
	require.NoError(t, err)
	defer unlockA()
	short, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	unlockB, err := l.Lock(short, "b", time.Minute)
	require.NoError(t, err, "holding lock a blocked lock b")
	unlockB()
}

func checkLockExpiresWhenAbandoned(t *testing.T, c cache.Cache) {
	l := lockerOf(t, c)
	CheckLockExpiry(t, l, l)
}

func checkLockInvalidTTL(t *testing.T, c cache.Cache) {
	l := lockerOf(t, c)
	_, err := l.Lock(t.Context(), "k", 0)
	require.Error(t, err)
}

func checkGetOrLoadLoadsOnce(t *testing.T, c cache.Cache) {
	ctx := t.Context()
	var g cache.Group
	var loads atomic.Int32
	const callers = 50
	start := make(chan struct{})
	results := make([][]byte, callers)
	errs := make([]error, callers)
	var wg sync.WaitGroup
	for i := range callers {
		wg.Go(func() {
			<-start
			results[i], errs[i] = cache.GetOrLoad(ctx, c, &g, "doc", time.Minute, func(context.Context) ([]byte, error) {
				loads.Add(1)
				time.Sleep(100 * time.Millisecond) // keep the flight open while the others arrive
				return []byte("built document"), nil
			})
		})
	}
	close(start)
	wg.Wait()
	for i := range callers {
		require.NoError(t, errs[i])
		require.Equal(t, "built document", string(results[i]))
	}
	require.EqualValues(t, 1, loads.Load(), "concurrent misses loaded more than once")
	results[0][0] = 'X'
	require.Equal(t, "built document", string(results[1]), "callers share one result slice")

	v, err := c.Get(ctx, "doc")
	require.NoError(t, err, "GetOrLoad did not store the loaded value")
	require.Equal(t, "built document", string(v))
	v, err = cache.GetOrLoad(ctx, c, &g, "doc", time.Minute, func(context.Context) ([]byte, error) {
		return nil, errors.New("must not load: the value is cached")
	})
	require.NoError(t, err)
	require.Equal(t, "built document", string(v))
}

func checkGetOrLoadErrorIsNotCached(t *testing.T, c cache.Cache) {
	ctx := t.Context()
	var g cache.Group
	boom := errors.New("source down")
	_, err := cache.GetOrLoad(ctx, c, &g, "k", time.Minute, func(context.Context) ([]byte, error) {
		return nil, boom
	})
	require.ErrorIs(t, err, boom)
	_, err = c.Get(ctx, "k")
	require.ErrorIs(t, err, cache.ErrMiss)
	v, err := cache.GetOrLoad(ctx, c, &g, "k", time.Minute, func(context.Context) ([]byte, error) {
		return []byte("recovered"), nil
	})
	require.NoError(t, err)
	require.Equal(t, "recovered", string(v))
}

func checkGetOrLoadWaiterOutlivesStarter(t *testing.T, c cache.Cache) {
	var g cache.Group
	starterCtx, cancelStarter := context.WithCancel(t.Context())
	started := make(chan struct{})
	var loads atomic.Int32
	load := func(ctx context.Context) ([]byte, error) {
		if loads.Add(1) == 1 {
			close(started)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(200 * time.Millisecond):
			return []byte("v"), nil
		}
	}
	starterErr := make(chan error, 1)
	go func() {
		_, err := cache.GetOrLoad(starterCtx, c, &g, "k", time.Minute, load)
		starterErr <- err
	}()
	<-started
	waiter := make(chan error, 1)
	var got []byte
	go func() {
		var err error
		got, err = cache.GetOrLoad(t.Context(), c, &g, "k", time.Minute, load)
		waiter <- err
	}()
	time.Sleep(50 * time.Millisecond) // let the waiter join the flight
	cancelStarter()
	require.ErrorIs(t, <-starterErr, context.Canceled)
	require.NoError(t, <-waiter, "a waiter failed because another caller gave up")
	require.Equal(t, "v", string(got))
}

// CheckLockExclusion checks that holders spread over lockers (replicas
// sharing one back end, or one locker) never hold key at the same time:
// goroutines increment a counter with a read, a pause and a write inside the
// lock, and the total must be exact.
func CheckLockExclusion(t *testing.T, lockers []cache.Locker, key string) {
	t.Helper()
	const workers, rounds = 8, 10
	var counter, inside, maxInside atomic.Int64
	errc := make(chan error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		l := lockers[w%len(lockers)]
		wg.Go(func() {
			for range rounds {
				unlock, err := l.Lock(t.Context(), key, 30*time.Second)
				if err != nil {
					errc <- err
					return
				}
				n := inside.Add(1)
				for m := maxInside.Load(); n > m && !maxInside.CompareAndSwap(m, n); m = maxInside.Load() {
				}
				v := counter.Load()
				time.Sleep(time.Millisecond) // widen the window a lost update needs
				counter.Store(v + 1)
				inside.Add(-1)
				unlock()
			}
		})
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		require.NoError(t, err)
	}
	require.EqualValues(t, 1, maxInside.Load(), "two holders were inside the lock at once")
	require.EqualValues(t, workers*rounds, counter.Load(), "increments were lost: the lock did not exclude")
}

// CheckLockExpiry checks that a lock taken through first and never released
// expires after its ttl (and not before) for second, and that the stale
// holder's late unlock does not release its successor's lock.
func CheckLockExpiry(t *testing.T, first, second cache.Locker) {
	t.Helper()
	ctx := t.Context()
	const ttl = 1500 * time.Millisecond
	staleUnlock, err := first.Lock(ctx, "abandoned", ttl)
	require.NoError(t, err)
	taken := time.Now()

	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	_, err = second.Lock(short, "abandoned", ttl)
	cancel()
	require.ErrorIs(t, err, context.DeadlineExceeded, "a held lock was granted twice")

	long, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	unlock, err := second.Lock(long, "abandoned", 30*time.Second)
	require.NoError(t, err, "an abandoned lock never expired")
	require.GreaterOrEqual(t, time.Since(taken), ttl-100*time.Millisecond, "the lock was granted before its ttl ran out")

	staleUnlock() // the first holder comes back late
	short, cancel = context.WithTimeout(ctx, 300*time.Millisecond)
	_, err = first.Lock(short, "abandoned", ttl)
	cancel()
	require.ErrorIs(t, err, context.DeadlineExceeded, "a stale holder's unlock released its successor's lock")
	unlock()

	short, cancel = context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	again, err := first.Lock(short, "abandoned", ttl)
	require.NoError(t, err, "the lock was not free after unlock")
	again()
}

func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i>>8)
	}
	return b
}

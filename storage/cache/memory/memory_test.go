package memory_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/packyard/packyard/pkg/cache"
	"github.com/packyard/packyard/pkg/cache/cachetest"
	"github.com/packyard/packyard/storage/cache/memory"
)

func TestConformance(t *testing.T) {
	cachetest.Run(t, func(*testing.T) cache.Cache { return memory.New(memory.Config{}) })
}

func BenchmarkCache(b *testing.B) {
	cachetest.Bench(b, func(*testing.B) cache.Cache { return memory.New(memory.Config{}) })
}

func TestEvictsLeastRecentlyUsedBeyondMaxBytes(t *testing.T) {
	ctx := t.Context()
	value := make([]byte, 1000)
	// Room for about three entries of 1000 bytes plus key and overhead.
	c := memory.New(memory.Config{MaxBytes: 3500})
	for i := range 3 {
		require.NoError(t, c.Set(ctx, fmt.Sprint("k", i), value, 0))
	}
	_, err := c.Get(ctx, "k0") // k0 is now the most recently used
	require.NoError(t, err)
	require.NoError(t, c.Set(ctx, "k3", value, 0))

	_, err = c.Get(ctx, "k1")
	require.ErrorIs(t, err, cache.ErrMiss, "the least recently used entry was not evicted")
	for _, k := range []string{"k0", "k2", "k3"} {
		_, err := c.Get(ctx, k)
		require.NoError(t, err, "key %s", k)
	}
	require.Equal(t, 3, c.Len())
}

func TestValueLargerThanMaxBytesIsNotStored(t *testing.T) {
	ctx := t.Context()
	c := memory.New(memory.Config{MaxBytes: 1000})
	require.NoError(t, c.Set(ctx, "small", []byte("v"), 0))
	require.NoError(t, c.Set(ctx, "small", make([]byte, 2000), 0))
	_, err := c.Get(ctx, "small")
	require.ErrorIs(t, err, cache.ErrMiss, "an oversized value must replace (drop) the older one, not be served stale")
	require.Equal(t, 0, c.Len())
}

func TestExpiredEntriesAreEvictedFirst(t *testing.T) {
	ctx := t.Context()
	c := memory.New(memory.Config{})
	require.NoError(t, c.Set(ctx, "old", []byte("v"), 20*time.Millisecond))
	time.Sleep(40 * time.Millisecond)
	require.NoError(t, c.Set(ctx, "new", []byte("v"), 0))
	require.Equal(t, 1, c.Len(), "an expired entry at the cold end outlived the next Set")
}

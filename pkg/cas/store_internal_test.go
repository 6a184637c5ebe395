package cas

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestDigestFromKey(t *testing.T) {
	d := strings.Repeat("ab", 32)
	cases := []struct {
		key  string
		want string
		ok   bool
	}{
		{Key(d), d, true},
		{"blobs/sha256/ab/ab/" + d, d, true},
		{"blobs/sha256/ab/cd/" + d, "", false}, // shard does not match
		{"blobs/sha256/" + d, "", false},
		{"blobs/sha256/ab/ab/" + strings.ToUpper(d), "", false},
		{"blobs/sha256/ab/ab/" + d + "/x", "", false},
		{"other/ab/ab/" + d, "", false},
	}
	for _, c := range cases {
		got, ok := digestFromKey(c.key)
		require.Equal(t, c.ok, ok, c.key)
		require.Equal(t, c.want, got, c.key)
	}
}

func TestPackIDFromKey(t *testing.T) {
	id := newPackID()
	got, ok := packIDFromKey(PackKey(id))
	require.True(t, ok)
	require.Equal(t, id, got)
	for _, key := range []string{
		"packs/" + id,                                 // no shard
		"packs/zz/" + id,                              // shard does not match
		"packs/" + id[:2] + "/" + id + "0",            // too long
		"packs/" + id[:2] + "/" + strings.ToUpper(id), // not lower-case hex
		"blobs/" + id[:2] + "/" + id,                  // elsewhere
	} {
		_, ok := packIDFromKey(key)
		require.False(t, ok, key)
	}
}

func TestKeyLocks(t *testing.T) {
	var k keyLocks
	var inside, maxInside atomic.Int32
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			unlock, err := k.lock(t.Context(), "d")
			require.NoError(t, err)
			n := inside.Add(1)
			if n > maxInside.Load() {
				maxInside.Store(n)
			}
			time.Sleep(time.Millisecond)
			inside.Add(-1)
			unlock()
		})
	}
	wg.Wait()
	require.Equal(t, int32(1), maxInside.Load(), "one holder at a time")
	require.Empty(t, k.m, "unused locks are dropped")

	// Other keys are independent, and a waiter gives up with its context.
	unlock, err := k.lock(t.Context(), "a")
	require.NoError(t, err)
	unlockB, err := k.lock(t.Context(), "b")
	require.NoError(t, err)
	unlockB()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancel()
	_, err = k.lock(ctx, "a")
	require.ErrorIs(t, err, context.DeadlineExceeded)
	unlock()
	require.Empty(t, k.m)
}

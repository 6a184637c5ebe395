package plugin

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/tetratelabs/wazero"
)

// fakeModule is a compiled module that only counts its closes.
type fakeModule struct {
	wazero.CompiledModule
	closed int
}

func (m *fakeModule) Close(context.Context) error { m.closed++; return nil }

// The cache closes the least recently used module past its bound, idle
// modules, and dropped ones, but never a module a run still uses: that one
// is closed when the run releases it.
func TestCompiledCache(t *testing.T) {
	ctx := context.Background()
	now := time.Unix(1000, 0)
	c := newCompiledCache(2, time.Hour)
	c.now = func() time.Time { return now }
	tick := func() { now = now.Add(time.Minute) }
	a, b, d := &fakeModule{}, &fakeModule{}, &fakeModule{}

	c.put(ctx, "a", a)
	tick()
	c.put(ctx, "b", b)
	tick()
	_, release, ok := c.acquire("a") // a is now the most recently used
	require.True(t, ok)
	release()
	tick()
	c.put(ctx, "d", d)
	require.Equal(t, 1, b.closed, "past the bound, the least recently used goes")
	require.Zero(t, a.closed)
	_, _, ok = c.acquire("b")
	require.False(t, ok)

	m, release, ok := c.acquire("a")
	require.True(t, ok)
	require.Same(t, a, m)
	c.drop(ctx, "a")
	require.Zero(t, a.closed, "a module in use is not closed under its run")
	_, _, ok = c.acquire("a")
	require.False(t, ok, "but no new run gets it")
	release()
	require.Equal(t, 1, a.closed, "the last run's release closes it")
	_, release2, ok := c.acquire("d")
	require.True(t, ok)
	c.drop(ctx, "nothing") // dropping what is not there is harmless

	now = now.Add(2 * time.Hour)
	c.evictIdle(ctx)
	require.Zero(t, d.closed, "a module in use is never idle")
	release2()
	now = now.Add(2 * time.Hour)
	c.evictIdle(ctx)
	require.Equal(t, 1, d.closed, "an unused module goes after the idle time")
	require.Zero(t, c.len())
	require.Equal(t, []int{1, 1, 1}, []int{a.closed, b.closed, d.closed}, "each module is closed once")
}

package authcache

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/packyard/packyard/pkg/changes"
	"github.com/packyard/packyard/pkg/errs"
	"github.com/packyard/packyard/pkg/metadata"
)

// counting is a metadata.Store that answers the hot reads from fields and
// counts the calls that reach it.
type counting struct {
	metadata.Store
	calls atomic.Int64
	mu    sync.Mutex
	gen   int64
	role  metadata.Role
	// block, when set, holds each call until it is closed.
	block chan struct{}
}

func (c *counting) hit() {
	c.calls.Add(1)
	if c.block != nil {
		<-c.block
	}
}

func (c *counting) LookupToken(_ context.Context, id string) (metadata.Token, metadata.User, error) {
	c.hit()
	if id == "known" {
		return metadata.Token{ID: id, Hash: []byte("h")}, metadata.User{ID: "u"}, nil
	}
	return metadata.Token{}, metadata.User{}, fmt.Errorf("token %q: %w", id, errs.ErrNotFound)
}

func (c *counting) GetOrgRole(_ context.Context, org, _ string) (metadata.Org, metadata.Role, error) {
	c.hit()
	c.mu.Lock()
	defer c.mu.Unlock()
	return metadata.Org{ID: "o", Name: org}, c.role, nil
}

// Generation reads the value before it blocks, like a query that ran
// before a change committed.
func (c *counting) Generation(_ context.Context, _ string) (int64, error) {
	c.mu.Lock()
	g := c.gen
	c.mu.Unlock()
	c.hit()
	return g, nil
}

func (c *counting) GetOrg(_ context.Context, name string) (metadata.Org, error) {
	c.hit()
	return metadata.Org{}, fmt.Errorf("organization %q: %w", name, errs.ErrUnavailable)
}

var ready = changes.Event{IsState: true, State: changes.Ready}
var lost = changes.Event{IsState: true, State: changes.Lost}

func TestUntrustedUntilReadyAndWhileLost(t *testing.T) {
	ctx := context.Background()
	inner := &counting{}
	s := New(inner)
	for range 3 {
		_, _, err := s.LookupToken(ctx, "known")
		require.NoError(t, err)
	}
	require.EqualValues(t, 3, inner.calls.Load(), "before the feed is ready every call reads the store")

	s.Apply(ready)
	for range 3 {
		tk, u, err := s.LookupToken(ctx, "known")
		require.NoError(t, err)
		require.Equal(t, "known", tk.ID)
		require.Equal(t, "u", u.ID)
	}
	require.EqualValues(t, 4, inner.calls.Load(), "ready: one read, then memory")

	s.Apply(lost)
	_, _, _ = s.LookupToken(ctx, "known")
	_, _, _ = s.LookupToken(ctx, "known")
	require.EqualValues(t, 6, inner.calls.Load(), "lost: memory is bypassed")

	s.Apply(ready)
	_, _, _ = s.LookupToken(ctx, "known")
	require.EqualValues(t, 7, inner.calls.Load(), "ready again: memory starts empty")
	_, _, _ = s.LookupToken(ctx, "known")
	require.EqualValues(t, 7, inner.calls.Load())
}

func TestChangesForgetWhatTheyTouch(t *testing.T) {
	ctx := context.Background()
	inner := &counting{gen: 1, role: metadata.RoleRead}
	s := New(inner)
	s.Apply(ready)

	_, role, err := s.GetOrgRole(ctx, "acme", "u")
	require.NoError(t, err)
	require.Equal(t, metadata.RoleRead, role)
	g, _ := s.Generation(ctx, "composer:o")
	require.EqualValues(t, 1, g)
	base := inner.calls.Load()

	inner.mu.Lock()
	inner.gen, inner.role = 2, metadata.RoleAdmin
	inner.mu.Unlock()
	_, role, _ = s.GetOrgRole(ctx, "acme", "u")
	g, _ = s.Generation(ctx, "composer:o")
	require.Equal(t, metadata.RoleRead, role, "nothing announced: memory answers")
	require.EqualValues(t, 1, g)
	require.Equal(t, base, inner.calls.Load())

	s.Apply(changes.Event{Change: changes.Change{Kind: changes.Generation, Key: "composer:o"}})
	g, _ = s.Generation(ctx, "composer:o")
	require.EqualValues(t, 2, g, "a generation change drops that generation")
	_, role, _ = s.GetOrgRole(ctx, "acme", "u")
	require.Equal(t, metadata.RoleRead, role, "and only that")

	s.Apply(changes.Event{Change: changes.Change{Kind: changes.Member, Key: "o"}})
	_, role, _ = s.GetOrgRole(ctx, "acme", "u")
	require.Equal(t, metadata.RoleAdmin, role, "a membership change drops the roles")
}

func TestErrorsOtherThanNotFoundAreNotKept(t *testing.T) {
	inner := &counting{}
	s := New(inner)
	s.Apply(ready)
	for range 3 {
		_, err := s.GetOrg(context.Background(), "acme")
		require.ErrorIs(t, err, errs.ErrUnavailable)
	}
	require.EqualValues(t, 3, inner.calls.Load())
}

// Unknown tokens are remembered in a bounded table of their own: a flood of
// them neither grows memory past the bound nor evicts known tokens.
func TestUnknownTokensAreBounded(t *testing.T) {
	ctx := context.Background()
	inner := &counting{}
	s := New(inner)
	s.Apply(ready)
	_, _, err := s.LookupToken(ctx, "known")
	require.NoError(t, err)

	_, _, err = s.LookupToken(ctx, "nope")
	require.ErrorIs(t, err, errs.ErrNotFound)
	calls := inner.calls.Load()
	_, _, err = s.LookupToken(ctx, "nope")
	require.ErrorIs(t, err, errs.ErrNotFound, "the same answer from memory")
	require.Equal(t, calls, inner.calls.Load())

	for i := range 3 * maxMissing {
		_, _, _ = s.LookupToken(ctx, fmt.Sprintf("unknown-%d", i))
		s.mu.RLock()
		n := len(s.tokens.miss)
		s.mu.RUnlock()
		require.LessOrEqual(t, n, maxMissing)
	}
	calls = inner.calls.Load()
	_, _, err = s.LookupToken(ctx, "known")
	require.NoError(t, err)
	require.Equal(t, calls, inner.calls.Load(), "the known token is still in memory")
}

// A read that started before a change and ends after it is answered but
// not kept: the next call reads again.
func TestReadRacingAChangeIsNotKept(t *testing.T) {
	ctx := context.Background()
	inner := &counting{gen: 1, block: make(chan struct{})}
	s := New(inner)
	s.Apply(ready)
	done := make(chan int64)
	go func() {
		g, _ := s.Generation(ctx, "scope")
		done <- g
	}()
	require.Eventually(t, func() bool { return inner.calls.Load() == 1 }, time.Second, time.Millisecond)
	s.Apply(changes.Event{Change: changes.Change{Kind: changes.Generation, Key: "scope"}})
	inner.mu.Lock()
	inner.gen = 2
	inner.mu.Unlock()
	inner.block <- struct{}{}
	require.EqualValues(t, 1, <-done)
	close(inner.block)
	g, _ := s.Generation(ctx, "scope")
	require.EqualValues(t, 2, g)
}

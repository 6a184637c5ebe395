// Package authcache keeps in memory what authentication and authorization
// read on every request: tokens (by id, with their hash: never a secret),
// the users they belong to, organizations, memberships and generations.
// Store decorates a metadata.Store; everything else passes through.
//
// It is trusted only while a change feed (pkg/changes) is Ready: a change
// announced by any writer (this process, another replica, the CLI) makes it
// forget what the change may touch; while the feed is Lost it reads the
// database on every call and keeps nothing, and when the feed is Ready again
// it starts empty. A read that raced with a change is returned but not kept.
//
// Answers that a name or id does not exist are kept too, in tables of
// their own with a small bound, so an attacker sending unknown tokens or
// organization names cannot grow memory or evict what callers use.
package authcache

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"

	"github.com/packyard/packyard/pkg/changes"
	"github.com/packyard/packyard/pkg/errs"
	"github.com/packyard/packyard/pkg/metadata"
)

// Bounds of each table: a table that is full is emptied before it takes a
// new entry.
const (
	maxEntries = 1 << 16
	maxMissing = 1 << 12
)

// Store is a metadata.Store whose hot reads come from memory.
type Store struct {
	metadata.Store

	trusted atomic.Bool
	mu      sync.RWMutex
	epoch   uint64 // bumped by every forget, under mu

	tokens   table[string, tokenUser]
	orgs     table[string, metadata.Org]
	orgsByID table[string, metadata.Org]
	roles    table[pair, metadata.Role]
	orgRoles table[pair, orgRole]
	gens     table[string, int64]
}

type tokenUser struct {
	t metadata.Token
	u metadata.User
}

type orgRole struct {
	o metadata.Org
	r metadata.Role
}

type pair struct{ a, b string }

// New returns the cache over inner, untrusted (reading inner on every call)
// until Apply receives a Ready state.
func New(inner metadata.Store) *Store {
	s := &Store{Store: inner}
	s.forgetAll()
	return s
}

var _ metadata.Store = (*Store)(nil)

// Trusted reports whether answers come from memory.
func (s *Store) Trusted() bool { return s.trusted.Load() }

// Apply takes one event of a change feed.
func (s *Store) Apply(e changes.Event) {
	if e.IsState {
		s.SetState(e.State)
		return
	}
	s.Forget(e.Change)
}

// SetState trusts memory from an empty start (Ready) or stops trusting it (Lost).
func (s *Store) SetState(st changes.State) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.trusted.Store(false)
	s.forgetAll()
	s.trusted.Store(st == changes.Ready)
}

// Forget drops what a change may touch.
func (s *Store) Forget(c changes.Change) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c.Kind == changes.Generation {
		s.epoch++
		s.gens.forget(c.Key)
		return
	}
	gens := s.gens
	s.forgetAll()
	s.gens = gens
}

// forgetAll empties every table; mu is held (or s is new).
func (s *Store) forgetAll() {
	s.epoch++
	s.tokens.reset()
	s.orgs.reset()
	s.orgsByID.reset()
	s.roles.reset()
	s.orgRoles.reset()
	s.gens.reset()
}

// table is one kind of answer: values, and errors saying it does not exist.
type table[K comparable, V any] struct {
	hit  map[K]V
	miss map[K]error
}

func (t *table[K, V]) reset() { t.hit, t.miss = map[K]V{}, map[K]error{} }

func (t *table[K, V]) forget(k K) {
	delete(t.hit, k)
	delete(t.miss, k)
}

// cached answers from t, or loads and keeps the answer unless a change
// (or a lost feed) came in between. Only ErrNotFound errors are kept.
func cached[K comparable, V any](s *Store, t *table[K, V], k K, load func() (V, error)) (V, error) {
	if !s.trusted.Load() {
		return load()
	}
	s.mu.RLock()
	v, ok := t.hit[k]
	err, missing := t.miss[k]
	epoch := s.epoch
	s.mu.RUnlock()
	switch {
	case ok:
		return v, nil
	case missing:
		return v, err
	}
	v, err = load()
	if err != nil && !errors.Is(err, errs.ErrNotFound) {
		return v, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.epoch != epoch || !s.trusted.Load() {
		return v, err
	}
	if err != nil {
		if len(t.miss) >= maxMissing {
			clear(t.miss)
		}
		t.miss[k] = err
		return v, err
	}
	if len(t.hit) >= maxEntries {
		clear(t.hit)
	}
	t.hit[k] = v
	return v, nil
}

// LookupToken implements metadata.Tokens from memory. The caller compares
// the token's hash with the presented secret, as it does with the database.
func (s *Store) LookupToken(ctx context.Context, id string) (metadata.Token, metadata.User, error) {
	tu, err := cached(s, &s.tokens, id, func() (tokenUser, error) {
		t, u, err := s.Store.LookupToken(ctx, id)
		return tokenUser{t: t, u: u}, err
	})
	return tu.t, tu.u, err
}

// GetOrg implements metadata.Orgs from memory.
func (s *Store) GetOrg(ctx context.Context, name string) (metadata.Org, error) {
	return cached(s, &s.orgs, name, func() (metadata.Org, error) { return s.Store.GetOrg(ctx, name) })
}

// GetOrgByID implements metadata.Orgs from memory.
func (s *Store) GetOrgByID(ctx context.Context, id string) (metadata.Org, error) {
	return cached(s, &s.orgsByID, id, func() (metadata.Org, error) { return s.Store.GetOrgByID(ctx, id) })
}

// GetRole implements metadata.Members from memory.
func (s *Store) GetRole(ctx context.Context, orgID, userID string) (metadata.Role, error) {
	return cached(s, &s.roles, pair{orgID, userID}, func() (metadata.Role, error) {
		return s.Store.GetRole(ctx, orgID, userID)
	})
}

// GetOrgRole implements metadata.Members from memory.
func (s *Store) GetOrgRole(ctx context.Context, orgName, userID string) (metadata.Org, metadata.Role, error) {
	or, err := cached(s, &s.orgRoles, pair{orgName, userID}, func() (orgRole, error) {
		o, r, err := s.Store.GetOrgRole(ctx, orgName, userID)
		return orgRole{o: o, r: r}, err
	})
	return or.o, or.r, err
}

// Generation implements metadata.Generations from memory.
func (s *Store) Generation(ctx context.Context, scope string) (int64, error) {
	return cached(s, &s.gens, scope, func() (int64, error) { return s.Store.Generation(ctx, scope) })
}

// Follow applies the events of a subscribed feed until its channel closes;
// the cache stops trusting memory then.
func (s *Store) Follow(events <-chan changes.Event) {
	for e := range events {
		s.Apply(e)
	}
	s.SetState(changes.Lost)
}

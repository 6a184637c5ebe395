// Package changes is the contract of packyard's change notification: the
// writers of the metadata store announce what they changed (a token, a
// user, an organization's visibility or members, a generation), and every
// process that keeps that data in memory (the authentication and
// authorization cache of package auth) hears it and forgets what it knew.
//
// Two sides: a Notifier, called by the metadata store inside the writing
// transaction so that the change is delivered when (and only when) it
// commits; and a Feed, which a reader subscribes to. A Feed reports its
// state with the changes: until it sends Ready, and from the moment it
// sends Lost until the next Ready, changes may go unheard, so a reader must
// not trust what it keeps in memory (it reads the database instead, and
// forgets everything when the feed is Ready again). The queue of package
// jobs announces queued jobs the same way, to wake idle workers at once; it
// polls the database as well, so a lost notification only costs time.
//
// The drivers live in storage: PostgreSQL LISTEN/NOTIFY, SQLite's change
// counter (a change log polled when PRAGMA data_version moves), Redis
// pub/sub. Local delivers the changes of this process synchronously at
// commit.
package changes

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/packyard/packyard/pkg/sqldb"
)

// Kind is what changed.
type Kind string

const (
	// Token: a token was created or revoked (Key: the token id).
	Token Kind = "token"
	// Member: a membership was set or removed (Key: the organization id).
	Member Kind = "member"
	// Org: an organization was created (Key: its id) or its visibility
	// changed (Key: its name).
	Org Kind = "org"
	// All: a sweeping change (an organization or a user deleted, with
	// their tokens and memberships): forget everything.
	All Kind = "all"
	// Generation: a generation was bumped (Key: its scope).
	Generation Kind = "generation"
	// Job: a job was queued (Key: its kind, see package jobs): an idle
	// worker of that kind on any replica looks for it now instead of at
	// its next poll. Nothing kept in memory depends on it.
	Job Kind = "job"
)

// MaxPayload bounds an encoded change (PostgreSQL's NOTIFY allows 8000 bytes).
const MaxPayload = 1024

// Change is one change.
type Change struct {
	Kind Kind
	Key  string
}

// String is the wire form: "kind:key".
func (c Change) String() string { return string(c.Kind) + ":" + c.Key }

// Parse reads the wire form. A payload it does not understand becomes a
// change of kind All: a reader forgets everything rather than miss a change.
func Parse(payload string) Change {
	kind, key, _ := strings.Cut(payload, ":")
	switch k := Kind(kind); k {
	case Token, Member, Org, Generation, Job:
		if len(payload) <= MaxPayload {
			return Change{Kind: k, Key: key}
		}
	}
	return Change{Kind: All}
}

// State is the state of a Feed.
type State int

const (
	// Lost: changes may go unheard (not connected yet, or the connection
	// dropped).
	Lost State = iota
	// Ready: every change committed from now on is delivered.
	Ready
)

func (s State) String() string {
	if s == Ready {
		return "ready"
	}
	return "lost"
}

// Event is what a Feed delivers: a change, or a new state (Change is then zero).
type Event struct {
	State  State // meaningful when IsState
	Change Change
	// IsState marks a state event.
	IsState bool
}

// Feed delivers the changes committed by every writer of the database.
type Feed interface {
	// Subscribe starts delivering events until ctx ends, then closes the
	// channel. The feed is Lost until its first Ready event. A feed keeps
	// trying to (re)connect on its own; it never blocks on a slow reader
	// for long (a reader that falls behind gets a Lost event first).
	Subscribe(ctx context.Context) (<-chan Event, error)
}

// Notifier announces a change inside the writer's transaction, so that it
// is delivered at commit and never when the transaction rolls back.
type Notifier interface {
	Notify(ctx context.Context, tx *sqldb.Tx, c Change) error
}

// Notifiers announces a change to each notifier in turn.
type Notifiers []Notifier

// Notify implements Notifier.
func (ns Notifiers) Notify(ctx context.Context, tx *sqldb.Tx, c Change) error {
	for _, n := range ns {
		if err := n.Notify(ctx, tx, c); err != nil {
			return err
		}
	}
	return nil
}

// Local delivers the changes this process commits to its own listeners,
// synchronously once the transaction has committed: a change made through
// this process is seen by its next request, without waiting for a feed.
type Local struct {
	mu        sync.RWMutex
	listeners []func(Change)
}

// NewLocal returns a Local without listeners.
func NewLocal() *Local { return &Local{} }

// Listen adds a listener, called after each commit that made a change.
func (l *Local) Listen(fn func(Change)) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.listeners = append(l.listeners, fn)
}

// Notify implements Notifier.
func (l *Local) Notify(_ context.Context, tx *sqldb.Tx, c Change) error {
	tx.AfterCommit(func() { l.Deliver(c) })
	return nil
}

// Deliver calls the listeners now.
func (l *Local) Deliver(c Change) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	for _, fn := range l.listeners {
		fn(c)
	}
}

// Send delivers e unless ctx ends first.
func Send(ctx context.Context, out chan<- Event, e Event) bool {
	select {
	case out <- e:
		return true
	case <-ctx.Done():
		return false
	}
}

// Serve is the loop of a feed driver: it runs session (which sends Ready
// once it listens, then the changes, and returns when its connection
// fails), then sends Lost, calls lost with the failure, waits retry and
// starts again, until ctx ends; then it closes out.
func Serve(ctx context.Context, out chan<- Event, session func(ctx context.Context, out chan<- Event) error,
	lost func(error), retry time.Duration) {
	defer close(out)
	for ctx.Err() == nil {
		err := session(ctx, out)
		if ctx.Err() != nil {
			return
		}
		if !Send(ctx, out, Event{IsState: true, State: Lost}) {
			return
		}
		lost(err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(retry):
		}
	}
}

// Package changestest is the conformance suite of change feed drivers
// (pkg/changes): each driver's tests run it against the real service.
package changestest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/packyard/packyard/pkg/changes"
	"github.com/packyard/packyard/pkg/jobs"
	"github.com/packyard/packyard/pkg/metadata"
	"github.com/packyard/packyard/pkg/sqldb"
)

// Within is how soon a committed change must arrive.
const Within = time.Second

// Driver is what the suite needs of a driver.
type Driver struct {
	Feed changes.Feed
	// Writer is a metadata store, migrated, whose writes announce changes
	// through the driver's notifier (another process's, for a feed that
	// watches a file).
	Writer *metadata.SQL
	// Cut breaks the feed's connection from outside (nil: the driver
	// has none to break).
	Cut func(t *testing.T)
	// Notifier is the driver's notifier for Writer's database: the job
	// queue announces its jobs through it.
	Notifier changes.Notifier
}

// Run checks the driver: Ready first; a committed change arrives within a
// second; a rolled-back one never does; a queued job arrives as a change of
// kind Job naming the job's kind (never as All: no cache forgets anything
// for a job); a cut connection is reported Lost,
// then Ready again, after which changes arrive again; the channel closes
// when the subscription's context ends.
func Run(t *testing.T, d Driver) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	events, err := d.Feed.Subscribe(ctx)
	require.NoError(t, err)
	require.Equal(t, changes.Event{IsState: true, State: changes.Ready}, next(t, events), "the feed says when it listens")

	org, err := d.Writer.CreateOrg(ctx, metadata.Org{Name: "acme"})
	require.NoError(t, err)
	expectChange(t, events, changes.Org, "an organization's creation")

	_, err = d.Writer.BumpGeneration(ctx, nil, "composer:"+org.ID)
	require.NoError(t, err)
	e := expectChange(t, events, changes.Generation, "a generation")
	require.Equal(t, "composer:"+org.ID, e.Change.Key)

	errRollback := errors.New("roll back")
	err = d.Writer.DB().InTx(ctx, func(tx *sqldb.Tx) error {
		if _, err := d.Writer.BumpGeneration(ctx, tx, "rolled-back"); err != nil {
			return err
		}
		return errRollback
	})
	require.ErrorIs(t, err, errRollback)
	require.NoError(t, d.Writer.SetOrgPublic(ctx, "acme", true))
	e = expectChange(t, events, changes.Org, "a visibility change")
	require.NotEqual(t, "rolled-back", e.Change.Key, "a rolled-back change is never announced")

	require.NoError(t, jobs.NewSQL(d.Writer.DB(), d.Notifier).Enqueue(ctx, "test:kind", "key"))
	e = expectChange(t, events, changes.Job, "a queued job")
	require.Equal(t, changes.Change{Kind: changes.Job, Key: "test:kind"}, e.Change, "a job's change names its kind")

	if d.Cut != nil {
		d.Cut(t)
		require.Equal(t, changes.Event{IsState: true, State: changes.Lost}, nextState(t, events, 10*time.Second), "a cut is reported")
		require.Equal(t, changes.Event{IsState: true, State: changes.Ready}, nextState(t, events, 10*time.Second), "and the feed comes back")
		require.NoError(t, d.Writer.SetOrgPublic(ctx, "acme", false))
		expectChange(t, events, changes.Org, "a change after the feed came back")
	}

	cancel()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case _, ok := <-events:
			if !ok {
				return
			}
		case <-deadline:
			t.Fatal("the channel is closed when the subscription ends")
		}
	}
}

func next(t *testing.T, events <-chan changes.Event) changes.Event {
	t.Helper()
	select {
	case e, ok := <-events:
		require.True(t, ok, "the channel stays open")
		return e
	case <-time.After(10 * time.Second):
		t.Fatal("no event within 10s")
	}
	return changes.Event{}
}

// nextState skips changes until a state event.
func nextState(t *testing.T, events <-chan changes.Event, within time.Duration) changes.Event {
	t.Helper()
	deadline := time.After(within)
	for {
		select {
		case e, ok := <-events:
			require.True(t, ok, "the channel stays open")
			if e.IsState {
				return e
			}
		case <-deadline:
			t.Fatalf("no state event within %s", within)
		}
	}
}

// expectChange waits up to Within for a change of kind (or of kind All,
// which a driver that cannot tell what changed sends), skipping others.
func expectChange(t *testing.T, events <-chan changes.Event, kind changes.Kind, what string) changes.Event {
	t.Helper()
	deadline := time.After(Within)
	for {
		select {
		case e, ok := <-events:
			require.True(t, ok, "the channel stays open")
			require.False(t, e.IsState && e.State == changes.Lost, "%s: the feed was lost", what)
			require.NotEqual(t, "rolled-back", e.Change.Key, "a rolled-back change is never announced")
			if !e.IsState && (e.Change.Kind == kind || e.Change.Kind == changes.All) {
				return e
			}
		case <-deadline:
			t.Fatalf("%s: no %s change within %s", what, kind, Within)
		}
	}
}

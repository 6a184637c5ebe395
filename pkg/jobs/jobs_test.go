package jobs

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/packyard/packyard/migrations"
	"github.com/packyard/packyard/pkg/changes"
	"github.com/packyard/packyard/pkg/sqldb"
	"github.com/packyard/packyard/pkg/testenv"
	"github.com/packyard/packyard/storage/postgres"
	"github.com/packyard/packyard/storage/sqlite"
)

// dialects runs fn on a migrated SQLite database and on a migrated
// PostgreSQL database.
func dialects(t *testing.T, fn func(t *testing.T, db *sqldb.DB)) {
	t.Run("sqlite", func(t *testing.T) {
		db, err := sqlite.Open(t.Context(), sqlite.Config{Path: filepath.Join(t.TempDir(), "packyard.db")})
		require.NoError(t, err)
		t.Cleanup(func() { db.Close() })
		_, err = migrations.Up(t.Context(), db)
		require.NoError(t, err)
		fn(t, db)
	})
	t.Run("postgres", func(t *testing.T) {
		db, err := postgres.Open(t.Context(), postgres.Config{URL: testenv.PostgresURL(t)})
		require.NoError(t, err)
		t.Cleanup(func() { db.Close() })
		_, err = migrations.Up(t.Context(), db)
		require.NoError(t, err)
		fn(t, db)
	})
}

// clock is a settable time for a store.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func storeAt(db *sqldb.DB) (*SQL, *clock) {
	c := &clock{t: time.Unix(1_800_000_000, 0)}
	s := NewSQL(db)
	s.now = c.now
	return s, c
}

func TestQueue(t *testing.T) {
	dialects(t, func(t *testing.T, db *sqldb.DB) {
		ctx := t.Context()
		s, c := storeAt(db)
		const kind = "test:sync"
		_, ok, err := s.Claim(ctx, kind, "a", time.Minute)
		require.NoError(t, err)
		require.False(t, ok, "an empty queue has nothing due")

		// Duplicate deliveries coalesce into one pending job.
		for range 3 {
			require.NoError(t, s.Enqueue(ctx, kind, "src1"))
		}
		require.NoError(t, s.Enqueue(ctx, "other:kind", "src1"))
		var n int
		require.NoError(t, db.QueryRow(ctx, `SELECT COUNT(*) FROM jobs WHERE kind = ?`, kind).Scan(&n))
		require.Equal(t, 1, n)

		j, ok, err := s.Claim(ctx, kind, "a", time.Minute)
		require.NoError(t, err)
		require.True(t, ok)
		require.Equal(t, "src1", j.Key)
		require.Equal(t, 1, j.Attempts)
		_, ok, err = s.Claim(ctx, kind, "b", time.Minute)
		require.NoError(t, err)
		require.False(t, ok, "a claimed job is not claimed again while its lease holds")

		// A delivery while the job runs queues a new one (the running sync
		// may have listed the refs already).
		require.NoError(t, s.Enqueue(ctx, kind, "src1"))
		st, ok, err := s.Status(ctx, kind, "src1")
		require.NoError(t, err)
		require.True(t, ok)
		require.Equal(t, "pending", st.State)

		// The holder renews; another replica cannot renew or finish it.
		require.NoError(t, s.Renew(ctx, j, "a", time.Minute))
		require.ErrorIs(t, s.Renew(ctx, j, "b", time.Minute), ErrLeaseLost)
		require.ErrorIs(t, s.Done(ctx, j, "b"), ErrLeaseLost)

		// The lease expires: another replica takes the job over.
		c.add(2 * time.Minute)
		j2, ok, err := s.Claim(ctx, kind, "b", time.Minute)
		require.NoError(t, err)
		require.True(t, ok)
		j3, ok, err := s.Claim(ctx, kind, "b", time.Minute)
		require.NoError(t, err)
		require.True(t, ok)
		require.Contains(t, []string{j2.ID, j3.ID}, j.ID, "the expired job is claimed again")
		require.NotEqual(t, j2.ID, j3.ID)
		require.ErrorIs(t, s.Done(ctx, j, "a"), ErrLeaseLost, "the replica that lost the lease cannot finish it")
		if j3.ID == j.ID {
			j2, j3 = j3, j2
		}
		require.Equal(t, 2, j2.Attempts)

		// A failed attempt is due again after its backoff, with its error.
		require.NoError(t, s.Retry(ctx, j2, "b", "the git server could not be reached", c.now().Add(10*time.Second)))
		st, _, err = s.Status(ctx, kind, "src1")
		require.NoError(t, err)
		require.Equal(t, Status{State: "pending", Attempts: 2, RunAt: c.now().Add(10 * time.Second).UTC(), LastError: "the git server could not be reached"}, st)
		_, ok, err = s.Claim(ctx, kind, "b", time.Minute)
		require.NoError(t, err)
		require.False(t, ok, "not before its backoff")
		// The other attempt fails too while the job is pending: it ends, the pending one retries.
		require.NoError(t, s.Retry(ctx, j3, "b", "also failed", c.now().Add(time.Second)))
		c.add(11 * time.Second)
		j4, ok, err := s.Claim(ctx, kind, "a", time.Minute)
		require.NoError(t, err)
		require.True(t, ok)
		require.Equal(t, j2.ID, j4.ID)
		require.Equal(t, 3, j4.Attempts)
		require.NoError(t, s.Retry(ctx, j4, "a", "gave up", time.Time{}))
		st, _, err = s.Status(ctx, kind, "src1")
		require.NoError(t, err)
		require.Equal(t, "failed", st.State)
		require.Equal(t, "gave up", st.LastError)
		_, ok, err = s.Claim(ctx, kind, "a", time.Minute)
		require.NoError(t, err)
		require.False(t, ok, "a failed job is not retried")

		// Done keeps the key's latest outcome only.
		require.NoError(t, s.Enqueue(ctx, kind, "src1"))
		j5, ok, err := s.Claim(ctx, kind, "a", time.Minute)
		require.NoError(t, err)
		require.True(t, ok)
		require.NoError(t, s.Done(ctx, j5, "a"))
		require.NoError(t, db.QueryRow(ctx, `SELECT COUNT(*) FROM jobs WHERE kind = ?`, kind).Scan(&n))
		require.Equal(t, 1, n)
		st, _, err = s.Status(ctx, kind, "src1")
		require.NoError(t, err)
		require.Equal(t, "done", st.State)
	})
}

// Concurrent claimers never take one job twice.
func TestClaimIsExclusive(t *testing.T) {
	dialects(t, func(t *testing.T, db *sqldb.DB) {
		ctx := t.Context()
		s := NewSQL(db)
		const jobsN = 40
		for i := range jobsN {
			require.NoError(t, s.Enqueue(ctx, "test:x", string(rune('a'+i%26))+string(rune('0'+i/26))))
		}
		var mu sync.Mutex
		seen := map[string]int{}
		var wg sync.WaitGroup
		for w := range 8 {
			wg.Go(func() {
				for {
					j, ok, err := s.Claim(ctx, "test:x", string(rune('A'+w)), time.Minute)
					if err != nil {
						t.Errorf("claim: %v", err)
						return
					}
					if !ok {
						return
					}
					mu.Lock()
					seen[j.ID]++
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		require.Len(t, seen, jobsN)
		for id, n := range seen {
			require.Equal(t, 1, n, id)
		}
	})
}

func TestLeases(t *testing.T) {
	dialects(t, func(t *testing.T, db *sqldb.DB) {
		ctx := t.Context()
		s, c := storeAt(db)
		l, ok, err := s.Acquire(ctx, "gc", "a", time.Minute)
		require.NoError(t, err)
		require.True(t, ok)
		require.True(t, l.LastRun.IsZero())
		_, ok, err = s.Acquire(ctx, "gc", "b", time.Minute)
		require.NoError(t, err)
		require.False(t, ok, "held by another")
		_, ok, err = s.Acquire(ctx, "gc", "a", time.Minute)
		require.NoError(t, err)
		require.True(t, ok, "the holder renews")
		require.NoError(t, s.Ran(ctx, "gc", "a", c.now()))
		require.ErrorIs(t, s.Ran(ctx, "gc", "b", c.now()), ErrLeaseLost)

		c.add(61 * time.Second)
		l, ok, err = s.Acquire(ctx, "gc", "b", time.Minute)
		require.NoError(t, err)
		require.True(t, ok, "an expired lease is taken over")
		require.Equal(t, c.now().Add(-61*time.Second).UTC(), l.LastRun, "the schedule survives the handover")
		_, ok, err = s.Acquire(ctx, "gc", "a", time.Minute)
		require.NoError(t, err)
		require.False(t, ok)
		require.NoError(t, s.Release(ctx, "gc", "b"))
		_, ok, err = s.Acquire(ctx, "gc", "a", time.Minute)
		require.NoError(t, err)
		require.True(t, ok, "a released lease is taken at once")
	})
}

func TestBackoff(t *testing.T) {
	b := Backoff{Base: time.Second, Max: 10 * time.Second}
	for i, want := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 10 * time.Second, 10 * time.Second} {
		require.Equal(t, want, b.Delay(i+1), "after %d failures", i+1)
	}
	require.Equal(t, 10*time.Second, b.Delay(1000))
}

func runner(t *testing.T, db *sqldb.DB, lease time.Duration) *Runner {
	r := NewRunner(NewSQL(db), zaptest.NewLogger(t))
	r.Lease, r.Poll = lease, 20*time.Millisecond
	return r
}

// The worker runs at most its concurrency at once, and retries a failing
// job after its backoff until it succeeds.
func TestWorker(t *testing.T) {
	dialects(t, func(t *testing.T, db *sqldb.DB) {
		r := runner(t, db, time.Second)
		var running, peak, fails atomic.Int32
		done := make(chan string, 100)
		w := r.Worker("test:w", WorkerOptions{Concurrency: 3, Backoff: Backoff{Base: 50 * time.Millisecond, Max: time.Second}}, func(ctx context.Context, j Job) error {
			n := running.Add(1)
			defer running.Add(-1)
			for {
				p := peak.Load()
				if n <= p || peak.CompareAndSwap(p, n) {
					break
				}
			}
			time.Sleep(100 * time.Millisecond)
			if j.Key == "flaky" && fails.Add(1) <= 2 {
				return errors.New("the git server is down")
			}
			done <- j.Key
			return nil
		})
		ctx, cancel := context.WithCancel(t.Context())
		var wg sync.WaitGroup
		wg.Go(func() { w.Run(ctx) })
		defer func() { cancel(); wg.Wait() }()
		keys := map[string]bool{"flaky": true}
		require.NoError(t, r.Queue.Enqueue(t.Context(), "test:w", "flaky"))
		for i := range 9 {
			k := string(rune('a' + i))
			keys[k] = true
			require.NoError(t, r.Queue.Enqueue(t.Context(), "test:w", k))
		}
		w.Wake()
		got := map[string]bool{}
		deadline := time.After(20 * time.Second)
		for len(got) < len(keys) {
			select {
			case k := <-done:
				got[k] = true
			case <-deadline:
				t.Fatalf("only %d of %d jobs done", len(got), len(keys))
			}
		}
		require.Equal(t, keys, got)
		require.EqualValues(t, 3, peak.Load(), "three at once, never more")
		require.EqualValues(t, 3, fails.Load(), "two failed attempts, then success")
		st, _, err := r.Queue.Status(t.Context(), "test:w", "flaky")
		require.NoError(t, err)
		require.Eventually(t, func() bool {
			st, _, err = r.Queue.Status(t.Context(), "test:w", "flaky")
			return err == nil && st.State == "done"
		}, 5*time.Second, 10*time.Millisecond)
		require.Equal(t, 3, st.Attempts)
	})
}

// Two replicas run one periodic job: only the lease holder runs it; when
// the holder stops, the other takes over within the lease time.
func TestPeriodicOneHolder(t *testing.T) {
	dialects(t, func(t *testing.T, db *sqldb.DB) {
		const lease = 600 * time.Millisecond
		a, b := runner(t, db, lease), runner(t, db, lease)
		dying := &killable{Leases: a.Leases}
		a.Leases = dying
		var runsA, runsB atomic.Int32
		job := func(n *atomic.Int32) func(context.Context) error {
			return func(context.Context) error { n.Add(1); return nil }
		}
		ctxA, stopA := context.WithCancel(t.Context())
		ctxB, stopB := context.WithCancel(t.Context())
		var wg sync.WaitGroup
		defer func() { stopA(); stopB(); wg.Wait() }()
		wg.Go(func() { a.Periodic(ctxA, "test:tick", 50*time.Millisecond, job(&runsA)) })
		time.Sleep(100 * time.Millisecond) // a takes the lease first
		wg.Go(func() { b.Periodic(ctxB, "test:tick", 50*time.Millisecond, job(&runsB)) })
		time.Sleep(time.Second)
		require.Greater(t, runsA.Load(), int32(3), "the holder runs it every interval")
		require.Zero(t, runsB.Load(), "the other replica never runs it")

		// The holder dies without releasing (its renewals stop): the other
		// takes over once the lease expires.
		killed := time.Now()
		dying.dead.Store(true)
		stopA()
		require.Eventually(t, func() bool { return runsB.Load() > 0 }, 3*lease, 10*time.Millisecond)
		took := time.Since(killed)
		require.Greater(t, took, lease/2, "not before the lease expired")
		t.Logf("handover after the holder died: %v (lease %v)", took, lease)
	})
}

// killable is a replica's leases that stop answering once it is dead.
type killable struct {
	Leases
	dead atomic.Bool
}

var errDead = errors.New("dead")

func (k *killable) Acquire(ctx context.Context, name, holder string, ttl time.Duration) (Lease, bool, error) {
	if k.dead.Load() {
		return Lease{}, false, errDead
	}
	return k.Leases.Acquire(ctx, name, holder, ttl)
}

func (k *killable) Ran(ctx context.Context, name, holder string, at time.Time) error {
	if k.dead.Load() {
		return errDead
	}
	return k.Leases.Ran(ctx, name, holder, at)
}

func (k *killable) Release(ctx context.Context, name, holder string) error {
	if k.dead.Load() {
		return errDead
	}
	return k.Leases.Release(ctx, name, holder)
}

// Observe wakes the idle workers of an announced job's kind, and every
// worker when the feed is Ready again; other events wake none. The workers
// poll once a minute here, so a pickup within seconds is the wake's.
func TestObserveWakes(t *testing.T) {
	dialects(t, func(t *testing.T, db *sqldb.DB) {
		r := runner(t, db, time.Second)
		r.Poll = time.Minute
		picked := map[string]chan string{"test:a": make(chan string, 10), "test:b": make(chan string, 10)}
		ctx, cancel := context.WithCancel(t.Context())
		var wg sync.WaitGroup
		defer func() { cancel(); wg.Wait() }()
		for kind, ch := range picked {
			w := r.Worker(kind, WorkerOptions{}, func(_ context.Context, j Job) error { ch <- j.Key; return nil })
			wg.Go(func() { w.Run(ctx) })
		}
		time.Sleep(200 * time.Millisecond) // both idle, waiting a minute
		expect := func(kind, key string) {
			t.Helper()
			select {
			case k := <-picked[kind]:
				require.Equal(t, key, k)
			case <-time.After(5 * time.Second):
				t.Fatalf("%s/%s not picked up within 5s", kind, key)
			}
		}
		quiet := func(kind string) {
			t.Helper()
			select {
			case k := <-picked[kind]:
				t.Fatalf("%s/%s picked up without a wake", kind, k)
			case <-time.After(300 * time.Millisecond):
			}
		}

		require.NoError(t, r.Queue.Enqueue(t.Context(), "test:a", "1"))
		require.NoError(t, r.Queue.Enqueue(t.Context(), "test:b", "1"))
		r.Observe(changes.Event{Change: changes.Change{Kind: changes.Generation, Key: "test:a"}})
		r.Observe(changes.Event{IsState: true, State: changes.Lost})
		quiet("test:a")
		r.Observe(changes.Event{Change: changes.Change{Kind: changes.Job, Key: "test:a"}})
		expect("test:a", "1")
		quiet("test:b")
		r.Observe(changes.Event{IsState: true, State: changes.Ready})
		expect("test:b", "1")
	})
}

// notified records the changes announced through it, at commit.
type notified struct {
	mu  sync.Mutex
	got []changes.Change
}

func (n *notified) Notify(_ context.Context, tx *sqldb.Tx, c changes.Change) error {
	tx.AfterCommit(func() { n.mu.Lock(); n.got = append(n.got, c); n.mu.Unlock() })
	return nil
}

func (n *notified) take() []changes.Change {
	n.mu.Lock()
	defer n.mu.Unlock()
	out := n.got
	n.got = nil
	return out
}

// A queued job is announced with its kind, and so is an attempt that ends
// due again at once (interrupted by a stop); a retry after a backoff is not
// (the workers find it when it is due).
func TestAnnounce(t *testing.T) {
	dialects(t, func(t *testing.T, db *sqldb.DB) {
		ctx := t.Context()
		n := &notified{}
		s := NewSQL(db, n)
		job := changes.Change{Kind: changes.Job, Key: "test:a"}
		require.NoError(t, s.Enqueue(ctx, "test:a", "k"))
		require.Equal(t, []changes.Change{job}, n.take())
		j, ok, err := s.Claim(ctx, "test:a", "me", time.Minute)
		require.NoError(t, err)
		require.True(t, ok)
		require.NoError(t, s.Retry(ctx, j, "me", "the git server is down", time.Now().Add(time.Minute)))
		require.Empty(t, n.take())
		require.NoError(t, s.Enqueue(ctx, "test:a", "k2"))
		n.take()
		j, ok, err = s.Claim(ctx, "test:a", "me", time.Minute)
		require.NoError(t, err)
		require.True(t, ok)
		require.NoError(t, s.Retry(ctx, j, "me", "interrupted", time.Now()))
		require.Equal(t, []changes.Change{job}, n.take())
	})
}

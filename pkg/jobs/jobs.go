// Package jobs is packyard's background work shared by replicas through the
// database: a durable queue of jobs (work one replica acknowledged, such as
// a webhook delivery, that any replica may do), and leases of periodic jobs
// (only the holder of a job's lease runs it; another replica takes the
// lease once the holder stops renewing it).
//
// A queued job is a row committed before the work is acknowledged; a
// replica claims it with a lease it renews while it works (PostgreSQL:
// FOR UPDATE SKIP LOCKED; SQLite: one conditional UPDATE), so a job whose
// replica died is claimed again when its lease expires. A failed attempt is
// retried after an exponential backoff up to a cap; the error is kept on
// the row. Both live in the tables of migration 00012, over pkg/sqldb.
//
// An Enqueue announces the job on the change feed (pkg/changes, a change of
// kind Job) in its transaction; Runner.Observe, fed the feed's events, wakes
// the idle workers of that kind on every replica at once. Workers still
// poll every Runner.Poll: a notification is never the only way a job is
// found.
package jobs

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"time"
)

// Job is a claimed job.
type Job struct {
	ID       string
	Kind     string
	Key      string // what the job is about (a source id): one pending job per key
	Attempts int    // including the one claimed now
}

// Status is what the queue knows of a key's latest job.
type Status struct {
	State     string // pending, running, done or failed
	Attempts  int
	RunAt     time.Time // when a pending job is due
	LastError string
}

// ErrLeaseLost is returned when a lease was taken over by another replica
// (it expired), or the job is gone.
var ErrLeaseLost = errors.New("jobs: the lease was lost")

// Queue is the durable queue.
type Queue interface {
	// Enqueue adds a pending job for (kind, key), due now, in one committed
	// statement. A pending job of the same kind and key absorbs it (and
	// becomes due now).
	Enqueue(ctx context.Context, kind, key string) error
	// Claim takes the next due job of a kind (pending and due, or running
	// under an expired lease) for owner until now+ttl; ok is false when
	// none is due.
	Claim(ctx context.Context, kind, owner string, ttl time.Duration) (j Job, ok bool, err error)
	// Renew extends a claimed job's lease; ErrLeaseLost when owner no
	// longer holds it.
	Renew(ctx context.Context, j Job, owner string, ttl time.Duration) error
	// Done marks a claimed job done.
	Done(ctx context.Context, j Job, owner string) error
	// Retry records a failed attempt: the job is pending again, due at
	// retryAt, or failed for good when retryAt is zero.
	Retry(ctx context.Context, j Job, owner, msg string, retryAt time.Time) error
	// Status reports the job of (kind, key): the pending one, else the
	// running one, else the latest finished; ok is false when there is none.
	Status(ctx context.Context, kind, key string) (s Status, ok bool, err error)
}

// Lease is a periodic job's lease as its holder sees it.
type Lease struct {
	LastRun time.Time // when the job last finished (on any replica); zero: never
}

// Leases are the leases of periodic jobs.
type Leases interface {
	// Acquire takes or renews the lease name for holder until now+ttl; ok
	// is false while another holder's lease is valid.
	Acquire(ctx context.Context, name, holder string, ttl time.Duration) (l Lease, ok bool, err error)
	// Ran records that the holder finished a run at the given time.
	Ran(ctx context.Context, name, holder string, at time.Time) error
	// Release gives the lease up, so another replica takes it at once.
	Release(ctx context.Context, name, holder string) error
}

// Backoff is the delay before a failed job's next attempt: Base, doubled
// with each further failed attempt, at most Max.
type Backoff struct {
	Base, Max time.Duration
}

// Delay is the delay after the given number of failed attempts (1: the
// first failure).
func (b Backoff) Delay(attempts int) time.Duration {
	d := b.Base
	for i := 1; i < attempts && d < b.Max; i++ {
		d *= 2
	}
	return min(d, b.Max)
}

// NewOwner is a name for this process as a job or lease holder: the host
// name and a random suffix, unique across restarts.
func NewOwner() string {
	host, _ := os.Hostname()
	var b [6]byte
	_, _ = rand.Read(b[:])
	return host + "-" + hex.EncodeToString(b[:])
}

func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

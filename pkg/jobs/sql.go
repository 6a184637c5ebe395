package jobs

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/packyard/packyard/pkg/changes"
	"github.com/packyard/packyard/pkg/sqldb"
)

// SQL is the Queue and the Leases over the tables jobs and job_leases: every
// statement of the package is here. Times are microseconds since the epoch
// of the writing process's clock (replicas' clocks are assumed to agree to
// well within a lease's time).
type SQL struct {
	db     *sqldb.DB
	notify changes.Notifiers
	now    func() time.Time
}

var (
	_ Queue  = (*SQL)(nil)
	_ Leases = (*SQL)(nil)
)

// NewSQL returns the queue and leases of db. Each Enqueue announces a
// change of kind changes.Job (Key: the job's kind) to notify, in its
// transaction, so that idle workers on every replica wake at its commit.
func NewSQL(db *sqldb.DB, notify ...changes.Notifier) *SQL {
	return &SQL{db: db, notify: notify, now: time.Now}
}

func (s *SQL) micros() int64 { return s.now().UnixMicro() }

func (s *SQL) Enqueue(ctx context.Context, kind, key string) error {
	if len(s.notify) == 0 {
		return sqldb.MapErr(s.enqueue(ctx, s.db.Exec, kind, key))
	}
	return s.db.InTx(ctx, func(tx *sqldb.Tx) error {
		if err := s.enqueue(ctx, tx.Exec, kind, key); err != nil {
			return sqldb.MapErr(err)
		}
		return sqldb.MapErr(s.notify.Notify(ctx, tx, changes.Change{Kind: changes.Job, Key: kind}))
	})
}

// enqueue inserts a pending job, or makes the pending one of the key due now.
func (s *SQL) enqueue(ctx context.Context, exec func(context.Context, string, ...any) (sql.Result, error), kind, key string) error {
	now := s.micros()
	_, err := exec(ctx, `INSERT INTO jobs (id, kind, key, state, run_at, created_at, updated_at)
		VALUES (?, ?, ?, 'pending', ?, ?, ?)
		ON CONFLICT (kind, key) WHERE state = 'pending'
		DO UPDATE SET run_at = excluded.run_at, updated_at = excluded.updated_at WHERE jobs.run_at > excluded.run_at`,
		newID(), kind, key, now, now, now)
	return err
}

// claimSQL takes the next due job; %s is PostgreSQL's row lock, which lets
// concurrent claimers pass over a row another one is taking.
const claimSQL = `UPDATE jobs SET state = 'running', lease_owner = ?, lease_until = ?, attempts = attempts + 1, updated_at = ?
	WHERE id = (SELECT id FROM jobs WHERE kind = ?
		AND ((state = 'pending' AND run_at <= ?) OR (state = 'running' AND lease_until < ?))
		ORDER BY run_at LIMIT 1 FOR UPDATE SKIP LOCKED)
	RETURNING id, key, attempts`

const claimSQLite = `UPDATE jobs SET state = 'running', lease_owner = ?, lease_until = ?, attempts = attempts + 1, updated_at = ?
	WHERE id = (SELECT id FROM jobs WHERE kind = ?
		AND ((state = 'pending' AND run_at <= ?) OR (state = 'running' AND lease_until < ?))
		ORDER BY run_at LIMIT 1)
	RETURNING id, key, attempts`

func (s *SQL) Claim(ctx context.Context, kind, owner string, ttl time.Duration) (Job, bool, error) {
	now := s.micros()
	q := claimSQLite
	if s.db.Dialect() == sqldb.Postgres {
		q = claimSQL
	}
	j := Job{Kind: kind}
	err := s.db.QueryRow(ctx, q, owner, now+ttl.Microseconds(), now, kind, now, now).Scan(&j.ID, &j.Key, &j.Attempts)
	if errors.Is(err, sql.ErrNoRows) {
		return Job{}, false, nil
	}
	if err != nil {
		return Job{}, false, sqldb.MapErr(err)
	}
	return j, true, nil
}

// held runs an update of a job its owner holds; ErrLeaseLost when no row
// matched.
func (s *SQL) held(ctx context.Context, q string, args ...any) error {
	res, err := s.db.Exec(ctx, q, args...)
	if err != nil {
		return sqldb.MapErr(err)
	}
	if n, err := res.RowsAffected(); err == nil && n == 0 {
		return ErrLeaseLost
	}
	return nil
}

func (s *SQL) Renew(ctx context.Context, j Job, owner string, ttl time.Duration) error {
	now := s.micros()
	return s.held(ctx, `UPDATE jobs SET lease_until = ?, updated_at = ? WHERE id = ? AND state = 'running' AND lease_owner = ?`,
		now+ttl.Microseconds(), now, j.ID, owner)
}

func (s *SQL) Done(ctx context.Context, j Job, owner string) error {
	if err := s.held(ctx, `UPDATE jobs SET state = 'done', last_error = '', lease_until = 0, updated_at = ?
		WHERE id = ? AND state = 'running' AND lease_owner = ?`, s.micros(), j.ID, owner); err != nil {
		return err
	}
	return s.forgetOlder(ctx, j)
}

// forgetOlder deletes the finished jobs of j's key other than j: a key keeps
// its latest outcome only.
func (s *SQL) forgetOlder(ctx context.Context, j Job) error {
	_, err := s.db.Exec(ctx, `DELETE FROM jobs WHERE kind = ? AND key = ? AND state IN ('done', 'failed') AND id <> ?`, j.Kind, j.Key, j.ID)
	return sqldb.MapErr(err)
}

func (s *SQL) Retry(ctx context.Context, j Job, owner, msg string, retryAt time.Time) error {
	now := s.micros()
	if retryAt.IsZero() {
		if err := s.held(ctx, `UPDATE jobs SET state = 'failed', last_error = ?, lease_until = 0, updated_at = ?
			WHERE id = ? AND state = 'running' AND lease_owner = ?`, msg, now, j.ID, owner); err != nil {
			return err
		}
		return s.forgetOlder(ctx, j)
	}
	err := s.held(ctx, `UPDATE jobs SET state = 'pending', run_at = ?, last_error = ?, lease_owner = '', lease_until = 0, updated_at = ?
		WHERE id = ? AND state = 'running' AND lease_owner = ?`, retryAt.UnixMicro(), msg, now, j.ID, owner)
	if sqldb.IsUnique(err) {
		// A delivery queued another job of the key meanwhile: that one
		// retries; this one ends with its error.
		return s.held(ctx, `UPDATE jobs SET state = 'failed', last_error = ?, lease_until = 0, updated_at = ?
			WHERE id = ? AND state = 'running' AND lease_owner = ?`, msg, now, j.ID, owner)
	}
	if err == nil && retryAt.UnixMicro() <= now {
		s.announce(ctx, j.Kind) // due now (an interrupted attempt): any replica may take it at once
	}
	return err
}

// announce tells the workers of every replica that a job of kind is due.
// A failure is not reported: they find it at their next poll.
func (s *SQL) announce(ctx context.Context, kind string) {
	if len(s.notify) == 0 {
		return
	}
	_ = s.db.InTx(ctx, func(tx *sqldb.Tx) error {
		return s.notify.Notify(ctx, tx, changes.Change{Kind: changes.Job, Key: kind})
	})
}

func (s *SQL) Status(ctx context.Context, kind, key string) (Status, bool, error) {
	var st Status
	var runAt int64
	err := s.db.QueryRow(ctx, `SELECT state, attempts, run_at, last_error FROM jobs WHERE kind = ? AND key = ?
		ORDER BY CASE state WHEN 'pending' THEN 0 WHEN 'running' THEN 1 ELSE 2 END, updated_at DESC LIMIT 1`, kind, key).Scan(&st.State, &st.Attempts, &runAt, &st.LastError)
	if errors.Is(err, sql.ErrNoRows) {
		return Status{}, false, nil
	}
	if err != nil {
		return Status{}, false, sqldb.MapErr(err)
	}
	st.RunAt = time.UnixMicro(runAt).UTC()
	return st, true, nil
}

func (s *SQL) Acquire(ctx context.Context, name, holder string, ttl time.Duration) (Lease, bool, error) {
	now := s.micros()
	var last int64
	err := s.db.QueryRow(ctx, `INSERT INTO job_leases (name, holder, expires_at) VALUES (?, ?, ?)
		ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
		WHERE job_leases.holder = excluded.holder OR job_leases.expires_at < ?
		RETURNING last_run`, name, holder, now+ttl.Microseconds(), now).Scan(&last)
	if errors.Is(err, sql.ErrNoRows) {
		return Lease{}, false, nil
	}
	if err != nil {
		return Lease{}, false, sqldb.MapErr(err)
	}
	var l Lease
	if last > 0 {
		l.LastRun = time.UnixMicro(last).UTC()
	}
	return l, true, nil
}

func (s *SQL) Ran(ctx context.Context, name, holder string, at time.Time) error {
	return s.held(ctx, `UPDATE job_leases SET last_run = ? WHERE name = ? AND holder = ?`, at.UnixMicro(), name, holder)
}

func (s *SQL) Release(ctx context.Context, name, holder string) error {
	_, err := s.db.Exec(ctx, `UPDATE job_leases SET expires_at = 0 WHERE name = ? AND holder = ?`, name, holder)
	return sqldb.MapErr(err)
}

-- +goose Up
-- The durable job queue: work a replica acknowledged (a webhook delivery)
-- and any replica does. A job is 'pending' until its run_at, then 'running'
-- under the lease of the replica that claimed it (lease_owner until
-- lease_until, renewed while it works; an expired lease makes it claimable
-- again), then 'done', or 'failed' once its attempts are spent. A failed
-- attempt puts it back to 'pending' with a later run_at. Times are
-- microseconds since the epoch. One pending job per (kind, key): duplicate
-- deliveries coalesce.
CREATE TABLE jobs (
    id          TEXT PRIMARY KEY,
    kind        TEXT NOT NULL,
    key         TEXT NOT NULL,
    state       TEXT NOT NULL CHECK (state IN ('pending', 'running', 'done', 'failed')),
    attempts    INTEGER NOT NULL DEFAULT 0,
    run_at      BIGINT NOT NULL,
    lease_owner TEXT NOT NULL DEFAULT '',
    lease_until BIGINT NOT NULL DEFAULT 0,
    last_error  TEXT NOT NULL DEFAULT '',
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);
CREATE UNIQUE INDEX jobs_pending_key ON jobs (kind, key) WHERE state = 'pending';
CREATE INDEX jobs_due ON jobs (kind, state, run_at);

-- Leases of periodic jobs (the Composer source sweep, the CAS collection):
-- only the holder runs the job; another replica takes the lease once it
-- expires. last_run is when the job last finished, so a new holder keeps
-- the schedule.
CREATE TABLE job_leases (
    name       TEXT PRIMARY KEY,
    holder     TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    last_run   BIGINT NOT NULL DEFAULT 0
);

-- +goose Down
DROP TABLE job_leases;
DROP TABLE jobs;

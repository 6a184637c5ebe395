-- +goose Up
-- Whether an upstream answered as a Composer 2 repository: 'checking'
-- (added over the API, its first fetch not done), 'ok', or 'failed'. Only
-- 'ok' upstreams serve packages. Upstreams added before this column were
-- checked when they were added.
ALTER TABLE composer_upstreams ADD COLUMN state TEXT NOT NULL DEFAULT 'ok';

-- +goose Down
ALTER TABLE composer_upstreams DROP COLUMN state;

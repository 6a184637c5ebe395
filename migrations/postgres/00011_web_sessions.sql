-- +goose Up
-- Browser sessions of the web UI. Only the sha256 of a session id is kept;
-- a session acts with the token it was started from (token_id), which is
-- re-checked on every request, so revoking the token, deleting its user or
-- changing a role takes effect on the next page.
CREATE TABLE web_sessions (
    id_hash    TEXT PRIMARY KEY,
    token_id   TEXT NOT NULL,
    user_id    TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX web_sessions_expires ON web_sessions(expires_at);
CREATE INDEX web_sessions_token ON web_sessions(token_id);

-- +goose Down
DROP TABLE web_sessions;

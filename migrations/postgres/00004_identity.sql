-- +goose Up
CREATE TABLE audit_events (
    id           TEXT PRIMARY KEY,
    at           BIGINT NOT NULL,
    action       TEXT NOT NULL,
    outcome      TEXT NOT NULL,
    org          TEXT NOT NULL DEFAULT '',
    resource     TEXT NOT NULL DEFAULT '',
    actor_user   TEXT NOT NULL DEFAULT '',
    actor_id     TEXT NOT NULL DEFAULT '',
    actor_token  TEXT NOT NULL DEFAULT '',
    actor_method TEXT NOT NULL DEFAULT '',
    client_addr  TEXT NOT NULL DEFAULT '',
    user_agent   TEXT NOT NULL DEFAULT '',
    request_id   TEXT NOT NULL DEFAULT '',
    details      TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_events_at ON audit_events(at);
CREATE INDEX audit_events_org_at ON audit_events(org, at);

-- The identity provider accounts (issuer and subject) users signed in with.
CREATE TABLE user_identities (
    issuer     TEXT NOT NULL,
    subject    TEXT NOT NULL,
    user_id    TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (issuer, subject)
);
CREATE INDEX user_identities_user ON user_identities(user_id);

-- +goose Down
DROP TABLE user_identities;
DROP TABLE audit_events;

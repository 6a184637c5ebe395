-- +goose Up
CREATE TABLE orgs (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE,
    public     INTEGER NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL
);

CREATE TABLE users (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE,
    admin      INTEGER NOT NULL DEFAULT 0,
    bot        INTEGER NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL
);

CREATE TABLE members (
    org_id  TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    role    TEXT NOT NULL CHECK (role IN ('read', 'write', 'admin')),
    PRIMARY KEY (org_id, user_id)
);
CREATE INDEX members_user ON members(user_id);

CREATE TABLE tokens (
    id           TEXT PRIMARY KEY,
    hash         BLOB NOT NULL,
    user_id      TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    org_id       TEXT REFERENCES orgs(id) ON DELETE CASCADE,
    scope        TEXT NOT NULL CHECK (scope IN ('read', 'write', 'admin')),
    name         TEXT NOT NULL DEFAULT '',
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT,
    revoked_at   BIGINT
);
CREATE INDEX tokens_org ON tokens(org_id);
CREATE INDEX tokens_user ON tokens(user_id);

CREATE TABLE blobs (
    digest     TEXT PRIMARY KEY,
    size       BIGINT NOT NULL,
    extra      TEXT NOT NULL DEFAULT '{}',
    created_at BIGINT NOT NULL,
    touched_at BIGINT NOT NULL
);

CREATE TABLE blob_refs (
    digest TEXT NOT NULL REFERENCES blobs(digest),
    ref    TEXT NOT NULL,
    PRIMARY KEY (digest, ref)
);
CREATE INDEX blob_refs_ref ON blob_refs(ref);

CREATE TABLE documents (
    scope        TEXT NOT NULL,
    key          TEXT NOT NULL,
    body         BLOB NOT NULL,
    content_type TEXT NOT NULL DEFAULT '',
    mod_time     BIGINT NOT NULL,
    PRIMARY KEY (scope, key)
);

CREATE TABLE generations (
    scope TEXT PRIMARY KEY,
    gen   BIGINT NOT NULL
);

-- +goose Down
DROP TABLE generations;
DROP TABLE documents;
DROP TABLE blob_refs;
DROP TABLE blobs;
DROP TABLE tokens;
DROP TABLE members;
DROP TABLE users;
DROP TABLE orgs;

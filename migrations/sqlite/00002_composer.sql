-- +goose Up
-- Git repositories registered as sources of Composer packages.
CREATE TABLE composer_sources (
    id              TEXT PRIMARY KEY,
    org_id          TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    url             TEXT NOT NULL,
    username        TEXT NOT NULL DEFAULT '',
    credential_kind TEXT NOT NULL DEFAULT '' CHECK (credential_kind IN ('', 'token', 'ssh')),
    credential      BLOB,
    known_hosts     TEXT NOT NULL DEFAULT '',
    webhook_secret  BLOB,
    package_name    TEXT NOT NULL DEFAULT '',
    default_branch  TEXT NOT NULL DEFAULT '',
    status          TEXT NOT NULL DEFAULT 'new' CHECK (status IN ('new', 'ok', 'error')),
    last_error      TEXT NOT NULL DEFAULT '',
    synced_at       BIGINT,
    created_at      BIGINT NOT NULL,
    UNIQUE (org_id, url)
);

CREATE TABLE composer_packages (
    id          TEXT PRIMARY KEY,
    org_id      TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    UNIQUE (org_id, name)
);

-- The versions served in p2 documents: entry is the full version object.
CREATE TABLE composer_versions (
    package_id TEXT NOT NULL REFERENCES composer_packages(id) ON DELETE CASCADE,
    normalized TEXT NOT NULL,
    version    TEXT NOT NULL,
    reference  TEXT NOT NULL,
    source_id  TEXT REFERENCES composer_sources(id) ON DELETE CASCADE,
    ref_name   TEXT NOT NULL DEFAULT '',
    entry      TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (package_id, normalized)
);
CREATE INDEX composer_versions_source ON composer_versions(source_id);

-- Archives by (package, reference): kept after a tag moves or a version is
-- deleted, so lock files keep installing.
CREATE TABLE composer_dists (
    package_id TEXT NOT NULL REFERENCES composer_packages(id) ON DELETE CASCADE,
    reference  TEXT NOT NULL,
    digest     TEXT NOT NULL REFERENCES blobs(digest),
    sha1       TEXT NOT NULL,
    size       BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (package_id, reference)
);

-- Every git ref of a source as last synced, with the version it gave (its
-- entry) or the warning that explains why it was skipped.
CREATE TABLE composer_refs (
    source_id  TEXT NOT NULL REFERENCES composer_sources(id) ON DELETE CASCADE,
    name       TEXT NOT NULL,
    hash       TEXT NOT NULL,
    commit_sha TEXT NOT NULL DEFAULT '',
    normalized TEXT NOT NULL DEFAULT '',
    version    TEXT NOT NULL DEFAULT '',
    entry      TEXT NOT NULL DEFAULT '',
    warning    TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (source_id, name)
);

CREATE TABLE composer_downloads (
    package_id TEXT NOT NULL REFERENCES composer_packages(id) ON DELETE CASCADE,
    normalized TEXT NOT NULL,
    count      BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (package_id, normalized)
);

-- +goose Down
DROP TABLE composer_downloads;
DROP TABLE composer_refs;
DROP TABLE composer_dists;
DROP INDEX composer_versions_source;
DROP TABLE composer_versions;
DROP TABLE composer_packages;
DROP TABLE composer_sources;

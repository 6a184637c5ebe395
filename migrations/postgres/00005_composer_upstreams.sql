-- +goose Up
-- Upstream Composer repositories an organization's repository mirrors, in
-- priority order (lower first). credential is the sealed http-basic password.
CREATE TABLE composer_upstreams (
    id         TEXT PRIMARY KEY,
    org_id     TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    url        TEXT NOT NULL,
    username   TEXT NOT NULL DEFAULT '',
    credential BYTEA,
    priority   INTEGER NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    UNIQUE (org_id, url)
);

-- The last good answer of an upstream for one document ("packages.json",
-- "p2/vendor/name.json", ...): served while the upstream is down.
CREATE TABLE composer_upstream_docs (
    upstream_id   TEXT NOT NULL REFERENCES composer_upstreams(id) ON DELETE CASCADE,
    doc_key       TEXT NOT NULL,
    status        INTEGER NOT NULL,
    body          BYTEA,
    digest        TEXT NOT NULL DEFAULT '',
    last_modified TEXT NOT NULL DEFAULT '',
    checked_at    BIGINT NOT NULL,
    changed_at    BIGINT NOT NULL,
    PRIMARY KEY (upstream_id, doc_key)
);

-- Upstream archives mirrored into the CAS, by the key in their packyard URL.
CREATE TABLE composer_mirror_dists (
    org_id     TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    name       TEXT NOT NULL,
    dist_key   TEXT NOT NULL,
    url        TEXT NOT NULL,
    digest     TEXT NOT NULL REFERENCES blobs(digest),
    sha1       TEXT NOT NULL,
    size       BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (org_id, name, dist_key)
);

-- Security advisories an organization's admins publish.
CREATE TABLE composer_advisories (
    id          TEXT PRIMARY KEY,
    org_id      TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    package     TEXT NOT NULL,
    versions    TEXT NOT NULL,
    title       TEXT NOT NULL,
    cve         TEXT NOT NULL DEFAULT '',
    link        TEXT NOT NULL DEFAULT '',
    severity    TEXT NOT NULL DEFAULT '',
    reported_at BIGINT NOT NULL
);
CREATE INDEX composer_advisories_package ON composer_advisories(org_id, package);

-- +goose Down
DROP INDEX composer_advisories_package;
DROP TABLE composer_advisories;
DROP TABLE composer_mirror_dists;
DROP TABLE composer_upstream_docs;
DROP TABLE composer_upstreams;

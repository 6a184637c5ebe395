-- +goose Up
-- Buf Schema Registry: modules owned by an organization or a user, their
-- immutable commits (files in the CAS, direct dependency edges), labels and
-- label history. Timestamps are unix microseconds.
CREATE TABLE buf_modules (
    id            TEXT PRIMARY KEY,
    owner_id      TEXT NOT NULL,
    owner_kind    TEXT NOT NULL CHECK (owner_kind IN ('org', 'user')),
    name          TEXT NOT NULL,
    visibility    INTEGER NOT NULL,
    state         INTEGER NOT NULL,
    description   TEXT NOT NULL DEFAULT '',
    url           TEXT NOT NULL DEFAULT '',
    default_label TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL,
    UNIQUE (owner_id, name)
);

CREATE TABLE buf_commits (
    id                 TEXT PRIMARY KEY,
    module_id          TEXT NOT NULL REFERENCES buf_modules(id) ON DELETE CASCADE,
    b5                 TEXT NOT NULL,
    b4                 TEXT NOT NULL,
    created_by_user_id TEXT NOT NULL DEFAULT '',
    source_control_url TEXT NOT NULL DEFAULT '',
    created_at         BIGINT NOT NULL,
    UNIQUE (module_id, b5)
);
CREATE INDEX buf_commits_module ON buf_commits(module_id, created_at);

CREATE TABLE buf_commit_files (
    commit_id TEXT NOT NULL REFERENCES buf_commits(id) ON DELETE CASCADE,
    path      TEXT NOT NULL,
    blob      TEXT NOT NULL REFERENCES blobs(digest),
    shake256  TEXT NOT NULL,
    PRIMARY KEY (commit_id, path)
);

CREATE TABLE buf_commit_deps (
    commit_id     TEXT NOT NULL REFERENCES buf_commits(id) ON DELETE CASCADE,
    dep_commit_id TEXT NOT NULL REFERENCES buf_commits(id),
    PRIMARY KEY (commit_id, dep_commit_id)
);
CREATE INDEX buf_commit_deps_dep ON buf_commit_deps(dep_commit_id);

-- Every commit a commit depends on, directly or not, one per module as the
-- push resolved them: its B5 digest covers exactly these, and its graph is
-- made of them.
CREATE TABLE buf_commit_closure (
    commit_id     TEXT NOT NULL REFERENCES buf_commits(id) ON DELETE CASCADE,
    dep_commit_id TEXT NOT NULL REFERENCES buf_commits(id),
    PRIMARY KEY (commit_id, dep_commit_id)
);
CREATE INDEX buf_commit_closure_dep ON buf_commit_closure(dep_commit_id);

CREATE TABLE buf_labels (
    id                 TEXT PRIMARY KEY,
    module_id          TEXT NOT NULL REFERENCES buf_modules(id) ON DELETE CASCADE,
    name               TEXT NOT NULL,
    commit_id          TEXT NOT NULL REFERENCES buf_commits(id) ON DELETE CASCADE,
    created_at         BIGINT NOT NULL,
    updated_at         BIGINT NOT NULL,
    archived_at        BIGINT,
    updated_by_user_id TEXT NOT NULL DEFAULT '',
    UNIQUE (module_id, name)
);

CREATE TABLE buf_label_history (
    id         TEXT PRIMARY KEY,
    label_id   TEXT NOT NULL REFERENCES buf_labels(id) ON DELETE CASCADE,
    commit_id  TEXT NOT NULL REFERENCES buf_commits(id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL
);
CREATE INDEX buf_label_history_label ON buf_label_history(label_id, id);

-- +goose Down
DROP TABLE buf_label_history;
DROP TABLE buf_labels;
DROP TABLE buf_commit_closure;
DROP TABLE buf_commit_deps;
DROP TABLE buf_commit_files;
DROP TABLE buf_commits;
DROP TABLE buf_modules;

-- +goose Up
-- Generated Go SDKs: one module zip per commit, plugin and SDK version,
-- generated once and kept in the CAS, with the go.mod it holds. Timestamps
-- are unix microseconds.
CREATE TABLE buf_sdk_zips (
    commit_id      TEXT NOT NULL REFERENCES buf_commits(id) ON DELETE CASCADE,
    plugin_owner   TEXT NOT NULL,
    plugin_name    TEXT NOT NULL,
    version        TEXT NOT NULL,
    blob           TEXT NOT NULL REFERENCES blobs(digest),
    size           BIGINT NOT NULL,
    go_mod         TEXT NOT NULL,
    created_at     BIGINT NOT NULL,
    PRIMARY KEY (commit_id, plugin_owner, plugin_name, version)
);

-- +goose Down
DROP TABLE buf_sdk_zips;

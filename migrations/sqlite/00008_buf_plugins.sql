-- +goose Up
-- Remote code generation plugins: WebAssembly (WASI preview 1) modules
-- owned by an organization. One row per revision of a version; the module's
-- bytes are the CAS blob wasm_digest. A revision never changes; adding the
-- same version with other bytes or settings adds the next revision.
-- go_deps are "module@version" lines. Timestamps are unix microseconds.
CREATE TABLE buf_plugins (
    id             TEXT PRIMARY KEY,
    owner_id       TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    name           TEXT NOT NULL,
    version        TEXT NOT NULL,
    revision       INTEGER NOT NULL,
    wasm_digest    TEXT NOT NULL REFERENCES blobs(digest),
    go_deps        TEXT NOT NULL DEFAULT '',
    base_plugin    TEXT NOT NULL DEFAULT '',
    go_min_version TEXT NOT NULL DEFAULT '',
    created_at     BIGINT NOT NULL,
    UNIQUE (owner_id, name, version, revision)
);

-- +goose Down
DROP TABLE buf_plugins;

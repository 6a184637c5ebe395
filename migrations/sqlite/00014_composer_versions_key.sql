-- +goose Up
-- A package's versions are keyed by their pretty version: two git branches
-- that normalize to one version (1.x and v1.x) are both served, as
-- Composer's VCS repository lists them both. The normalized version stays
-- indexed (uploads and tags still refuse a second one). SQLite cannot
-- change a primary key: the table is rebuilt with its rows.
CREATE TABLE composer_versions_new (
    package_id TEXT NOT NULL REFERENCES composer_packages(id) ON DELETE CASCADE,
    normalized TEXT NOT NULL,
    version    TEXT NOT NULL,
    reference  TEXT NOT NULL,
    source_id  TEXT REFERENCES composer_sources(id) ON DELETE CASCADE,
    ref_name   TEXT NOT NULL DEFAULT '',
    entry      TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (package_id, version)
);
INSERT INTO composer_versions_new (package_id, normalized, version, reference, source_id, ref_name, entry, created_at)
    SELECT package_id, normalized, version, reference, source_id, ref_name, entry, created_at FROM composer_versions;
DROP INDEX composer_versions_source;
DROP TABLE composer_versions;
ALTER TABLE composer_versions_new RENAME TO composer_versions;
CREATE INDEX composer_versions_source ON composer_versions(source_id);
CREATE INDEX composer_versions_normalized ON composer_versions(package_id, normalized);

-- +goose Down
-- Of two versions with one normalized version, the first by pretty
-- version is kept.
CREATE TABLE composer_versions_old (
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
INSERT OR IGNORE INTO composer_versions_old (package_id, normalized, version, reference, source_id, ref_name, entry, created_at)
    SELECT package_id, normalized, version, reference, source_id, ref_name, entry, created_at FROM composer_versions
    ORDER BY package_id, normalized, version;
DROP INDEX composer_versions_normalized;
DROP INDEX composer_versions_source;
DROP TABLE composer_versions;
ALTER TABLE composer_versions_old RENAME TO composer_versions;
CREATE INDEX composer_versions_source ON composer_versions(source_id);

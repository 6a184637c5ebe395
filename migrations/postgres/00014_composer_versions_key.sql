-- +goose Up
-- A package's versions are keyed by their pretty version: two git branches
-- that normalize to one version (1.x and v1.x) are both served, as
-- Composer's VCS repository lists them both. The normalized version stays
-- indexed (uploads and tags still refuse a second one).
ALTER TABLE composer_versions DROP CONSTRAINT composer_versions_pkey;
ALTER TABLE composer_versions ADD PRIMARY KEY (package_id, version);
CREATE INDEX composer_versions_normalized ON composer_versions(package_id, normalized);

-- +goose Down
-- Of two versions with one normalized version, the first by pretty
-- version is kept.
DELETE FROM composer_versions v USING composer_versions w
    WHERE w.package_id = v.package_id AND w.normalized = v.normalized AND w.version COLLATE "C" < v.version COLLATE "C";
DROP INDEX composer_versions_normalized;
ALTER TABLE composer_versions DROP CONSTRAINT composer_versions_pkey;
ALTER TABLE composer_versions ADD PRIMARY KEY (package_id, normalized);

-- +goose Up
-- The web pages' figures. Installs per package and UTC day (days since
-- 1970-01-01), counted with composer_downloads (per version), for the
-- package page's chart.
CREATE TABLE composer_download_days (
    package_id TEXT NOT NULL REFERENCES composer_packages(id) ON DELETE CASCADE,
    day        BIGINT NOT NULL,
    count      BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (package_id, day)
);

-- How long a source's last sync took, in milliseconds.
ALTER TABLE composer_sources ADD COLUMN sync_duration_ms BIGINT NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE composer_sources DROP COLUMN sync_duration_ms;
DROP TABLE composer_download_days;

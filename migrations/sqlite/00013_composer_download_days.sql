-- +goose Up
-- Installs per package and UTC day (days since 1970-01-01), counted with
-- composer_downloads (per version) for the package page's chart.
CREATE TABLE composer_download_days (
    package_id TEXT NOT NULL REFERENCES composer_packages(id) ON DELETE CASCADE,
    day        BIGINT NOT NULL,
    count      BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (package_id, day)
);

-- +goose Down
DROP TABLE composer_download_days;

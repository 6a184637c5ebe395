-- +goose Up
-- A blob stored inside a pack object (many small blobs of one batch written
-- as one object, packs/sha256/…) names that pack's sha256 and its offset in
-- it; a blob stored as its own object has an empty pack.
ALTER TABLE blobs ADD COLUMN pack TEXT NOT NULL DEFAULT '';
ALTER TABLE blobs ADD COLUMN pack_offset BIGINT NOT NULL DEFAULT 0;
CREATE INDEX blobs_pack ON blobs (pack) WHERE pack <> '';

-- +goose Down
DROP INDEX blobs_pack;
ALTER TABLE blobs DROP COLUMN pack_offset;
ALTER TABLE blobs DROP COLUMN pack;

-- +goose Up
-- Each commit's files as a Download response encodes them, stored once in
-- the CAS (blob) so a Download copies them instead of reading every file.
-- A row is written only after its blob is complete; a commit without a row
-- has its encoding rebuilt on the next Download.
CREATE TABLE buf_commit_encodings (
    commit_id TEXT NOT NULL REFERENCES buf_commits(id) ON DELETE CASCADE,
    kind      TEXT NOT NULL,
    blob      TEXT NOT NULL REFERENCES blobs(digest),
    size      BIGINT NOT NULL,
    PRIMARY KEY (commit_id, kind)
);

-- +goose Down
DROP TABLE buf_commit_encodings;

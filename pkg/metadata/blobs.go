package metadata

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
	"strings"

	"github.com/packyard/packyard/pkg/errs"
	"github.com/packyard/packyard/pkg/sqldb"
)

// blobBatch is how many blobs one statement of a batch names.
const blobBatch = 400

// RecordBlobs records many blobs as RecordBlob records each, in one
// transaction with a few statements per blobBatch blobs: the new ones
// inserted together, the known ones touched together, and those whose extra
// digests grow updated one by one.
func (s *SQL) RecordBlobs(ctx context.Context, bs []Blob) error {
	t := now()
	for i := range bs {
		if bs[i].Digest == "" {
			return errs.Invalidf("blob digest is required")
		}
		if bs[i].CreatedAt.IsZero() {
			bs[i].CreatedAt = t
		}
		if bs[i].TouchedAt.IsZero() {
			bs[i].TouchedAt = t
		}
	}
	return s.db.InTx(ctx, func(tx *sqldb.Tx) error {
		for start := 0; start < len(bs); start += blobBatch {
			if err := recordBlobBatch(ctx, tx, bs[start:min(start+blobBatch, len(bs))]); err != nil {
				return err
			}
		}
		return nil
	})
}

func recordBlobBatch(ctx context.Context, tx *sqldb.Tx, bs []Blob) error {
	known, err := blobExtras(ctx, tx, bs)
	if err != nil {
		return err
	}
	var insert, touch []any
	seen := make(map[string]bool, len(bs))
	for _, b := range bs {
		extra, ok := known[b.Digest]
		switch {
		case seen[b.Digest]:
			continue // once per statement: PostgreSQL updates a row once per command
		case !ok:
			enc, _ := json.Marshal(nonNil(b.Extra))
			insert = append(insert, b.Digest, b.Size, string(enc), toDB(b.CreatedAt), toDB(b.TouchedAt))
			seen[b.Digest] = true
		case hasAll(extra, b.Extra):
			touch = append(touch, b.Digest)
			seen[b.Digest] = true
		default:
			maps.Copy(extra, b.Extra)
			known[b.Digest] = extra
			enc, _ := json.Marshal(extra)
			if _, err := tx.Exec(ctx, `UPDATE blobs SET extra = ?, touched_at = ? WHERE digest = ?`, string(enc), toDB(b.TouchedAt), b.Digest); err != nil {
				return err
			}
		}
	}
	if len(insert) > 0 {
		if _, err := tx.Exec(ctx, `INSERT INTO blobs (digest, size, extra, created_at, touched_at) VALUES `+
			tuples(len(insert)/5, 5)+` ON CONFLICT (digest) DO UPDATE SET touched_at = excluded.touched_at`, insert...); err != nil {
			return err
		}
	}
	if len(touch) > 0 {
		args := append([]any{toDB(bs[0].TouchedAt)}, touch...)
		if _, err := tx.Exec(ctx, `UPDATE blobs SET touched_at = ? WHERE digest IN `+tuples(1, len(touch)), args...); err != nil {
			return err
		}
	}
	return nil
}

// blobExtras returns the recorded extra digests of those of bs that are recorded.
func blobExtras(ctx context.Context, tx *sqldb.Tx, bs []Blob) (map[string]map[string]string, error) {
	args := make([]any, len(bs))
	for i, b := range bs {
		args[i] = b.Digest
	}
	rows, err := tx.Query(ctx, `SELECT digest, extra FROM blobs WHERE digest IN `+tuples(1, len(bs)), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]map[string]string{}
	for rows.Next() {
		var d, extraJSON string
		if err := rows.Scan(&d, &extraJSON); err != nil {
			return nil, sqldb.MapErr(err)
		}
		extra := map[string]string{}
		_ = json.Unmarshal([]byte(extraJSON), &extra)
		out[d] = extra
	}
	return out, sqldb.MapErr(rows.Err())
}

// hasAll reports whether have holds every digest of want.
func hasAll(have, want map[string]string) bool {
	for k, v := range want {
		if have[k] != v {
			return false
		}
	}
	return true
}

// tuples is n parenthesised lists of width placeholders, comma-separated.
func tuples(n, width int) string {
	t := "(?" + strings.Repeat(", ?", width-1) + ")"
	return strings.Repeat(t+", ", n-1) + t
}

// AddBlobRefs adds the reference ref to each blob of digests (which must
// be recorded), a few statements in all.
func (s *SQL) AddBlobRefs(ctx context.Context, q sqldb.Querier, digests []string, ref string) error {
	if q == nil {
		q = s.db
	}
	for start := 0; start < len(digests); start += blobBatch {
		chunk := digests[start:min(start+blobBatch, len(digests))]
		args := make([]any, 0, 2*len(chunk))
		for _, d := range chunk {
			args = append(args, d, ref)
		}
		_, err := q.Exec(ctx, `INSERT INTO blob_refs (digest, ref) VALUES `+tuples(len(chunk), 2)+` ON CONFLICT (digest, ref) DO NOTHING`, args...)
		if errors.Is(err, errs.ErrFailedPrecondition) {
			return errs.PreconditionFailedf("a blob of %d is not in the store", len(chunk))
		}
		if err != nil {
			return err
		}
	}
	return nil
}

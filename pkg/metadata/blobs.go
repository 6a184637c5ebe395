package metadata

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"strings"
	"time"

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
			insert = append(insert, b.Digest, b.Size, string(enc), toDB(b.CreatedAt), toDB(b.TouchedAt), b.Pack, b.Offset)
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
		if _, err := tx.Exec(ctx, `INSERT INTO blobs (digest, size, extra, created_at, touched_at, pack, pack_offset) VALUES `+
			tuples(len(insert)/7, 7)+` ON CONFLICT (digest) DO UPDATE SET touched_at = excluded.touched_at`, insert...); err != nil {
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

// blobColumns are the columns scanBlob reads, in its order.
const blobColumns = `digest, size, extra, created_at, touched_at, pack, pack_offset`

// scanBlob reads a row of blobColumns.
func scanBlob(row interface{ Scan(...any) error }) (Blob, error) {
	var b Blob
	var extra string
	var created, touched int64
	if err := row.Scan(&b.Digest, &b.Size, &extra, &created, &touched, &b.Pack, &b.Offset); err != nil {
		return Blob{}, err
	}
	b.Extra = map[string]string{}
	if err := json.Unmarshal([]byte(extra), &b.Extra); err != nil {
		return Blob{}, fmt.Errorf("blob %s: bad extra digests: %w", b.Digest, err)
	}
	b.CreatedAt, b.TouchedAt = fromDB(created), fromDB(touched)
	return b, nil
}

// GetBlobs implements Blobs: one query per blobBatch digests.
func (s *SQL) GetBlobs(ctx context.Context, digests []string) (map[string]Blob, error) {
	out := make(map[string]Blob, len(digests))
	for start := 0; start < len(digests); start += blobBatch {
		chunk := digests[start:min(start+blobBatch, len(digests))]
		if err := queryBlobs(ctx, s.db, out, `SELECT `+blobColumns+` FROM blobs WHERE digest IN `+tuples(1, len(chunk)), digestArgs(nil, chunk)...); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// TouchBlobs implements Blobs: one statement per blobBatch digests, in one
// transaction.
func (s *SQL) TouchBlobs(ctx context.Context, digests []string, at time.Time) (map[string]Blob, error) {
	out := make(map[string]Blob, len(digests))
	if len(digests) == 0 {
		return out, nil
	}
	err := s.db.InTx(ctx, func(tx *sqldb.Tx) error {
		clear(out)
		for start := 0; start < len(digests); start += blobBatch {
			chunk := digests[start:min(start+blobBatch, len(digests))]
			err := queryBlobs(ctx, tx, out, `UPDATE blobs SET touched_at = ? WHERE digest IN `+tuples(1, len(chunk))+
				` RETURNING `+blobColumns, digestArgs([]any{toDB(at)}, chunk)...)
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// PackInUse implements Blobs.
func (s *SQL) PackInUse(ctx context.Context, pack string) (bool, error) {
	var n int
	err := s.db.QueryRow(ctx, `SELECT count(*) FROM (SELECT 1 FROM blobs WHERE pack = ? LIMIT 1) p`, pack).Scan(&n)
	if err != nil {
		return false, sqldb.MapErr(err)
	}
	return n > 0, nil
}

// queryBlobs adds the blobs a query of blobColumns returns to out.
func queryBlobs(ctx context.Context, q sqldb.Querier, out map[string]Blob, query string, args ...any) error {
	rows, err := q.Query(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		b, err := scanBlob(rows)
		if err != nil {
			return sqldb.MapErr(err)
		}
		out[b.Digest] = b
	}
	return sqldb.MapErr(rows.Err())
}

// digestArgs appends digests to args.
func digestArgs(args []any, digests []string) []any {
	for _, d := range digests {
		args = append(args, d)
	}
	return args
}

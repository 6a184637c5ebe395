package metadata

import (
	"context"
	"errors"
	"strings"

	"github.com/packyard/packyard/pkg/changes"
	"github.com/packyard/packyard/pkg/errs"
	"github.com/packyard/packyard/pkg/sqldb"
)

// ---- documents ----

func (s *SQL) PutDocument(ctx context.Context, q sqldb.Querier, d Document) error {
	if q == nil {
		q = s.db
	}
	if d.ModTime.IsZero() {
		d.ModTime = now()
	}
	body := d.Body
	if body == nil {
		body = []byte{}
	}
	_, err := q.Exec(ctx, `INSERT INTO documents (scope, key, body, content_type, mod_time) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (scope, key) DO UPDATE SET body = excluded.body, content_type = excluded.content_type, mod_time = excluded.mod_time`,
		d.Scope, d.Key, body, d.ContentType, toDB(d.ModTime))
	return err
}

func (s *SQL) GetDocument(ctx context.Context, q sqldb.Querier, scope, key string) (Document, error) {
	if q == nil {
		q = s.db
	}
	d := Document{Scope: scope, Key: key}
	var mod int64
	err := q.QueryRow(ctx, `SELECT body, content_type, mod_time FROM documents WHERE scope = ? AND key = ?`, scope, key).
		Scan(&d.Body, &d.ContentType, &mod)
	d.ModTime = fromDB(mod)
	return d, scanErr(err, "document", scope+"/"+key)
}

func (s *SQL) DeleteDocuments(ctx context.Context, q sqldb.Querier, scope string, keys ...string) error {
	if q == nil {
		q = s.db
	}
	if len(keys) == 0 {
		_, err := q.Exec(ctx, `DELETE FROM documents WHERE scope = ?`, scope)
		return err
	}
	args := []any{scope}
	for _, k := range keys {
		args = append(args, k)
	}
	_, err := q.Exec(ctx, `DELETE FROM documents WHERE scope = ? AND key IN (?`+strings.Repeat(", ?", len(keys)-1)+`)`, args...)
	return err
}

// ---- generations ----

func (s *SQL) Generation(ctx context.Context, scope string) (int64, error) {
	var g int64
	err := s.db.QueryRow(ctx, `SELECT gen FROM generations WHERE scope = ?`, scope).Scan(&g)
	if errors.Is(sqldb.MapErr(err), errs.ErrNotFound) {
		return 0, nil
	}
	return g, sqldb.MapErr(err)
}

// BumpGeneration bumps in q's transaction when q is a *sqldb.Tx (the change
// is announced when it commits), else in a transaction of its own.
func (s *SQL) BumpGeneration(ctx context.Context, q sqldb.Querier, scope string) (int64, error) {
	tx, ok := q.(*sqldb.Tx)
	if !ok || tx == nil {
		var g int64
		err := s.db.InTx(ctx, func(tx *sqldb.Tx) error {
			var err error
			g, err = s.BumpGeneration(ctx, tx, scope)
			return err
		})
		return g, err
	}
	var g int64
	err := tx.QueryRow(ctx, `INSERT INTO generations (scope, gen) VALUES (?, 1)
		ON CONFLICT (scope) DO UPDATE SET gen = generations.gen + 1 RETURNING gen`, scope).Scan(&g)
	if err != nil {
		return 0, sqldb.MapErr(err)
	}
	return g, s.notify.Notify(ctx, tx, changes.Change{Kind: changes.Generation, Key: scope})
}

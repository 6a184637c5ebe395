package buf

import (
	"context"
	"strings"

	"github.com/packyard/packyard/pkg/sqldb"
)

// scanner is a row to scan: *sql.Row or *sql.Rows.
type scanner interface{ Scan(...any) error }

// queryEach runs q and calls scan on every row, checking the iteration's
// error at the end.
func queryEach(ctx context.Context, db *sqldb.DB, q string, args []any, scan func(scanner) error) error {
	rows, err := db.Query(ctx, q, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := scan(rows); err != nil {
			return sqldb.MapErr(err)
		}
	}
	return sqldb.MapErr(rows.Err())
}

// queryAll runs q and returns every row, scanned by scan.
func queryAll[T any](ctx context.Context, db *sqldb.DB, q string, args []any, scan func(scanner) (T, error)) ([]T, error) {
	var out []T
	err := queryEach(ctx, db, q, args, func(r scanner) error {
		v, err := scan(r)
		if err == nil {
			out = append(out, v)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// queryChunks runs the query q(in) for ids, 500 at a time, where in is the
// placeholder list of an IN clause, and calls scan on every row.
func queryChunks(ctx context.Context, db *sqldb.DB, ids []string, q func(in string) string, scan func(scanner) error) error {
	for _, chunk := range chunks(ids, 500) {
		if err := queryEach(ctx, db, q(placeholders(len(chunk))), anys(chunk), scan); err != nil {
			return err
		}
	}
	return nil
}

// queryPairs runs a queryChunks query for ids whose rows are (id, value)
// and groups the values by id, in row order.
func queryPairs(ctx context.Context, db *sqldb.DB, ids []string, q func(in string) string) (map[string][]string, error) {
	out := map[string][]string{}
	err := queryChunks(ctx, db, ids, q, func(r scanner) error {
		var id, v string
		if err := r.Scan(&id, &v); err != nil {
			return err
		}
		out[id] = append(out[id], v)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func placeholders(n int) string {
	if n <= 0 {
		return ""
	}
	return strings.Repeat("?, ", n-1) + "?"
}

func anys(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

func chunks(ss []string, n int) [][]string {
	var out [][]string
	for len(ss) > n {
		out = append(out, ss[:n])
		ss = ss[n:]
	}
	if len(ss) > 0 {
		out = append(out, ss)
	}
	return out
}

func direction(desc bool) string {
	if desc {
		return " DESC"
	}
	return " ASC"
}

// likeContains is a LIKE pattern (used with ESCAPE '\') matching s anywhere.
func likeContains(s string) string {
	return "%" + strings.NewReplacer(`\`, `\\`, "%", `\%`, "_", `\_`).Replace(s) + "%"
}

// insertRows runs the INSERT prefix (ending in "VALUES ") for rows, as many
// rows per statement as keep it under maxParams parameters.
func insertRows(ctx context.Context, q sqldb.Querier, prefix string, rows [][]any) error {
	if len(rows) == 0 {
		return nil
	}
	per := maxParams / len(rows[0])
	tuple := "(" + placeholders(len(rows[0])) + ")"
	for len(rows) > 0 {
		n := min(per, len(rows))
		args := make([]any, 0, n*len(rows[0]))
		for _, r := range rows[:n] {
			args = append(args, r...)
		}
		if _, err := q.Exec(ctx, prefix+strings.Repeat(tuple+", ", n-1)+tuple, args...); err != nil {
			return err
		}
		rows = rows[n:]
	}
	return nil
}

// maxParams bounds the parameters of one statement (SQLite allows 32,766,
// PostgreSQL 65,535).
const maxParams = 2000

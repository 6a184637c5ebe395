package sqldb

import (
	"database/sql"
	"errors"
	"fmt"
	"net"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/require"

	"github.com/packyard/packyard/pkg/errs"
)

func TestRebind(t *testing.T) {
	require.Equal(t, "SELECT a FROM t WHERE x = $1 AND y IN ($2, $3)", Rebind("SELECT a FROM t WHERE x = ? AND y IN (?, ?)"))
	require.Equal(t, "SELECT '?' , $1", Rebind("SELECT '?' , ?"), "placeholders inside quotes stay")
	require.Equal(t, "SELECT 1", Rebind("SELECT 1"))
}

func TestMapErr(t *testing.T) {
	require.ErrorIs(t, MapErr(sql.ErrNoRows), errs.ErrNotFound)
	require.ErrorIs(t, MapErr(&pgconn.PgError{Code: "23505"}), errs.ErrAlreadyExists)
	require.ErrorIs(t, MapErr(&pgconn.PgError{Code: "23503"}), errs.ErrFailedPrecondition)
	require.ErrorIs(t, MapErr(&pgconn.PgError{Code: "08006"}), errs.ErrUnavailable)
	require.ErrorIs(t, MapErr(sql.ErrConnDone), errs.ErrUnavailable)
	other := errors.New("syntax")
	require.Equal(t, other, MapErr(other))
	wrapped := fmt.Errorf("x: %w", errs.ErrInvalidArgument)
	require.Equal(t, wrapped, MapErr(wrapped), "categorized errors pass unchanged")
	require.NoError(t, MapErr(nil))
}

// A mapped driver error tells the client its category in words of its own;
// the driver's text (server, user, database, constraint) is the cause, for
// the log and for errors.As.
func TestMapErrKeepsDriverTextOutOfTheMessage(t *testing.T) {
	unique := &pgconn.PgError{Code: "23505", Message: `duplicate key value violates unique constraint "orgs_name_key"`,
		ConstraintName: "orgs_name_key"}
	lost := &net.OpError{Op: "dial", Net: "tcp", Addr: &net.TCPAddr{IP: net.IPv4(10, 1, 2, 3), Port: 5432},
		Err: errors.New("connect: connection refused")}
	for _, tc := range []struct {
		err       error
		cat       error
		public    string
		detailHas string
	}{
		{unique, errs.ErrAlreadyExists, "already exists", "orgs_name_key"},
		{&pgconn.PgError{Code: "23503", Message: `violates foreign key constraint "fk_x"`}, errs.ErrFailedPrecondition, "conflicts with related records", "fk_x"},
		{&pgconn.PgError{Code: "57P01", Message: "terminating connection due to administrator command"}, errs.ErrUnavailable, "database unavailable", "administrator"},
		{lost, errs.ErrUnavailable, "database unavailable", "10.1.2.3"},
		{sql.ErrNoRows, errs.ErrNotFound, "not found", "no rows"},
	} {
		err := MapErr(tc.err)
		require.ErrorIs(t, err, tc.cat)
		require.Equal(t, tc.public, err.Error())
		require.Equal(t, tc.public, errs.PublicMessage(fmt.Errorf("%w", err)))
		require.Contains(t, errs.Detail(err), tc.detailHas)
		require.ErrorIs(t, err, tc.err, "errors.Is and errors.As still reach the driver's error")
	}
	var pgErr *pgconn.PgError
	require.ErrorAs(t, MapErr(unique), &pgErr)
	require.Equal(t, "orgs_name_key", pgErr.ConstraintName)
}

// HasPrefix matches by prefix, with case, and on SQLite an index on the
// column serves it.
func TestHasPrefixSQLite(t *testing.T) {
	conn, err := sql.Open("sqlite", ":memory:")
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	conn.SetMaxOpenConns(1)
	db := New(conn, SQLite)
	ctx := t.Context()
	_, err = db.Exec(ctx, `CREATE TABLE refs (ref TEXT NOT NULL)`)
	require.NoError(t, err)
	_, err = db.Exec(ctx, `CREATE INDEX refs_ref ON refs(ref)`)
	require.NoError(t, err)
	for _, r := range []string{"buf:plugin:1", "buf:plugin:2", "BUF:PLUGIN:3", "buf:pluginx", "buf:plugi", "a:buf:plugin:4"} {
		_, err = db.Exec(ctx, `INSERT INTO refs (ref) VALUES (?)`, r)
		require.NoError(t, err)
	}
	cond, arg := HasPrefix(db.Dialect(), "ref", "buf:plugin:")
	var n int
	require.NoError(t, db.QueryRow(ctx, `SELECT COUNT(*) FROM refs WHERE `+cond, arg).Scan(&n))
	require.Equal(t, 2, n)

	rows, err := db.Query(ctx, `EXPLAIN QUERY PLAN SELECT ref FROM refs WHERE `+cond, arg)
	require.NoError(t, err)
	defer rows.Close()
	var plan string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		require.NoError(t, rows.Scan(&id, &parent, &unused, &detail))
		plan += detail + "\n"
	}
	require.NoError(t, rows.Err())
	require.Contains(t, plan, "SEARCH refs USING COVERING INDEX refs_ref (ref>? AND ref<?)")

	pc, parg := HasPrefix(Postgres, "ref", "buf:plugin:")
	require.Equal(t, "ref LIKE ?", pc)
	require.Equal(t, "buf:plugin:%", parg)
	require.Panics(t, func() { HasPrefix(SQLite, "ref", "a_b") })
}

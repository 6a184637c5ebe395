// Package sqldb is the thin layer every SQL user in packyard shares: one
// *sql.DB over SQLite (modernc.org/sqlite) or PostgreSQL (pgx), queries
// written once with "?" placeholders (rebound to $n for PostgreSQL),
// explicit transactions, and driver errors mapped to packyard's categories.
package sqldb

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/packyard/packyard/pkg/errs"
)

// Dialect names the SQL flavour of a DB.
type Dialect string

const (
	SQLite   Dialect = "sqlite"
	Postgres Dialect = "postgres"
)

// Querier is what DB and Tx have in common. Queries use "?" placeholders.
type Querier interface {
	Exec(ctx context.Context, query string, args ...any) (sql.Result, error)
	Query(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRow(ctx context.Context, query string, args ...any) *sql.Row
	Dialect() Dialect
}

// DB is a database handle with a dialect.
type DB struct {
	sql     *sql.DB
	dialect Dialect
	rebound sync.Map // query -> rebound query (PostgreSQL)

	// SQLite parses every statement it is given; packyard's queries are a
	// small fixed set, so they are prepared once and reused. (pgx keeps its
	// own per-connection statement cache for PostgreSQL.)
	stmtMu sync.Mutex
	stmts  map[string]*sql.Stmt

	calls atomic.Int64 // round trips started: statements and transactions
}

// Calls is the number of statements and transactions started on db so
// far (a statement inside a transaction counts too): what tests and
// benchmarks count to prove that a path makes no database round trip.
func (db *DB) Calls() int64 { return db.calls.Load() }

// maxCachedStmts bounds the statement cache; queries built with a variable
// number of placeholders beyond it are simply not cached.
const maxCachedStmts = 512

// New wraps an open *sql.DB.
func New(db *sql.DB, d Dialect) *DB { return &DB{sql: db, dialect: d} }

// SQL returns the underlying *sql.DB (for migrations and pool settings).
func (db *DB) SQL() *sql.DB { return db.sql }

// Dialect returns the SQL flavour.
func (db *DB) Dialect() Dialect { return db.dialect }

// Close closes the cached statements and the pool.
func (db *DB) Close() error {
	db.stmtMu.Lock()
	for _, st := range db.stmts {
		_ = st.Close()
	}
	db.stmts = nil
	db.stmtMu.Unlock()
	return db.sql.Close()
}

// Ping checks the database is reachable; errs.ErrUnavailable when not.
func (db *DB) Ping(ctx context.Context) error {
	if err := db.sql.PingContext(ctx); err != nil {
		return errs.Wrap(errs.ErrUnavailable, msgUnavailable, err)
	}
	return nil
}

func (db *DB) rebind(q string) string {
	if db.dialect != Postgres || !strings.Contains(q, "?") {
		return q
	}
	if v, ok := db.rebound.Load(q); ok {
		return v.(string)
	}
	r := Rebind(q)
	db.rebound.Store(q, r)
	return r
}

// Rebind turns "?" placeholders into "$1", "$2", … outside quoted strings.
func Rebind(q string) string {
	var b strings.Builder
	b.Grow(len(q) + 8)
	n := 0
	inQuote := false
	for i := 0; i < len(q); i++ {
		c := q[i]
		switch {
		case c == '\'':
			inQuote = !inQuote
			b.WriteByte(c)
		case c == '?' && !inQuote:
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// stmt returns the cached prepared statement for q (SQLite only), or nil.
func (db *DB) stmt(ctx context.Context, q string) *sql.Stmt {
	if db.dialect != SQLite {
		return nil
	}
	db.stmtMu.Lock()
	defer db.stmtMu.Unlock()
	if st, ok := db.stmts[q]; ok {
		return st
	}
	if len(db.stmts) >= maxCachedStmts {
		return nil
	}
	st, err := db.sql.PrepareContext(ctx, q)
	if err != nil {
		return nil // the direct call reports the error
	}
	if db.stmts == nil {
		db.stmts = map[string]*sql.Stmt{}
	}
	db.stmts[q] = st
	return st
}

// Exec runs a statement; errors are mapped with MapErr.
func (db *DB) Exec(ctx context.Context, q string, args ...any) (sql.Result, error) {
	db.calls.Add(1)
	if st := db.stmt(ctx, q); st != nil {
		r, err := st.ExecContext(ctx, args...)
		return r, MapErr(err)
	}
	r, err := db.sql.ExecContext(ctx, db.rebind(q), args...)
	return r, MapErr(err)
}

// Query runs a query; errors are mapped with MapErr.
func (db *DB) Query(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	db.calls.Add(1)
	if st := db.stmt(ctx, q); st != nil {
		r, err := st.QueryContext(ctx, args...)
		return r, MapErr(err)
	}
	r, err := db.sql.QueryContext(ctx, db.rebind(q), args...)
	return r, MapErr(err)
}

// QueryRow runs a query for one row; pass Scan's error through MapErr.
func (db *DB) QueryRow(ctx context.Context, q string, args ...any) *sql.Row {
	db.calls.Add(1)
	if st := db.stmt(ctx, q); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return db.sql.QueryRowContext(ctx, db.rebind(q), args...)
}

// Tx is a transaction; it is only valid inside the InTx callback.
type Tx struct {
	tx          *sql.Tx
	db          *DB
	afterCommit []func()
}

// AfterCommit runs fn once the transaction has committed (never when it
// rolls back), in the order the functions were added.
func (t *Tx) AfterCommit(fn func()) { t.afterCommit = append(t.afterCommit, fn) }

func (t *Tx) Dialect() Dialect { return t.db.dialect }

func (t *Tx) Exec(ctx context.Context, q string, args ...any) (sql.Result, error) {
	t.db.calls.Add(1)
	r, err := t.tx.ExecContext(ctx, t.db.rebind(q), args...)
	return r, MapErr(err)
}

func (t *Tx) Query(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	t.db.calls.Add(1)
	r, err := t.tx.QueryContext(ctx, t.db.rebind(q), args...)
	return r, MapErr(err)
}

func (t *Tx) QueryRow(ctx context.Context, q string, args ...any) *sql.Row {
	t.db.calls.Add(1)
	return t.tx.QueryRowContext(ctx, t.db.rebind(q), args...)
}

// InTx runs fn in a transaction, committing when fn returns nil and rolling
// back otherwise (also on panic).
func (db *DB) InTx(ctx context.Context, fn func(tx *Tx) error) (err error) {
	db.calls.Add(1)
	stx, err := db.sql.BeginTx(ctx, nil)
	if err != nil {
		return MapErr(err)
	}
	tx := &Tx{tx: stx, db: db}
	defer func() {
		if p := recover(); p != nil {
			_ = stx.Rollback()
			panic(p)
		}
		if err != nil {
			_ = stx.Rollback()
		}
	}()
	if err = fn(tx); err != nil {
		return err
	}
	if err = MapErr(stx.Commit()); err != nil {
		return err
	}
	for _, f := range tx.afterCommit {
		f()
	}
	return nil
}

var (
	_ Querier = (*DB)(nil)
	_ Querier = (*Tx)(nil)
)

// The public messages of mapped driver errors: what a client may read. The
// driver's own text (server address, user, database, constraint names)
// stays the cause, for the log.
const (
	msgNotFound    = "not found"
	msgExists      = "already exists"
	msgReferenced  = "conflicts with related records"
	msgUnavailable = "database unavailable"
)

// MapErr maps driver errors to packyard categories: no rows → ErrNotFound,
// unique violations → ErrAlreadyExists, foreign-key violations →
// ErrFailedPrecondition, lost connections → ErrUnavailable, each with a
// generic public message and the driver's error as its cause (errs.Wrap).
// Other errors pass unchanged (and become internal errors at the edge).
func MapErr(err error) error {
	if err == nil {
		return nil
	}
	if errs.Category(err) != nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	if errors.Is(err, sql.ErrNoRows) {
		return errs.Wrap(errs.ErrNotFound, msgNotFound, err)
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch {
		case pgErr.Code == "23505":
			return errs.Wrap(errs.ErrAlreadyExists, msgExists, err)
		case pgErr.Code == "23503":
			return errs.Wrap(errs.ErrFailedPrecondition, msgReferenced, err)
		case strings.HasPrefix(pgErr.Code, "08"), pgErr.Code == "57P01", pgErr.Code == "57P03":
			return errs.Wrap(errs.ErrUnavailable, msgUnavailable, err)
		}
		return err
	}
	var sqErr *sqlite.Error
	if errors.As(err, &sqErr) {
		switch sqErr.Code() {
		case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
			return errs.Wrap(errs.ErrAlreadyExists, msgExists, err)
		case sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
			return errs.Wrap(errs.ErrFailedPrecondition, msgReferenced, err)
		}
		switch sqErr.Code() & 0xff {
		case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_IOERR, sqlite3.SQLITE_FULL, sqlite3.SQLITE_CANTOPEN:
			return errs.Wrap(errs.ErrUnavailable, msgUnavailable, err)
		}
		return err
	}
	var netErr net.Error
	var connErr *pgconn.ConnectError
	if errors.As(err, &connErr) || errors.As(err, &netErr) || errors.Is(err, driver.ErrBadConn) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) || errors.Is(err, sql.ErrConnDone) ||
		pgconn.SafeToRetry(err) || strings.Contains(err.Error(), "conn closed") {
		return errs.Wrap(errs.ErrUnavailable, msgUnavailable, err)
	}
	return err
}

// IsUnique reports whether err is a unique violation.
func IsUnique(err error) bool { return errors.Is(MapErr(err), errs.ErrAlreadyExists) }

// HasPrefix is the condition "column starts with prefix" in the dialect d,
// with the one argument it takes. prefix must hold none of the wildcards
// of LIKE or GLOB (%_*?[\). On SQLite it is a GLOB, which (unlike SQLite's
// case-insensitive LIKE) an ordinary index on column serves as a range;
// on PostgreSQL a LIKE.
func HasPrefix(d Dialect, column, prefix string) (cond string, arg any) {
	if strings.ContainsAny(prefix, `%_*?[\`) {
		panic("sqldb: HasPrefix: a wildcard in prefix " + prefix)
	}
	if d == SQLite {
		return column + ` GLOB ?`, prefix + "*"
	}
	return column + ` LIKE ?`, prefix + "%"
}

// Affected is the number of rows a statement changed, for
// Affected(q.Exec(...)).
func Affected(res sql.Result, err error) (int64, error) {
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

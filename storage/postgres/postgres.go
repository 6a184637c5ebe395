// Package postgres opens packyard's metadata database on PostgreSQL through
// pgx (a pgxpool behind database/sql). Migrations take an advisory lock, so
// any number of replicas can start at once.
package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/packyard/packyard/pkg/config"
	"github.com/packyard/packyard/pkg/errs"
	"github.com/packyard/packyard/pkg/sqldb"
)

// Config is the connection.
type Config struct {
	URL      string // postgres://user:pass@host:port/db?sslmode=...
	MaxConns int32  // 0: pgx's default
}

// Open connects and checks the server answers. It does not migrate.
func Open(ctx context.Context, cfg Config) (*sqldb.DB, error) {
	pool, err := newPool(cfg)
	if err != nil {
		return nil, err
	}
	db := sqldb.New(stdlib.OpenDBFromPool(pool), sqldb.Postgres)
	if err := Ping(ctx, db, cfg); err != nil {
		pool.Close()
		return nil, err
	}
	return db, nil
}

// New builds the connection pool without connecting: connections open on
// first use, so New does no network I/O. Ping checks the server answers.
func New(cfg Config) (*sqldb.DB, error) {
	pool, err := newPool(cfg)
	if err != nil {
		return nil, err
	}
	return sqldb.New(stdlib.OpenDBFromPool(pool), sqldb.Postgres), nil
}

func newPool(cfg Config) (*pgxpool.Pool, error) {
	pc, err := pgxpool.ParseConfig(cfg.URL)
	if err != nil {
		return nil, errs.Wrap(errs.ErrInvalidArgument, fmt.Sprintf("postgres: invalid URL %q", config.Redact(cfg.URL)), err)
	}
	if cfg.MaxConns > 0 {
		pc.MaxConns = cfg.MaxConns
	}
	if pc.ConnConfig.ConnectTimeout == 0 {
		pc.ConnConfig.ConnectTimeout = 10 * time.Second
	}
	pc.MinConns = 0 // no connection before the first query
	pool, err := pgxpool.NewWithConfig(context.Background(), pc)
	if err != nil {
		return nil, fmt.Errorf("postgres: %s: %w", config.Redact(cfg.URL), err)
	}
	return pool, nil
}

// Ping checks, within 15 seconds, that the server of db (opened with cfg)
// answers; the error names the server without its password, for the
// operator starting packyard (it is a start-up check, never a client's
// answer), and keeps the driver's text as its cause (errs.Detail).
func Ping(ctx context.Context, db *sqldb.DB, cfg Config) error {
	pingCtx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if err := db.SQL().PingContext(pingCtx); err != nil {
		return errs.Wrap(errs.ErrUnavailable, "postgres: cannot reach "+config.Redact(cfg.URL), err)
	}
	return nil
}

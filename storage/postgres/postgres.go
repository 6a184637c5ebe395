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
	pc, err := pgxpool.ParseConfig(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("postgres: invalid URL %q: %v: %w", config.Redact(cfg.URL), err, errs.ErrInvalidArgument)
	}
	if cfg.MaxConns > 0 {
		pc.MaxConns = cfg.MaxConns
	}
	if pc.ConnConfig.ConnectTimeout == 0 {
		pc.ConnConfig.ConnectTimeout = 10 * time.Second
	}
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return nil, fmt.Errorf("postgres: %s: %w", config.Redact(cfg.URL), err)
	}
	pingCtx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if err := pool.Ping(pingCtx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: cannot reach %s: %v: %w", config.Redact(cfg.URL), err, errs.ErrUnavailable)
	}
	db := stdlib.OpenDBFromPool(pool)
	return sqldb.New(db, sqldb.Postgres), nil
}

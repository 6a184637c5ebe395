// Package sqlite opens packyard's embedded metadata database: a SQLite file
// through modernc.org/sqlite (pure Go, no cgo), in WAL mode with a busy
// timeout and immediate write transactions. SQLite allows one writer at a
// time, so it serves a single replica; use PostgreSQL for several.
package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"path/filepath"

	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver

	"github.com/packyard/packyard/pkg/sqldb"
)

// Config locates the database file.
type Config struct {
	Path string // e.g. ./data/packyard.db
}

// Open opens (creating if needed) the database file. It does not migrate.
func Open(ctx context.Context, cfg Config) (*sqldb.DB, error) {
	if cfg.Path == "" {
		return nil, fmt.Errorf("sqlite: empty database path")
	}
	if err := os.MkdirAll(filepath.Dir(cfg.Path), 0o750); err != nil {
		return nil, fmt.Errorf("sqlite: create directory for %s: %w", cfg.Path, err)
	}
	q := url.Values{}
	for _, p := range []string{"busy_timeout(10000)", "journal_mode(WAL)", "foreign_keys(1)", "synchronous(NORMAL)"} {
		q.Add("_pragma", p)
	}
	q.Set("_txlock", "immediate")
	dsn := "file:" + cfg.Path + "?" + q.Encode()
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", cfg.Path, err)
	}
	db.SetMaxOpenConns(8)
	db.SetMaxIdleConns(8)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", cfg.Path, err)
	}
	return sqldb.New(db, sqldb.SQLite), nil
}

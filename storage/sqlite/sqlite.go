// Package sqlite opens packyard's embedded metadata database: a SQLite file
// through modernc.org/sqlite (pure Go, no cgo), in WAL mode with a busy
// timeout and immediate write transactions. SQLite allows one writer at a
// time, so it serves a single replica; use PostgreSQL for several.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
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

// privateFiles creates the database file's directory (0700) and the file
// itself (0600) when missing, and sets an existing file and its WAL and
// shared-memory files to 0600, whatever the umask: SQLite creates the WAL
// and shared-memory files with the database file's mode.
func privateFiles(path string) error {
	dir := filepath.Dir(path)
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return fmt.Errorf("sqlite: create directory for %s: %w", path, err)
		}
		if err := os.Chmod(dir, 0o700); err != nil {
			return fmt.Errorf("sqlite: %w", err)
		}
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		if err := os.Chmod(p, 0o600); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("sqlite: %w", err)
		}
	}
	return nil
}

// Open opens (creating if needed) the database file, mode 0600 like its WAL
// and shared-memory files. It does not migrate.
func Open(ctx context.Context, cfg Config) (*sqldb.DB, error) {
	if cfg.Path == "" {
		return nil, fmt.Errorf("sqlite: empty database path")
	}
	if err := privateFiles(cfg.Path); err != nil {
		return nil, err
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

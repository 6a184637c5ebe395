package migrations

import (
	"context"
	"fmt"

	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"github.com/packyard/packyard/pkg/sqldb"
)

// Result summarises a migration run.
type Result struct {
	Applied []int64 // versions applied by this run
	Current int64   // the database's version afterwards
}

// provider builds a goose provider. Never Close it: that closes the shared *sql.DB.
func provider(db *sqldb.DB) (*goose.Provider, error) {
	fsys, err := FS(string(db.Dialect()))
	if err != nil {
		return nil, err
	}
	opts := []goose.ProviderOption{goose.WithDisableGlobalRegistry(true)}
	if extra := extraMigrations(); len(extra) > 0 {
		opts = append(opts, goose.WithGoMigrations(extra...))
	}
	dialect := goose.DialectSQLite3
	if db.Dialect() == sqldb.Postgres {
		dialect = goose.DialectPostgres
		// Several replicas may start at once: a session advisory lock makes
		// each migration apply exactly once.
		locker, err := lock.NewPostgresSessionLocker()
		if err != nil {
			return nil, err
		}
		opts = append(opts, goose.WithSessionLocker(locker))
	}
	return goose.NewProvider(dialect, db.SQL(), fsys, opts...)
}

// Up applies every pending migration.
func Up(ctx context.Context, db *sqldb.DB) (Result, error) {
	p, err := provider(db)
	if err != nil {
		return Result{}, fmt.Errorf("migrations: %w", err)
	}
	res, err := p.Up(ctx)
	if err != nil {
		return Result{}, fmt.Errorf("migrations: %w", sqldb.MapErr(err))
	}
	out := Result{}
	for _, r := range res {
		out.Applied = append(out.Applied, r.Source.Version)
	}
	out.Current, err = p.GetDBVersion(ctx)
	return out, err
}

// UpTo applies the pending migrations up to version: a test of a
// migration fills the tables the earlier ones made, then applies it.
func UpTo(ctx context.Context, db *sqldb.DB, version int64) error {
	p, err := provider(db)
	if err != nil {
		return fmt.Errorf("migrations: %w", err)
	}
	_, err = p.UpTo(ctx, version)
	return err
}

// DownTo rolls back to version (0 = empty database).
func DownTo(ctx context.Context, db *sqldb.DB, version int64) error {
	p, err := provider(db)
	if err != nil {
		return fmt.Errorf("migrations: %w", err)
	}
	_, err = p.DownTo(ctx, version)
	return err
}

// Status reports the current version and the latest available one.
func Status(ctx context.Context, db *sqldb.DB) (current, latest int64, err error) {
	p, err := provider(db)
	if err != nil {
		return 0, 0, err
	}
	current, err = p.GetDBVersion(ctx)
	if err != nil {
		return 0, 0, err
	}
	srcs := p.ListSources()
	if len(srcs) > 0 {
		latest = srcs[len(srcs)-1].Version
	}
	return current, latest, nil
}

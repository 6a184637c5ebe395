package postgres_test

import (
	"context"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/packyard/packyard/migrations"
	"github.com/packyard/packyard/pkg/errs"
	"github.com/packyard/packyard/pkg/metadata"
	"github.com/packyard/packyard/pkg/metadata/metadatatest"
	"github.com/packyard/packyard/pkg/testenv"
	"github.com/packyard/packyard/storage/postgres"
)

func TestConformance(t *testing.T) {
	metadatatest.Run(t, func(t *testing.T) metadata.Store {
		db, err := postgres.Open(t.Context(), postgres.Config{URL: testenv.PostgresURL(t)})
		require.NoError(t, err)
		t.Cleanup(func() { db.Close() })
		_, err = migrations.Up(t.Context(), db)
		require.NoError(t, err)
		return metadata.NewSQL(db)
	})
}

// Several replicas starting at once apply each migration exactly once.
func TestConcurrentMigrations(t *testing.T) {
	url := testenv.PostgresURL(t)
	const replicas = 5
	var wg sync.WaitGroup
	results := make([]migrations.Result, replicas)
	errsCh := make([]error, replicas)
	for i := range replicas {
		wg.Add(1)
		go func() {
			defer wg.Done()
			db, err := postgres.Open(context.Background(), postgres.Config{URL: url})
			if err != nil {
				errsCh[i] = err
				return
			}
			defer db.Close()
			results[i], errsCh[i] = migrations.Up(context.Background(), db)
		}()
	}
	wg.Wait()
	applied := 0
	for i := range replicas {
		require.NoError(t, errsCh[i])
		applied += len(results[i].Applied)
	}
	_, latest, err := func() (int64, int64, error) {
		db, err := postgres.Open(t.Context(), postgres.Config{URL: url})
		require.NoError(t, err)
		defer db.Close()
		return migrations.Status(t.Context(), db)
	}()
	require.NoError(t, err)
	require.Equal(t, results[0].Current, latest)
	n := 0
	for _, r := range results {
		if len(r.Applied) > 0 {
			n++
		}
	}
	require.Equal(t, 1, n, "exactly one replica applied the migrations")
	require.Positive(t, applied)
}

func TestMigrationsDownAndUp(t *testing.T) {
	db, err := postgres.Open(t.Context(), postgres.Config{URL: testenv.PostgresURL(t)})
	require.NoError(t, err)
	defer db.Close()
	res, err := migrations.Up(t.Context(), db)
	require.NoError(t, err)
	require.NoError(t, migrations.DownTo(t.Context(), db, 0))
	res2, err := migrations.Up(t.Context(), db)
	require.NoError(t, err)
	require.Equal(t, res.Applied, res2.Applied)
}

func TestUnreachableServerIsUnavailable(t *testing.T) {
	_, err := postgres.Open(t.Context(), postgres.Config{URL: "postgres://postgres@127.0.0.1:1/x?sslmode=disable&connect_timeout=2"})
	require.ErrorIs(t, err, errs.ErrUnavailable)
	require.Contains(t, err.Error(), "127.0.0.1:1")
	_, err = postgres.Open(t.Context(), postgres.Config{URL: "postgres://%zz"})
	require.ErrorIs(t, err, errs.ErrInvalidArgument)
}

func BenchmarkMetadata(b *testing.B) {
	db, err := postgres.Open(b.Context(), postgres.Config{URL: testenv.PostgresURL(b)})
	require.NoError(b, err)
	defer db.Close()
	_, err = migrations.Up(b.Context(), db)
	require.NoError(b, err)
	metadatatest.Bench(b, metadata.NewSQL(db))
}

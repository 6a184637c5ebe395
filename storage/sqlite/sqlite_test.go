package sqlite_test

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/packyard/packyard/migrations"
	"github.com/packyard/packyard/pkg/metadata"
	"github.com/packyard/packyard/pkg/metadata/metadatatest"
	"github.com/packyard/packyard/storage/sqlite"
)

func TestConformance(t *testing.T) {
	metadatatest.Run(t, func(t *testing.T) metadata.Store {
		db, err := sqlite.Open(t.Context(), sqlite.Config{Path: filepath.Join(t.TempDir(), "packyard.db")})
		require.NoError(t, err)
		t.Cleanup(func() { db.Close() })
		_, err = migrations.Up(t.Context(), db)
		require.NoError(t, err)
		return metadata.NewSQL(db)
	})
}

func TestMigrationsDownAndUp(t *testing.T) {
	db, err := sqlite.Open(t.Context(), sqlite.Config{Path: filepath.Join(t.TempDir(), "packyard.db")})
	require.NoError(t, err)
	defer db.Close()
	res, err := migrations.Up(t.Context(), db)
	require.NoError(t, err)
	require.NotEmpty(t, res.Applied)
	again, err := migrations.Up(t.Context(), db)
	require.NoError(t, err)
	require.Empty(t, again.Applied, "a second run applies nothing")
	require.NoError(t, migrations.DownTo(t.Context(), db, 0))
	cur, latest, err := migrations.Status(t.Context(), db)
	require.NoError(t, err)
	require.Zero(t, cur)
	require.Equal(t, res.Current, latest)
	res2, err := migrations.Up(t.Context(), db)
	require.NoError(t, err)
	require.Equal(t, res.Applied, res2.Applied)
}

func BenchmarkMetadata(b *testing.B) {
	db, err := sqlite.Open(b.Context(), sqlite.Config{Path: filepath.Join(b.TempDir(), "packyard.db")})
	require.NoError(b, err)
	defer db.Close()
	_, err = migrations.Up(b.Context(), db)
	require.NoError(b, err)
	metadatatest.Bench(b, metadata.NewSQL(db))
}

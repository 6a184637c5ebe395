package sqlite_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
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

// The database file and its WAL and shared-memory files are 0600, and the
// directory made for them 0700, whatever the umask; an existing file
// readable by others is made private.
func TestFileModes(t *testing.T) {
	old := syscall.Umask(0)
	defer syscall.Umask(old)
	dir := filepath.Join(t.TempDir(), "data")
	path := filepath.Join(dir, "packyard.db")
	db, err := sqlite.Open(t.Context(), sqlite.Config{Path: path})
	require.NoError(t, err)
	_, err = migrations.Up(t.Context(), db) // writes: the WAL and shared memory exist
	require.NoError(t, err)
	for p, want := range map[string]fs.FileMode{dir: 0o700, path: 0o600, path + "-wal": 0o600, path + "-shm": 0o600} {
		fi, err := os.Stat(p)
		require.NoError(t, err, p)
		require.Equal(t, want, fi.Mode().Perm(), p)
	}
	require.NoError(t, db.Close())

	require.NoError(t, os.Chmod(path, 0o644))
	db, err = sqlite.Open(t.Context(), sqlite.Config{Path: path})
	require.NoError(t, err)
	defer db.Close()
	fi, err := os.Stat(path)
	require.NoError(t, err)
	require.Equal(t, fs.FileMode(0o600), fi.Mode().Perm(), "an existing file is made private")
}

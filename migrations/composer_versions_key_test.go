package migrations_test

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/packyard/packyard/migrations"
	"github.com/packyard/packyard/pkg/errs"
	"github.com/packyard/packyard/pkg/sqldb"
	"github.com/packyard/packyard/pkg/testenv"
	"github.com/packyard/packyard/storage/postgres"
	"github.com/packyard/packyard/storage/sqlite"
)

// Migration 14 keys composer_versions by (package, pretty version): on a
// database the earlier migrations filled, every row is kept, two versions
// of one normalized version can then be stored, the foreign keys still
// cascade, and the indexes are there. Down keeps the first of two.
func TestComposerVersionsKey(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) {
		db, err := sqlite.Open(t.Context(), sqlite.Config{Path: filepath.Join(t.TempDir(), "packyard.db")})
		require.NoError(t, err)
		defer db.Close()
		testComposerVersionsKey(t, db)
	})
	t.Run("postgres", func(t *testing.T) {
		db, err := postgres.Open(t.Context(), postgres.Config{URL: testenv.PostgresURL(t)})
		require.NoError(t, err)
		defer db.Close()
		testComposerVersionsKey(t, db)
	})
}

func testComposerVersionsKey(t *testing.T, db *sqldb.DB) {
	ctx := t.Context()
	require.NoError(t, migrations.UpTo(ctx, db, 13))
	exec := func(q string, args ...any) error {
		_, err := db.Exec(ctx, q, args...)
		return err
	}
	require.NoError(t, exec(`INSERT INTO orgs (id, name, created_at) VALUES ('o1', 'acme', 1)`))
	require.NoError(t, exec(`INSERT INTO composer_sources (id, org_id, url, created_at) VALUES ('s1', 'o1', '/git/x', 1)`))
	for _, p := range []string{"p1", "p2"} {
		require.NoError(t, exec(`INSERT INTO composer_packages (id, org_id, name, created_at, updated_at) VALUES (?, 'o1', ?, 1, 1)`, p, "acme/"+p))
	}
	insert := func(pkg, normalized, version string, source any) error {
		return exec(`INSERT INTO composer_versions (package_id, normalized, version, reference, source_id, ref_name, entry, created_at)
			VALUES (?, ?, ?, ?, ?, '', '{}', 7)`, pkg, normalized, version, "r-"+version, source)
	}
	require.NoError(t, insert("p1", "1.0.0.0", "1.0.0", nil))
	require.NoError(t, insert("p1", "1.9999999.9999999.9999999-dev", "1.x-dev", "s1"))
	require.NoError(t, insert("p2", "dev-main", "dev-main", "s1"))
	require.ErrorIs(t, sqldb.MapErr(insert("p1", "1.9999999.9999999.9999999-dev", "v1.x-dev", "s1")), errs.ErrAlreadyExists,
		"before: one version per normalized version")
	require.NoError(t, exec(`INSERT INTO composer_downloads (package_id, normalized, count) VALUES ('p1', '1.0.0.0', 5)`))

	res, err := migrations.Up(ctx, db)
	require.NoError(t, err)
	require.Contains(t, res.Applied, int64(14))

	type row struct{ pkg, normalized, version, reference, source string }
	rows := func() []row {
		rs, err := db.Query(ctx, `SELECT package_id, normalized, version, reference, COALESCE(source_id, '') FROM composer_versions
			ORDER BY package_id, normalized, version`)
		require.NoError(t, err)
		defer rs.Close()
		var out []row
		for rs.Next() {
			var r row
			require.NoError(t, rs.Scan(&r.pkg, &r.normalized, &r.version, &r.reference, &r.source))
			out = append(out, r)
		}
		require.NoError(t, rs.Err())
		return out
	}
	require.Equal(t, []row{
		{"p1", "1.0.0.0", "1.0.0", "r-1.0.0", ""},
		{"p1", "1.9999999.9999999.9999999-dev", "1.x-dev", "r-1.x-dev", "s1"},
		{"p2", "dev-main", "dev-main", "r-dev-main", "s1"},
	}, rows(), "every row kept")

	require.NoError(t, insert("p1", "1.9999999.9999999.9999999-dev", "v1.x-dev", "s1"), "after: two versions of one normalized version")
	require.ErrorIs(t, sqldb.MapErr(insert("p1", "1.0.0.1", "1.0.0", nil)), errs.ErrAlreadyExists, "one version per pretty version")
	require.Error(t, insert("nope", "1.0.0.0", "1.0.0", nil), "the package's foreign key holds")
	require.Len(t, rows(), 4)

	indexes := `SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND name IN ('composer_versions_source', 'composer_versions_normalized')`
	if db.Dialect() == sqldb.Postgres {
		indexes = `SELECT COUNT(*) FROM pg_indexes WHERE indexname IN ('composer_versions_source', 'composer_versions_normalized')`
	}
	var n int
	require.NoError(t, db.QueryRow(ctx, indexes).Scan(&n))
	require.Equal(t, 2, n)

	// Deleting the source deletes its versions; deleting a package its own.
	require.NoError(t, exec(`DELETE FROM composer_sources WHERE id = 's1'`))
	require.Equal(t, []row{{"p1", "1.0.0.0", "1.0.0", "r-1.0.0", ""}}, rows())
	require.NoError(t, insert("p2", "1.9999999.9999999.9999999-dev", "v1.x-dev", nil))
	require.NoError(t, insert("p2", "1.9999999.9999999.9999999-dev", "1.x-dev", nil))
	require.NoError(t, exec(`DELETE FROM composer_packages WHERE id = 'p1'`))
	require.Len(t, rows(), 2)

	// Down keeps the first of two versions of one normalized version.
	require.NoError(t, migrations.DownTo(ctx, db, 13))
	require.Equal(t, []row{{"p2", "1.9999999.9999999.9999999-dev", "1.x-dev", "r-1.x-dev", ""}}, rows())
	_, err = migrations.Up(ctx, db)
	require.NoError(t, err)
}

package web_test

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/packyard/packyard/pkg/metadata"
	"github.com/packyard/packyard/pkg/sqldb"
)

// Server-side render time and size of the Composer pages, through the whole
// pipeline (token auth, the kit's middleware, the service, templates) on
// SQLite + filesystem + the in-process cache:
//
//	go test -run '^$' -bench . ./ecosystems/composer/web/
//
// Each reports the median render time (median-ms) and the page's size
// (bytes).

func benchPage(b *testing.B, h http.Handler, path, token string) {
	b.Helper()
	lat := make([]time.Duration, 0, b.N)
	size := 0
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		req := httptest.NewRequest("GET", path, nil)
		req.SetBasicAuth("token", token)
		rec := httptest.NewRecorder()
		t0 := time.Now()
		h.ServeHTTP(rec, req)
		lat = append(lat, time.Since(t0))
		if rec.Code != http.StatusOK {
			b.Fatalf("status %d: %.300s", rec.Code, rec.Body.String())
		}
		size = rec.Body.Len()
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "median-ms")
	b.ReportMetric(float64(size), "bytes")
}

func manifest(name, desc string) string {
	return fmt.Sprintf(`{"name":%q,"description":%q,"license":"MIT","require":{"php":">=8.1","psr/log":"^3.0"},"autoload":{"psr-4":{"Acme\\":"src/"}}}`, name, desc)
}

// seed adds n versions to packages of acme straight into the tables (the
// benchmarks measure pages, not publishing): version i of package
// name(i), its entry a copy of entry with its version fields set.
func seed(b *testing.B, s *site, n int, name func(int) string, version func(int) (pretty, normalized string), entry string) {
	b.Helper()
	ctx := b.Context()
	org, err := s.k.Meta.GetOrg(ctx, "acme")
	require.NoError(b, err)
	ids := map[string]string{}
	err = s.k.DB.InTx(ctx, func(tx *sqldb.Tx) error {
		for i := range n {
			pkg := name(i)
			id, ok := ids[pkg]
			if !ok {
				id = metadata.NewID()
				ids[pkg] = id
				if _, err := tx.Exec(ctx, `INSERT INTO composer_packages (id, org_id, name, description, created_at, updated_at)
					VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (org_id, name) DO NOTHING`, id, org.ID, pkg, "Package "+pkg, i, i); err != nil {
					return err
				}
				if err := tx.QueryRow(ctx, `SELECT id FROM composer_packages WHERE org_id = ? AND name = ?`, org.ID, pkg).Scan(&id); err != nil {
					return err
				}
				ids[pkg] = id
			}
			pretty, normalized := version(i)
			e := strings.NewReplacer("VERSION_N", normalized, "VERSION", pretty, "NAME", pkg).Replace(entry)
			if _, err := tx.Exec(ctx, `INSERT INTO composer_versions (package_id, normalized, version, reference, ref_name, entry, created_at)
				VALUES (?, ?, ?, ?, '', ?, ?) ON CONFLICT (package_id, normalized) DO NOTHING`,
				id, normalized, pretty, fmt.Sprintf("%040d", i), e, int64(i)*1e6); err != nil {
				return err
			}
		}
		return nil
	})
	require.NoError(b, err)
}

const benchEntry = `{"name":"NAME","description":"A package","license":"MIT","authors":[{"name":"Ann","email":"ann@example.com"}],` +
	`"require":{"php":">=8.1","psr/log":"^3.0","acme/other":"^1.0"},"require-dev":{"phpunit/phpunit":"^11"},` +
	`"autoload":{"psr-4":{"Acme\\":"src/"}},"version":"VERSION","version_normalized":"VERSION_N","time":"2024-01-01T00:00:00+00:00"}`

// BenchmarkOrganizationPage1000Packages renders the organization page
// (its first page of packages, searchable and paginated) of an
// organization with 1,000 packages.
func BenchmarkOrganizationPage1000Packages(b *testing.B) {
	s := newSite(b, nil)
	seed(b, s, 1000, func(i int) string { return fmt.Sprintf("acme/pkg-%04d", i) },
		func(int) (string, string) { return "1.0.0", "1.0.0.0" }, benchEntry)
	n, err := s.svc.CountPackages(b.Context(), "acme")
	require.NoError(b, err)
	require.Equal(b, 1000, n)
	benchPage(b, s.k.Handler, "/acme", s.k.Token("acme", metadata.RoleRead))
}

// BenchmarkPackagePage500Versions renders the page of a package with 500
// versions: one uploaded (its README rendered; read from the archive once,
// then from the cache), 499 more in the tables.
func BenchmarkPackagePage500Versions(b *testing.B) {
	s := newSite(b, nil)
	z := zipOf(b, map[string]string{"composer.json": manifest("acme/big", "Big"),
		"README.md": "# acme/big\n\nSome **Markdown** with a [link](https://example.com).\n\n```php\n<?php echo 1;\n```\n"})
	_, err := s.svc.Upload(b.Context(), "acme", "9.0.0", bytes.NewReader(z))
	require.NoError(b, err)
	seed(b, s, 499, func(int) string { return "acme/big" }, func(i int) (string, string) {
		return fmt.Sprintf("%d.%d.%d", i/100+1, (i/10)%10, i%10), fmt.Sprintf("%d.%d.%d.0", i/100+1, (i/10)%10, i%10)
	}, benchEntry)
	d, err := s.svc.Package(b.Context(), "acme", "acme/big")
	require.NoError(b, err)
	require.Len(b, d.Versions, 500)
	benchPage(b, s.k.Handler, "/acme/packages/acme/big", s.k.Token("acme", metadata.RoleRead))
}

package composer

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/packyard/packyard/e2e/harness"
	"github.com/packyard/packyard/ecosystems/composer/format"
	"github.com/packyard/packyard/pkg/metadata"
	"github.com/packyard/packyard/pkg/sqldb"
)

// BenchmarkP2Scale compares a p2 request in a repository of 10 packages
// with the same request in a repository of 10,000 packages of 50 versions
// each and, with PACKYARD_BENCH_100K=1, of 100,000 packages of 5 versions
// each (against 10 packages of 5 versions), on SQLite and on PostgreSQL:
// the cost must not grow with the store. Both repositories are seeded once
// and then asked in alternating order, one request each per iteration; the
// metrics are the median latency of each and large/small, their ratio. Then
// the same with a miss on every request ("cold-"): before each round both
// repositories' generations are bumped, so that each request loads its
// document from the database and prepares it again.
func BenchmarkP2Scale(b *testing.B) {
	cases := [][2]int{{10000, 50}}
	if os.Getenv("PACKYARD_BENCH_100K") == "1" {
		cases = append(cases, [2]int{100000, 5})
	}
	for _, pg := range []bool{false, true} {
		for _, c := range cases {
			n, v := c[0], c[1]
			b.Run(fmt.Sprintf("%s/packages=%d/versions=%d", dialectName(pg), n, v), func(b *testing.B) {
				small, large := scaleRepo(b, pg, 10, v), scaleRepo(b, pg, n, v)
				harness.ReportMedians(b, "", harness.Interleaved(b, small.get, large.get))
				var cold [2][]time.Duration
				repos := [2]scaled{small, large}
				for i := range 200 {
					small.bump()
					large.bump()
					for k := range 2 {
						j := k ^ (i & 1)
						t0 := time.Now()
						repos[j].get()
						cold[j] = append(cold[j], time.Since(t0))
					}
				}
				harness.ReportMedians(b, "cold-", cold)
			})
		}
	}
}

func dialectName(pg bool) string {
	if pg {
		return "postgres"
	}
	return "sqlite"
}

// scaled is a seeded repository: get requests the p2 document of a package
// in the middle and checks the answer; bump bumps the repository's
// generation and waits until the service sees it.
type scaled struct{ get, bump func() }

// scaleRepo is a stack whose organization acme holds n packages of v
// versions.
func scaleRepo(b *testing.B, pg bool, n, v int) scaled {
	s := newStack(b, stackOpts{postgres: pg})
	s.org("acme")
	tok := s.token("acme", metadata.RoleRead)
	t0 := time.Now()
	seedPackages(b, s, n, v)
	b.Logf("%s: %d packages of %d versions seeded in %s", dialectName(pg), n, v, time.Since(t0).Round(time.Millisecond))
	newReq := authed("GET", fmt.Sprintf("/composer/acme/p2/acme/pkg%d.json", n/2), tok)
	want := fmt.Sprintf(`"acme/pkg%d"`, n/2)
	ctx := context.Background()
	org, err := s.svc.repo.org(ctx, "acme")
	require.NoError(b, err)
	return scaled{
		get: func() {
			rec := httptest.NewRecorder()
			s.h.ServeHTTP(rec, newReq())
			if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), want) {
				b.Fatalf("status %d: %.200s", rec.Code, rec.Body.String())
			}
		},
		bump: func() {
			gen, err := s.meta.BumpGeneration(ctx, nil, scope(org))
			require.NoError(b, err)
			for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
				seen, err := s.svc.repo.generation(ctx, org)
				require.NoError(b, err)
				if seen >= gen {
					return
				}
				require.True(b, time.Now().Before(deadline), "generation %d not seen", gen)
			}
		},
	}
}

// seedPackages writes n packages (acme/pkg0 …) of v versions each (1.0.0,
// 1.1.0, …) with bulk inserts, as the rows uploads of them would leave:
// version j of every package is the archive uploaded as version j of
// acme/seed (its reference and checksum the archive's SHA-1, its dist
// recorded and referenced), the entries made by format.Entry from each
// package's composer.json, the documents built by the repository's own
// build, then one write through the repository bumps the generation and
// rebuilds packages.json.
func seedPackages(b testing.TB, s *stack, n, v int) {
	ctx := context.Background()
	repo := s.svc.repo
	org, err := repo.org(ctx, "acme")
	require.NoError(b, err)
	type archive struct {
		digest, sha string
		size        int64
	}
	archives := make([]archive, v)
	for j := range v {
		z := makeZip(b, zf{name: "composer.json", body: `{"name":"acme/seed"}`}, zf{name: "v.txt", body: fmt.Sprint(j)})
		res, err := s.svc.Upload(ctx, "acme", fmt.Sprintf("1.%d.0", j), bytes.NewReader(z))
		require.NoError(b, err)
		a := &archives[j]
		require.NoError(b, s.meta.DB().QueryRow(ctx, `SELECT digest, sha1, size FROM composer_dists WHERE reference = ?`,
			res.Reference).Scan(&a.digest, &a.sha, &a.size))
	}
	at := time.Now()
	now := micros(at)
	modTime := at.Truncate(time.Second).UnixMicro()
	const batch = 1000
	for start := 0; start < n; start += batch {
		var pkgs, versions, dists, refs, docs [][]any
		for i := start; i < min(start+batch, n); i++ {
			name := fmt.Sprintf("acme/pkg%d", i)
			m, err := format.ParseManifest([]byte(fmt.Sprintf(`{"name":%q,"description":"package %d","require":{"php":">=8.1","acme/seed":"^1.0"},"autoload":{"psr-4":{"Acme\\Pkg%d\\":"src/"}}}`, name, i, i)), true)
			require.NoError(b, err)
			id := metadata.NewID()
			rows := make([]versionRow, 0, v)
			for j, a := range archives {
				ver := fmt.Sprintf("1.%d.0", j)
				e, err := json.Marshal(format.Entry(org.Name, m, name, ver, ver+".0", a.sha, a.sha, at))
				require.NoError(b, err)
				rows = append(rows, versionRow{Normalized: ver + ".0", Version: ver, Reference: a.sha, Entry: string(e)})
				versions = append(versions, []any{id, ver + ".0", ver, a.sha, nil, "", string(e), now})
				dists = append(dists, []any{id, a.sha, a.digest, a.sha, a.size, now})
				refs = append(refs, []any{a.digest, distRef(id, a.sha)})
			}
			built, err := repo.buildAll(map[string][]versionRow{name: sortVersions(rows)}, map[string]format.Object{})
			require.NoError(b, err)
			d := built[name]
			pkgs = append(pkgs, []any{id, org.ID, name, d.description, now, now})
			docs = append(docs, []any{scope(org), p2Key(name, false), nonNil(d.stable), "application/json", modTime},
				[]any{scope(org), p2Key(name, true), nonNil(d.dev), "application/json", modTime})
		}
		require.NoError(b, s.meta.DB().InTx(ctx, func(tx *sqldb.Tx) error {
			return firstErr(
				func() error {
					return insertRows(ctx, tx, "composer_packages", "id, org_id, name, description, created_at, updated_at", pkgs)
				},
				func() error {
					return insertRows(ctx, tx, "composer_versions", "package_id, normalized, version, reference, source_id, ref_name, entry, created_at", versions)
				},
				func() error {
					return insertRows(ctx, tx, "composer_dists", "package_id, reference, digest, sha1, size, created_at", dists)
				},
				func() error { return insertRows(ctx, tx, "blob_refs", "digest, ref", refs) },
				func() error {
					return insertRows(ctx, tx, "documents", "scope, key, body, content_type, mod_time", docs)
				},
			)
		}))
	}
	require.NoError(b, repo.write(ctx, org, nil, func(*sqldb.Tx, map[string]string) error { return nil }))
}

// nonNil is a document's body as PutDocument stores it.
func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

func firstErr(fns ...func() error) error {
	for _, f := range fns {
		if err := f(); err != nil {
			return err
		}
	}
	return nil
}

// insertRows inserts rows into table in multi-row statements.
func insertRows(ctx context.Context, tx *sqldb.Tx, table, cols string, rows [][]any) error {
	if len(rows) == 0 {
		return nil
	}
	width := len(rows[0])
	mark := "(" + strings.TrimSuffix(strings.Repeat("?, ", width), ", ") + ")"
	per := 30000 / width
	for start := 0; start < len(rows); start += per {
		chunk := rows[start:min(start+per, len(rows))]
		args := make([]any, 0, len(chunk)*width)
		for _, r := range chunk {
			args = append(args, r...)
		}
		q := "INSERT INTO " + table + " (" + cols + ") VALUES " + strings.TrimSuffix(strings.Repeat(mark+", ", len(chunk)), ", ")
		if _, err := tx.Exec(ctx, q, args...); err != nil {
			return fmt.Errorf("insert into %s: %w", table, err)
		}
	}
	return nil
}

// TestSeedPackagesAsWritten: the documents and descriptions the benchmark's
// bulk seeding stores are those the repository's own write stores for the
// same versions (rewriting a seeded package changes nothing), and the
// packages serve.
func TestSeedPackagesAsWritten(t *testing.T) {
	s := newStack(t, stackOpts{})
	s.org("acme")
	seedPackages(t, s, 3, 2)
	ctx := t.Context()
	repo := s.svc.repo
	org, err := repo.org(ctx, "acme")
	require.NoError(t, err)
	type snapshot struct {
		docs        [2]metadata.Document
		description string
	}
	read := func(name string) (string, snapshot) {
		var sn snapshot
		id, desc, err := s.svc.store.packageRow(ctx, org.ID, name)
		require.NoError(t, err)
		sn.description = desc
		for i, dev := range []bool{false, true} {
			sn.docs[i], err = s.meta.GetDocument(ctx, nil, scope(org), p2Key(name, dev))
			require.NoError(t, err)
		}
		return id, sn
	}
	for i := range 3 {
		name := fmt.Sprintf("acme/pkg%d", i)
		id, before := read(name)
		require.Equal(t, fmt.Sprintf("package %d", i), before.description)
		same := map[string]predict{name: func(current []versionRow) []versionRow { return current }}
		require.NoError(t, repo.write(ctx, org, same, func(_ *sqldb.Tx, touched map[string]string) error {
			touched[id] = name
			return nil
		}))
		_, after := read(name)
		require.Equal(t, before, after, name)
	}
	vs := s.p2("acme", "acme/pkg1", s.token("acme", metadata.RoleRead))
	require.Len(t, vs, 2)
	require.Equal(t, "package 1", vs["1.1.0"]["description"])
}

package composer

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/packyard/packyard/e2e/harness"
	"github.com/packyard/packyard/pkg/errs"
	"github.com/packyard/packyard/pkg/metadata"
)

func TestPickVersion(t *testing.T) {
	vs := []namedVersion{
		{Version: "1.x-dev", Normalized: "1.9999999.9999999.9999999-dev"},
		{Version: "v1.x-dev", Normalized: "1.9999999.9999999.9999999-dev"},
		{Version: "1.0.0", Normalized: "1.0.0.0"},
	}
	v, err := pickVersion(vs, "v1.x-dev", "1.9999999.9999999.9999999-dev")
	require.NoError(t, err)
	require.Equal(t, "v1.x-dev", v.Version, "the pretty version names one")
	v, err = pickVersion(vs, "v1.0.0", "1.0.0.0")
	require.NoError(t, err)
	require.Equal(t, "1.0.0", v.Version, "another spelling of a normalized version one version has")
	_, err = pickVersion(vs, "1.x", "1.9999999.9999999.9999999-dev")
	require.ErrorIs(t, err, errs.ErrInvalidArgument)
	require.Contains(t, errs.PublicMessage(err), "1.x-dev, v1.x-dev")
	_, err = pickVersion(vs, "2.0.0", "2.0.0.0")
	require.ErrorIs(t, err, errs.ErrNotFound)
	_, err = pickVersion(vs, "not a version", "")
	require.ErrorIs(t, err, errs.ErrNotFound)
}

func TestAttributeDownloads(t *testing.T) {
	vs := []PackageVersion{
		{Version: "v1.x-dev", Normalized: "n1", Downloads: 4},
		{Version: "1.x-dev", Normalized: "n1", Downloads: 4},
		{Version: "1.0.0", Normalized: "n2", Downloads: 2},
	}
	attributeDownloads(vs, func(v *PackageVersion) (string, string, *int64) { return v.Normalized, v.Version, &v.Downloads })
	require.Equal(t, []int64{0, 4, 2}, []int64{vs[0].Downloads, vs[1].Downloads, vs[2].Downloads},
		"a normalized version's installs on the version Composer installs, the first by pretty version")
}

// zipFile is the body of the file of an archive whose path ends in suffix.
func zipFile(t *testing.T, b []byte, suffix string) string {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
	require.NoError(t, err)
	for _, f := range zr.File {
		if strings.HasSuffix(f.Name, suffix) {
			rc, err := f.Open()
			require.NoError(t, err)
			defer rc.Close()
			body, err := io.ReadAll(rc)
			require.NoError(t, err)
			return string(body)
		}
	}
	t.Fatalf("no %s in the archive", suffix)
	return ""
}

// TestBranchesOfOneVersion: git branches that normalize to one version
// (1.x and v1.x, 1.0 and v1.0) are all served, each with its own commit
// and archive; of two with one pretty version (1 and 1.x: 1.x-dev), the
// first. The real Composer installs the same one of them from packyard as
// from the VCS repository, and the other once the first branches are
// deleted. Versions are named by their pretty version.
func TestBranchesOfOneVersion(t *testing.T) {
	backends(t, func(t *testing.T, pg bool) {
		s := newStack(t, stackOpts{postgres: pg})
		s.org("acme")
		read, admin := s.token("acme", metadata.RoleRead), s.token("acme", metadata.RoleAdmin)
		ctx := t.Context()
		u, err := url.Parse(s.url)
		require.NoError(t, err)

		g := harness.GitRepo(t)
		g.Commit(map[string]string{"composer.json": `{"name":"acme/x"}`, "which.txt": "main"})
		commits := map[string]string{}
		for _, b := range []string{"1", "1.x", "v1.x", "1.0", "v1.0"} {
			g.Git("checkout", "-q", "-b", b, "main")
			g.Commit(map[string]string{"which.txt": b})
			commits[b] = strings.TrimSpace(g.Git("rev-parse", "HEAD"))
		}
		g.Git("checkout", "-q", "main")
		_, _, err = s.svc.AddSource(ctx, "acme", SourceInput{URL: g.Dir, Operator: true})
		require.NoError(t, err)
		reps, err := s.svc.Sync(ctx, "acme", g.Dir)
		require.NoError(t, err)
		require.Equal(t, []RefStatus{{Ref: "refs/heads/1.x", Commit: commits["1.x"], Warning: "skipped: version 1.x-dev already exists (refs/heads/1)"}},
			reps[0].Warnings)

		vs := s.p2("acme", "acme/x", read)
		require.Equal(t, []string{"1.0.x-dev", "1.x-dev", "dev-main", "v1.0.x-dev", "v1.x-dev"}, versionsOf(vs))
		for pretty, branch := range map[string]string{"1.x-dev": "1", "v1.x-dev": "v1.x", "1.0.x-dev": "1.0", "v1.0.x-dev": "v1.0"} {
			v := vs[pretty]
			dist := v["dist"].(map[string]any)
			require.Equal(t, commits[branch], dist["reference"], pretty)
			res, body := s.do("GET", strings.TrimPrefix(dist["url"].(string), s.url), read, nil)
			require.Equal(t, http.StatusOK, res.StatusCode)
			require.Equal(t, branch, zipFile(t, body, "/which.txt"), "%s downloads its own archive", pretty)
			require.Equal(t, dist["shasum"], sha1hex(body))
		}
		require.Equal(t, vs["1.x-dev"]["version_normalized"], vs["v1.x-dev"]["version_normalized"])
		require.Equal(t, "1.0.9999999.9999999-dev", vs["v1.0.x-dev"]["version_normalized"])

		// Composer installs the same branch from packyard as from the VCS
		// repository, whichever spelling the constraint uses.
		installed := func(c string) (served, vcsRepo string) {
			t.Helper()
			dir := harness.ComposerProject(t, s.url+"/composer/acme", map[string]string{"acme/x": c})
			harness.Composer(t, u.Host, read).Must(dir, "update")
			vdir := t.TempDir()
			b, err := json.Marshal(map[string]any{"repositories": []any{map[string]string{"type": "vcs", "url": g.Dir},
				map[string]bool{"packagist": false}}, "require": map[string]string{"acme/x": c}})
			require.NoError(t, err)
			require.NoError(t, os.WriteFile(filepath.Join(vdir, "composer.json"), b, 0o644))
			harness.Composer(t, u.Host, "").Must(vdir, "update")
			read := func(d string) string {
				b, err := os.ReadFile(filepath.Join(d, "vendor/acme/x/which.txt"))
				require.NoError(t, err)
				return string(b)
			}
			return read(dir), read(vdir)
		}
		for _, c := range []string{"1.x-dev", "v1.x-dev"} {
			served, fromVCS := installed(c)
			require.Equal(t, fromVCS, served, c)
			require.Equal(t, "1", served, c)
		}

		// Composer reports installs by normalized version only: they are
		// shown on the version it installs.
		ps, err := s.svc.ListPackages(ctx, "acme")
		require.NoError(t, err)
		downloads := map[string]int64{}
		for _, v := range ps[0].Versions {
			downloads[v.Version] = v.Downloads
		}
		require.Positive(t, downloads["1.x-dev"])
		require.Zero(t, downloads["v1.x-dev"])

		// A normalized version two versions share names neither; git
		// versions are deleted in git, by the CLI and API alike.
		err = s.svc.DeleteVersion(ctx, "acme", "acme/x", "1.9999999.9999999.9999999-dev")
		require.ErrorIs(t, err, errs.ErrInvalidArgument)
		require.Contains(t, errs.PublicMessage(err), "(1.x-dev, v1.x-dev)")
		err = s.svc.DeleteVersion(ctx, "acme", "acme/x", "v1.x-dev")
		require.ErrorIs(t, err, errs.ErrFailedPrecondition)
		require.Contains(t, errs.PublicMessage(err), "acme/x v1.x-dev comes from a git source")
		res, body := s.do("DELETE", "/api/v1/composer/acme/packages/acme/x/versions/1.9999999.9999999.9999999-dev", admin, nil)
		require.Equal(t, http.StatusBadRequest, res.StatusCode, string(body))

		// The first branches deleted: the other stays, and is installed.
		g.Git("branch", "-D", "1", "1.x")
		_, err = s.svc.Sync(ctx, "acme", g.Dir)
		require.NoError(t, err)
		vs = s.p2("acme", "acme/x", read)
		require.Equal(t, []string{"1.0.x-dev", "dev-main", "v1.0.x-dev", "v1.x-dev"}, versionsOf(vs))
		require.Equal(t, commits["v1.x"], vs["v1.x-dev"]["dist"].(map[string]any)["reference"])
		served, fromVCS := installed("1.x-dev")
		require.Equal(t, fromVCS, served)
		require.Equal(t, "v1.x", served)

		// Uploads: a second spelling of a version is refused, and names
		// the version to delete.
		upload := func(version string) error {
			_, err := s.svc.Upload(ctx, "acme", version, bytes.NewReader(makeZip(t, zf{name: "composer.json", body: `{"name":"acme/up"}`})))
			return err
		}
		require.NoError(t, upload("1.0.0"))
		require.ErrorIs(t, upload("v1.0.0"), errs.ErrAlreadyExists)
		require.NoError(t, s.svc.DeleteVersion(ctx, "acme", "acme/up", "v1.0.0"), "another spelling of the only 1.0.0.0")
		require.NoError(t, upload("v1.0.0"))
		require.Equal(t, []string{"v1.0.0"}, versionsOf(s.p2("acme", "acme/up", read)))
		res, body = s.do("DELETE", "/api/v1/composer/acme/packages/acme/up/versions/1.0.0", admin, nil)
		require.Equal(t, http.StatusNoContent, res.StatusCode, string(body))
	})
}

package composer

import (
	"archive/zip"
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/packyard/packyard/e2e/harness"
	"github.com/packyard/packyard/pkg/errs"
	"github.com/packyard/packyard/pkg/metadata"
)

func zipNames(t *testing.T, b []byte) []string {
	zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
	require.NoError(t, err)
	var out []string
	for _, f := range zr.File {
		out = append(out, f.Name)
	}
	return out
}

func versionsOf(vs map[string]map[string]any) []string {
	var out []string
	for v := range vs {
		out = append(out, v)
	}
	sort.Strings(out)
	return out
}

func TestGitSync(t *testing.T) {
	backends(t, func(t *testing.T, pg bool) {
		s := newStack(t, stackOpts{postgres: pg})
		s.org("acme")
		read := s.token("acme", metadata.RoleRead)
		ctx := t.Context()

		g := harness.GitRepo(t)
		g.Commit(map[string]string{
			"composer.json":  `{"name":"acme/widgets","description":"Widgets","require":{"php":">=8.1"},"autoload":{"psr-4":{"Acme\\Widgets\\":"src/"}},"extra":{"branch-alias":{"dev-main":"2.x-dev"}}}`,
			"src/Widget.php": "<?php class Widget {}",
			"tests/T.php":    "<?php // test",
			"docs/a/b.md":    "doc",
			".gitattributes": "/tests export-ignore\n*.md export-ignore\n",
		})
		g.Git("tag", "1.0.0")
		g.Git("tag", "v1.0.0") // same version, later in ref order: skipped with a warning
		g.Git("tag", "1.0.0-dev")
		g.Git("tag", "foo")
		g.Git("tag", "-a", "release-1.1.0", "-m", "annotated")
		g.Git("checkout", "-q", "-b", "1.x")
		g.Commit(map[string]string{"src/Old.php": "<?php class Old {}"})
		g.Git("checkout", "-q", "-b", "feature/x")
		g.Commit(map[string]string{"composer.json": `{"name":"acme/widgets","version":"9.9.9"}`})
		g.Git("tag", "v3.0.0") // composer.json version disagrees with the tag
		g.Git("checkout", "-q", "main")
		g.Git("checkout", "-q", "-b", "nocomposer")
		g.Commit(map[string]string{"composer.json": ""})
		g.Git("checkout", "-q", "main")

		src, secret, err := s.svc.AddSource(ctx, "acme", SourceInput{URL: g.Dir, Operator: true})
		require.NoError(t, err)
		require.NotEmpty(t, secret)
		_, _, err = s.svc.AddSource(ctx, "acme", SourceInput{URL: g.Dir, Operator: true})
		require.ErrorIs(t, err, errs.ErrAlreadyExists)

		reps, err := s.svc.Sync(ctx, "acme", g.Dir)
		require.NoError(t, err)
		require.Len(t, reps, 1)
		require.Equal(t, "acme/widgets", reps[0].Package)

		vs := s.p2("acme", "acme/widgets", read)
		require.Equal(t, []string{"1.0.0", "1.1.0", "1.x-dev", "dev-feature/x", "dev-main"}, versionsOf(vs))
		main := vs["dev-main"]
		require.Equal(t, true, main["default-branch"])
		require.Equal(t, map[string]any{"branch-alias": map[string]any{"dev-main": "2.x-dev"}}, main["extra"])
		require.Nil(t, vs["1.0.0"]["default-branch"])
		require.Equal(t, "1.0.0.0", vs["1.0.0"]["version_normalized"])
		require.Equal(t, "1.9999999.9999999.9999999-dev", vs["1.x-dev"]["version_normalized"])
		require.Equal(t, "Widgets", vs["1.1.0"]["description"], "each ref's own composer.json")
		require.Nil(t, vs["dev-feature/x"]["require"], "feature/x has its own composer.json without require")

		// Warnings are visible per ref.
		srcs, err := s.svc.Sources(ctx, "acme")
		require.NoError(t, err)
		require.Len(t, srcs, 1)
		require.Equal(t, "ok", srcs[0].Status)
		require.True(t, srcs[0].Webhook)
		warn := map[string]string{}
		for _, r := range srcs[0].Refs {
			if r.Warning != "" {
				warn[r.Ref] = r.Warning
			}
		}
		require.Contains(t, warn["refs/tags/v1.0.0"], "already exists (refs/tags/1.0.0)")
		require.Contains(t, warn["refs/tags/1.0.0-dev"], "dev version")
		require.Contains(t, warn["refs/tags/foo"], "invalid version")
		require.Contains(t, warn["refs/tags/v3.0.0"], "does not match version (9.9.9.0)")
		require.Contains(t, warn["refs/heads/nocomposer"], "no composer.json")
		require.Len(t, warn, 5, "%v", warn)
		res, body := s.do("GET", "/composer/acme/api/sources", read, nil)
		require.Equal(t, http.StatusOK, res.StatusCode)
		require.Contains(t, string(body), "does not match version")
		require.NotContains(t, string(body), secret)

		// The dist honours export-ignore and has one top directory.
		dist := vs["1.0.0"]["dist"].(map[string]any)
		ref := dist["reference"].(string)
		require.Len(t, ref, 40)
		res, zipBody := s.do("GET", strings.TrimPrefix(dist["url"].(string), s.url), read, nil)
		require.Equal(t, http.StatusOK, res.StatusCode)
		names := zipNames(t, zipBody)
		prefix := "acme-widgets-" + ref[:7] + "/"
		require.Contains(t, names, prefix+"composer.json")
		require.Contains(t, names, prefix+"src/Widget.php")
		require.Contains(t, names, prefix+".gitattributes")
		for _, n := range names {
			require.True(t, strings.HasPrefix(n, prefix), n)
			require.NotContains(t, n, "tests/")
			require.False(t, strings.HasSuffix(n, ".md"), n)
		}
		sum := sha1hex(zipBody)
		require.Equal(t, dist["shasum"], sum)

		// Incremental: nothing changed, nothing read.
		reps, err = s.svc.Sync(ctx, "acme", "")
		require.NoError(t, err)
		require.Zero(t, reps[0].Changed)

		// Move a tag and advance main: the old references stay downloadable
		// with the same bytes; the archive of an unchanged commit is reused.
		oldURL := dist["url"].(string)
		g.Commit(map[string]string{"src/New.php": "<?php class NewOne {}"})
		g.Git("tag", "-f", "1.0.0")
		g.Git("tag", "-d", "release-1.1.0")
		reps, err = s.svc.Sync(ctx, "acme", g.Dir)
		require.NoError(t, err)
		require.Equal(t, 2, reps[0].Changed, "main and 1.0.0 moved")
		require.Equal(t, 1, reps[0].Removed)
		vs2 := s.p2("acme", "acme/widgets", read)
		require.NotContains(t, vs2, "1.1.0", "deleted tag is gone")
		require.NotEqual(t, ref, vs2["1.0.0"]["dist"].(map[string]any)["reference"])
		res, again := s.do("GET", strings.TrimPrefix(oldURL, s.url), read, nil)
		require.Equal(t, http.StatusOK, res.StatusCode, "lock files pinning the old reference still install")
		require.Equal(t, zipBody, again)
		require.Equal(t, vs["1.x-dev"]["dist"], vs2["1.x-dev"]["dist"], "unchanged branch keeps its archive and shasum")

		// Webhook: signed deliveries queue a sync; bad ones are refused.
		body1 := []byte(`{"ref":"refs/heads/main"}`)
		m := hmac.New(sha256.New, []byte(secret))
		m.Write(body1)
		res, _ = s.do("POST", "/composer/acme/hooks/"+src.ID, "", bytes.NewReader(body1), "X-Hub-Signature-256", "sha256="+hex.EncodeToString(m.Sum(nil)), "X-GitHub-Event", "push")
		require.Equal(t, http.StatusAccepted, res.StatusCode)
		st, ok, err := s.svc.jobs.Queue.Status(ctx, syncJob, src.ID)
		require.NoError(t, err)
		require.True(t, ok, "the delivery is queued in the database before it is acknowledged")
		require.Equal(t, "pending", st.State)
		res, _ = s.do("POST", "/composer/acme/hooks/"+src.ID, "", bytes.NewReader(body1), "X-Hub-Signature-256", "sha256=00")
		require.Equal(t, http.StatusForbidden, res.StatusCode)
		res, _ = s.do("POST", "/composer/acme/hooks/"+src.ID, "", bytes.NewReader(body1), "X-Gitlab-Token", secret)
		require.Equal(t, http.StatusAccepted, res.StatusCode)
		res, _ = s.do("POST", "/composer/other/hooks/"+src.ID, "", bytes.NewReader(body1), "X-Gitlab-Token", secret)
		require.Equal(t, http.StatusNotFound, res.StatusCode)

		// Uploading a version the git source holds is refused.
		_, err = s.svc.Upload(ctx, "acme", "1.0.0", bytes.NewReader(makeZip(t, zf{name: "composer.json", body: `{"name":"acme/widgets"}`})))
		require.ErrorIs(t, err, errs.ErrAlreadyExists)

		// Removing the source removes its versions; archives stay.
		require.NoError(t, s.svc.RemoveSource(ctx, "acme", g.Dir))
		require.Empty(t, s.p2("acme", "acme/widgets", read))
		res, _ = s.do("GET", strings.TrimPrefix(oldURL, s.url), read, nil)
		require.Equal(t, http.StatusOK, res.StatusCode)
	})
}

func TestGitSyncFailures(t *testing.T) {
	s := newStack(t, stackOpts{})
	s.org("acme")
	ctx := t.Context()
	g := harness.GitRepo(t)
	g.Commit(map[string]string{"README": "no composer.json"})
	_, _, err := s.svc.AddSource(ctx, "acme", SourceInput{URL: g.Dir, Operator: true})
	require.NoError(t, err)
	_, err = s.svc.Sync(ctx, "acme", g.Dir)
	require.ErrorContains(t, err, "has no composer.json")
	srcs, err := s.svc.Sources(ctx, "acme")
	require.NoError(t, err)
	require.Equal(t, "error", srcs[0].Status)
	require.Contains(t, srcs[0].LastError, "no composer.json")

	_, _, err = s.svc.AddSource(ctx, "acme", SourceInput{URL: "ftp://example.invalid/x"})
	require.ErrorIs(t, err, errs.ErrInvalidArgument)
	_, _, err = s.svc.AddSource(ctx, "acme", SourceInput{URL: "https://user:pw@example.invalid/x.git"})
	require.ErrorContains(t, err, "password")

	// Credentials need a key.
	nk := newStack(t, stackOpts{noKey: true})
	nk.org("acme")
	_, _, err = nk.svc.AddSource(ctx, "acme", SourceInput{URL: "https://example.invalid/x.git", Token: "t0k"})
	require.ErrorIs(t, err, errs.ErrFailedPrecondition)
	require.ErrorContains(t, err, "PACKYARD_SECRET_KEY")
	_, secret, err := nk.svc.AddSource(ctx, "acme", SourceInput{URL: g.Dir, Operator: true})
	require.NoError(t, err)
	require.Empty(t, secret, "no webhook without a key")

	// A token is stored sealed, never in clear.
	_, _, err = s.svc.AddSource(ctx, "acme", SourceInput{URL: "https://example.invalid/y.git", Token: "supersecrettoken"})
	require.NoError(t, err)
	var cred []byte
	require.NoError(t, s.meta.DB().QueryRow(ctx, `SELECT credential FROM composer_sources WHERE url = ?`, "https://example.invalid/y.git").Scan(&cred))
	require.NotContains(t, string(cred), "supersecrettoken")
	srcs, err = s.svc.Sources(ctx, "acme")
	require.NoError(t, err)
	for _, sr := range srcs {
		require.NotContains(t, sr.URL, "supersecret")
	}
}

func sha1hex(b []byte) string {
	s := sha1Sum(b)
	return hex.EncodeToString(s[:])
}

func sha1Sum(b []byte) [20]byte { return sha1.Sum(b) }

// TestGitSyncArchiveSizes: a sync stores a small archive in its batch and
// streams a large one (past the batch's 1 MiB per archive); both are
// served with the shasum their versions name, and an archive past
// PACKYARD_COMPOSER_MAX_DIST_SIZE fails the sync.
func TestGitSyncArchiveSizes(t *testing.T) {
	cfg := DefaultConfig()
	cfg.SyncInterval = 0
	cfg.MaxDistSize = 4 << 20
	s := newStack(t, stackOpts{cfg: &cfg})
	s.org("acme")
	read := s.token("acme", metadata.RoleRead)
	ctx := t.Context()
	noise := func(n int) string {
		b := make([]byte, n)
		_, err := rand.Read(b)
		require.NoError(t, err)
		return string(b)
	}
	g := harness.GitRepo(t)
	g.Commit(map[string]string{"composer.json": `{"name":"acme/sizes"}`, "small.txt": "small"})
	g.Git("tag", "1.0.0")
	g.Commit(map[string]string{"big.bin": noise(2 << 20)})
	g.Git("tag", "2.0.0")
	_, _, err := s.svc.AddSource(ctx, "acme", SourceInput{URL: g.Dir, Operator: true})
	require.NoError(t, err)
	_, err = s.svc.Sync(ctx, "acme", g.Dir)
	require.NoError(t, err)
	vs := s.p2("acme", "acme/sizes", read)
	require.Equal(t, []string{"1.0.0", "2.0.0", "dev-main"}, versionsOf(vs))
	for v, want := range map[string]int{"1.0.0": 3, "2.0.0": 4} {
		dist := vs[v]["dist"].(map[string]any)
		res, body := s.do("GET", strings.TrimPrefix(dist["url"].(string), s.url), read, nil)
		require.Equal(t, http.StatusOK, res.StatusCode)
		sum := sha1.Sum(body)
		require.Equal(t, dist["shasum"], hex.EncodeToString(sum[:]), v)
		require.Len(t, zipNames(t, body), want, v)
		if v == "2.0.0" {
			require.Greater(t, len(body), 2<<20)
		}
	}

	g.Commit(map[string]string{"huge.bin": noise(5 << 20)})
	g.Git("tag", "3.0.0")
	_, err = s.svc.Sync(ctx, "acme", g.Dir)
	require.ErrorIs(t, err, errs.ErrTooLarge)
}

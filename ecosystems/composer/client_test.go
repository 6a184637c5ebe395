package composer

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/packyard/packyard/pkg/testenv"

	"github.com/packyard/packyard/pkg/metadata"
)

// composerRun runs the real composer client in dir with a fresh home and
// cache unless shared ones are given.
type composerEnv struct {
	t     *testing.T
	home  string
	cache string
	auth  string
}

func newComposerEnv(t *testing.T, host, token string) *composerEnv {
	if _, err := exec.LookPath("composer"); err != nil {
		if testenv.Required() {
			t.Fatal("composer is not installed (scripts/install-deps.sh installs it)")
		}
		t.Skip("composer not installed")
	}
	e := &composerEnv{t: t, home: t.TempDir(), cache: t.TempDir()}
	if token != "" {
		b, _ := json.Marshal(map[string]any{"http-basic": map[string]any{host: map[string]string{"username": "token", "password": token}}})
		e.auth = string(b)
	}
	return e
}

func (e *composerEnv) run(dir string, args ...string) (string, error) {
	cmd := exec.Command("composer", append(args, "--no-interaction", "--no-ansi")...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "COMPOSER_HOME="+e.home, "COMPOSER_CACHE_DIR="+e.cache, "COMPOSER_ALLOW_SUPERUSER=1",
		"COMPOSER_NO_INTERACTION=1", "COMPOSER_AUTH="+e.auth, "COMPOSER_DISABLE_XDEBUG_WARN=1")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

func (e *composerEnv) must(dir string, args ...string) string {
	e.t.Helper()
	out, err := e.run(dir, args...)
	require.NoError(e.t, err, "composer %s:\n%s", strings.Join(args, " "), out)
	return out
}

func project(t *testing.T, repoURL string, require map[string]string) string {
	dir := t.TempDir()
	b, _ := json.MarshalIndent(map[string]any{
		"name":              "test/consumer",
		"repositories":      []any{map[string]string{"type": "composer", "url": repoURL}, map[string]bool{"packagist": false}},
		"require":           require,
		"config":            map[string]any{"secure-http": false},
		"minimum-stability": "stable",
	}, "", "  ")
	require0(t, os.WriteFile(filepath.Join(dir, "composer.json"), b, 0o644))
	return dir
}

func require0(t *testing.T, err error) { t.Helper(); require.NoError(t, err) }

func lockVersions(t *testing.T, dir string) map[string]map[string]any {
	b, err := os.ReadFile(filepath.Join(dir, "composer.lock"))
	require.NoError(t, err)
	var lock struct {
		Packages []map[string]any `json:"packages"`
	}
	require.NoError(t, json.Unmarshal(b, &lock))
	out := map[string]map[string]any{}
	for _, p := range lock.Packages {
		out[p["name"].(string)] = p
	}
	return out
}

// TestRealComposerClient drives Composer 2 (the Debian package) against the
// whole HTTP stack: uploads and a git source that depend on each other,
// branch aliases, 304s, a lock file that outlives a moved tag, search,
// show, and bad credentials.
func TestRealComposerClient(t *testing.T) {
	backends(t, func(t *testing.T, pg bool) {
		s := newStack(t, stackOpts{postgres: pg})
		s.org("acme")
		read := s.token("acme", metadata.RoleRead)
		ctx := t.Context()
		u, _ := url.Parse(s.srv.URL)
		repoURL := s.srv.URL + "/composer/acme"

		upload := func(name, version, extra string, files map[string]string) {
			zfs := []zf{{name: "composer.json", body: fmt.Sprintf(`{"name":%q,"description":"The %s package"%s}`, name, name, extra)}}
			for p, c := range files {
				zfs = append(zfs, zf{name: p, body: c})
			}
			_, err := s.svc.Upload(ctx, "acme", version, bytes.NewReader(makeZip(t, zfs...)))
			require.NoError(t, err)
		}
		autoload := `,"autoload":{"psr-4":{"Acme\\Base\\":"src/"}}`
		upload("acme/base", "1.0.0", autoload, map[string]string{"src/Version.php": "<?php namespace Acme\\Base; class Version { const V = '1.0.0'; }"})
		upload("acme/base", "1.1.0", autoload, map[string]string{"src/Version.php": "<?php namespace Acme\\Base; class Version { const V = '1.1.0'; }"})
		upload("acme/base", "2.0.0", autoload, map[string]string{"src/Version.php": "<?php namespace Acme\\Base; class Version { const V = '2.0.0'; }"})
		upload("acme/app-lib", "2.0.0", `,"require":{"acme/base":"^1.0"}`, nil)

		g := newGitRepo(t)
		g.commit(map[string]string{
			"composer.json":  `{"name":"acme/widgets","description":"Widgets for everyone","require":{"acme/base":"^1.1"},"extra":{"branch-alias":{"dev-main":"1.2.x-dev"}}}`,
			"src/Widget.php": "<?php // v1.0.0",
			"tests/Big.php":  "<?php // excluded",
			".gitattributes": "/tests export-ignore\n",
		})
		g.git("tag", "v1.0.0")
		g.commit(map[string]string{"src/Widget.php": "<?php // main"})
		_, _, err := s.svc.AddSource(ctx, "acme", SourceInput{URL: "file://" + g.dir})
		require.NoError(t, err)
		_, err = s.svc.Sync(ctx, "acme", "")
		require.NoError(t, err)

		// require + update across packages with constraints and a branch alias.
		ce := newComposerEnv(t, u.Host, read)
		dir := project(t, repoURL, map[string]string{"acme/app-lib": "^2.0", "acme/widgets": "1.2.x-dev"})
		out := ce.must(dir, "update", "-vvv")
		require.Contains(t, out, "~dev.json", "the dev file was fetched for 1.2.x-dev")
		lock := lockVersions(t, dir)
		require.Equal(t, "1.1.0", lock["acme/base"]["version"], "highest 1.x allowed by both ^1.0 and ^1.1")
		require.Equal(t, "2.0.0", lock["acme/app-lib"]["version"])
		require.Equal(t, "dev-main", lock["acme/widgets"]["version"])
		require.Contains(t, out, "alias of acme/widgets (dev-main)")
		v, err := os.ReadFile(filepath.Join(dir, "vendor/acme/base/src/Version.php"))
		require.NoError(t, err)
		require.Contains(t, string(v), "1.1.0")
		_, err = os.Stat(filepath.Join(dir, "vendor/acme/widgets/tests"))
		require.True(t, os.IsNotExist(err), "export-ignore honoured")
		php := exec.Command("php", "-r", `require "vendor/autoload.php"; echo \Acme\Base\Version::V;`)
		php.Dir = dir
		phpOut, err := php.CombinedOutput()
		require.NoError(t, err, string(phpOut))
		require.Equal(t, "1.1.0", string(phpOut), "autoload from the served metadata works")

		// A second update is answered with 304s.
		out = ce.must(dir, "update", "-vvv")
		require.Contains(t, out, "[304] "+repoURL+"/packages.json")
		require.Contains(t, out, "[304] "+repoURL+"/p2/acme/base.json")

		// search and show
		out = ce.must(dir, "search", "widgets")
		require.Contains(t, out, "acme/widgets")
		out = ce.must(dir, "show", "--all", "acme/base")
		require.Contains(t, out, "1.1.0")
		require.Contains(t, out, "2.0.0")

		// A lock file keeps installing after its tag moved.
		ce2 := newComposerEnv(t, u.Host, read)
		dir2 := project(t, repoURL, map[string]string{"acme/widgets": "^1.0"})
		ce2.must(dir2, "update")
		pinned := lockVersions(t, dir2)["acme/widgets"]["dist"].(map[string]any)["reference"]
		g.git("tag", "-f", "v1.0.0")
		_, err = s.svc.Sync(ctx, "acme", "")
		require.NoError(t, err)
		require.NotEqual(t, pinned, s.p2("acme", "acme/widgets", read)["v1.0.0"]["dist"].(map[string]any)["reference"], "the tag moved")
		require.NoError(t, os.RemoveAll(filepath.Join(dir2, "vendor")))
		ce3 := newComposerEnv(t, u.Host, read) // empty cache: the old dist is downloaded
		ce3.must(dir2, "install")
		w, err := os.ReadFile(filepath.Join(dir2, "vendor/acme/widgets/src/Widget.php"))
		require.NoError(t, err)
		require.Contains(t, string(w), "v1.0.0", "installed the locked reference, not the moved tag")

		// Missing and wrong credentials.
		none := newComposerEnv(t, u.Host, "")
		out, err = none.run(project(t, repoURL, map[string]string{"acme/base": "^1.0"}), "update")
		require.Error(t, err)
		require.Contains(t, out, "401")
		wrong := newComposerEnv(t, u.Host, read+"x")
		out, err = wrong.run(project(t, repoURL, map[string]string{"acme/base": "^1.0"}), "update")
		require.Error(t, err, "a wrong token is refused")
		require.Contains(t, out, "401")

		// Downloads were counted through notify-batch.
		ps, err := s.svc.ListPackages(ctx, "acme")
		require.NoError(t, err)
		var baseDownloads int64
		for _, p := range ps {
			if p.Name == "acme/base" {
				for _, v := range p.Versions {
					baseDownloads += v.Downloads
				}
			}
		}
		require.Positive(t, baseDownloads)
	})
}

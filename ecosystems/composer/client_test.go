package composer

import (
	"bytes"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/packyard/packyard/e2e/harness"
	"github.com/packyard/packyard/pkg/metadata"
)

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
		u, _ := url.Parse(s.url)
		repoURL := s.url + "/composer/acme"

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

		g := harness.GitRepo(t)
		g.Commit(map[string]string{
			"composer.json":  `{"name":"acme/widgets","description":"Widgets for everyone","require":{"acme/base":"^1.1"},"extra":{"branch-alias":{"dev-main":"1.2.x-dev"}}}`,
			"src/Widget.php": "<?php // v1.0.0",
			"tests/Big.php":  "<?php // excluded",
			".gitattributes": "/tests export-ignore\n",
		})
		g.Git("tag", "v1.0.0")
		g.Commit(map[string]string{"src/Widget.php": "<?php // main"})
		_, _, err := s.svc.AddSource(ctx, "acme", SourceInput{URL: "file://" + g.Dir, Operator: true})
		require.NoError(t, err)
		_, err = s.svc.Sync(ctx, "acme", "")
		require.NoError(t, err)

		// require + update across packages with constraints and a branch alias.
		ce := harness.Composer(t, u.Host, read)
		dir := harness.ComposerProject(t, repoURL, map[string]string{"acme/app-lib": "^2.0", "acme/widgets": "1.2.x-dev"})
		out := ce.Must(dir, "update", "-vvv")
		require.Contains(t, out, "~dev.json", "the dev file was fetched for 1.2.x-dev")
		lock := harness.LockedVersions(t, dir)
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
		out = ce.Must(dir, "update", "-vvv")
		require.Contains(t, out, "[304] "+repoURL+"/packages.json")
		require.Contains(t, out, "[304] "+repoURL+"/p2/acme/base.json")

		// search and show
		out = ce.Must(dir, "search", "widgets")
		require.Contains(t, out, "acme/widgets")
		out = ce.Must(dir, "show", "--all", "acme/base")
		require.Contains(t, out, "1.1.0")
		require.Contains(t, out, "2.0.0")

		// A lock file keeps installing after its tag moved.
		ce2 := harness.Composer(t, u.Host, read)
		dir2 := harness.ComposerProject(t, repoURL, map[string]string{"acme/widgets": "^1.0"})
		ce2.Must(dir2, "update")
		pinned := harness.LockedVersions(t, dir2)["acme/widgets"]["dist"].(map[string]any)["reference"]
		g.Git("tag", "-f", "v1.0.0")
		_, err = s.svc.Sync(ctx, "acme", "")
		require.NoError(t, err)
		require.NotEqual(t, pinned, s.p2("acme", "acme/widgets", read)["v1.0.0"]["dist"].(map[string]any)["reference"], "the tag moved")
		require.NoError(t, os.RemoveAll(filepath.Join(dir2, "vendor")))
		ce3 := harness.Composer(t, u.Host, read) // empty cache: the old dist is downloaded
		ce3.Must(dir2, "install")
		w, err := os.ReadFile(filepath.Join(dir2, "vendor/acme/widgets/src/Widget.php"))
		require.NoError(t, err)
		require.Contains(t, string(w), "v1.0.0", "installed the locked reference, not the moved tag")

		// Missing and wrong credentials.
		none := harness.Composer(t, u.Host, "")
		out, err = none.Run(harness.ComposerProject(t, repoURL, map[string]string{"acme/base": "^1.0"}), "update")
		require.Error(t, err)
		require.Contains(t, out, "401")
		wrong := harness.Composer(t, u.Host, read+"x")
		out, err = wrong.Run(harness.ComposerProject(t, repoURL, map[string]string{"acme/base": "^1.0"}), "update")
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

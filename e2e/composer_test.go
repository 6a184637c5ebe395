package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/packyard/packyard/e2e/harness"
)

const utilPHP = `<?php
namespace Acme\Util;
final class Greeter { public static function hello(): string { return "hello from util"; } }
`

const appPHP = `<?php
namespace Acme\App;
final class App { public static function run(): string { return \Acme\Util\Greeter::hello() . " via app %s"; } }
`

// The packyard binary serves private packages from an upload (with curl,
// exactly as documented) and from a git repository registered with the CLI
// to the real composer client; a restart loses nothing; a lock file keeps
// installing after its tag moved.
func TestComposerEndToEnd(t *testing.T) {
	curl := harness.Tool(t, "curl")
	for _, backend := range harness.Backends {
		t.Run(string(backend), func(t *testing.T) {
			in := harness.Start(t, harness.Options{Backend: backend})
			write := in.Token("acme", "write")
			read := in.MustCLI("token", "create", "--org", "acme", "--scope", "read")
			repoURL := in.URL + "/composer/acme"

			// Upload acme/util 1.0.0 with curl, as the documentation says.
			zipPath := harness.ZipPackage(t, map[string]string{
				"composer.json":   `{"name": "acme/util", "type": "library", "autoload": {"psr-4": {"Acme\\Util\\": "src/"}}}`,
				"src/Greeter.php": utilPHP,
			})
			upload := func(token, version string) (string, error) {
				out, err := exec.Command(curl, "-sS", "--fail-with-body", "--user", "token:"+token, "--upload-file", zipPath,
					repoURL+"/upload?version="+version).CombinedOutput()
				return string(out), err
			}
			out, err := upload(write, "1.0.0")
			require.NoError(t, err, out)
			out, err = upload(write, "1.0.0")
			require.Error(t, err, "versions are immutable")
			require.Contains(t, out, "1.0.0")
			out, err = upload(read, "1.0.1")
			require.Error(t, err, "a read token cannot publish: %s", out)

			// acme/app from git, registered and synced by the CLI.
			g := harness.GitRepo(t)
			g.Commit(map[string]string{
				"composer.json": `{"name": "acme/app", "require": {"acme/util": "^1.0"}, "autoload": {"psr-4": {"Acme\\App\\": "src/"}}}`,
				"src/App.php":   fmt.Sprintf(appPHP, "1.0"),
			})
			g.Git("tag", "v1.0.0")
			in.MustCLI("composer", "add-vcs", "--org", "acme", "--url", "file://"+g.Dir)
			var listed any
			require.NoError(t, json.Unmarshal([]byte(in.MustCLI("composer", "list", "--org", "acme", "--json")), &listed))
			require.Contains(t, fmt.Sprint(listed), "acme/app")
			require.Contains(t, fmt.Sprint(listed), "acme/util")
			_, stderr, err := in.CLI("composer", "add-vcs", "--org", "acme", "--url", "file://"+filepath.Join(t.TempDir(), "missing"))
			require.Error(t, err, "a source whose first sync fails is refused")
			require.NotEmpty(t, stderr)

			// Install with the real client.
			c := harness.Composer(t, in.Host, read)
			dir := harness.ComposerProject(t, repoURL, map[string]string{"acme/app": "^1.0"})
			c.Must(dir, "update")
			require.FileExists(t, filepath.Join(dir, "vendor/acme/util/src/Greeter.php"))
			run := exec.Command("php", "-r", `require "vendor/autoload.php"; echo \Acme\App\App::run();`)
			run.Dir = dir
			phpOut, err := run.CombinedOutput()
			require.NoError(t, err, string(phpOut))
			require.Equal(t, "hello from util via app 1.0", string(phpOut))
			locked := harness.LockedRefs(t, dir)

			// Move the tag, sync, restart: the old lock file still installs
			// its locked reference from an empty cache.
			g.Commit(map[string]string{"src/App.php": fmt.Sprintf(appPHP, "1.0-moved")})
			g.Git("tag", "-f", "v1.0.0")
			in.MustCLI("composer", "sync", "--org", "acme")
			in.Restart()
			require.NoError(t, os.RemoveAll(filepath.Join(dir, "vendor")))
			fresh := harness.Composer(t, in.Host, read)
			fresh.Must(dir, "install")
			require.Equal(t, locked, harness.LockedRefs(t, dir))
			run = exec.Command("php", "-r", `require "vendor/autoload.php"; echo \Acme\App\App::run();`)
			run.Dir = dir
			phpOut, err = run.CombinedOutput()
			require.NoError(t, err, string(phpOut))
			require.Equal(t, "hello from util via app 1.0", string(phpOut), "the locked reference, not the moved tag")

			// Without credentials composer is refused.
			anon := harness.Composer(t, in.Host, "")
			out, err = anon.Run(harness.ComposerProject(t, repoURL, map[string]string{"acme/app": "^1.0"}), "update")
			require.Error(t, err)
			require.Contains(t, out, "401")
		})
	}
}

package e2e

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/packyard/packyard/e2e/harness"
)

// composerClient runs the real composer binary with its own home and cache.
type composerClient struct {
	t     *testing.T
	bin   string
	home  string
	cache string
	auth  string
}

func newComposer(t *testing.T, in *harness.Instance, token string) *composerClient {
	c := &composerClient{t: t, bin: harness.Tool(t, "composer"), home: t.TempDir(), cache: t.TempDir()}
	if token != "" {
		b, _ := json.Marshal(map[string]any{"http-basic": map[string]any{in.Host: map[string]string{"username": "token", "password": token}}})
		c.auth = string(b)
	}
	return c
}

func (c *composerClient) run(dir string, args ...string) (string, error) {
	cmd := exec.Command(c.bin, append(args, "--no-interaction", "--no-ansi")...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "COMPOSER_HOME="+c.home, "COMPOSER_CACHE_DIR="+c.cache, "COMPOSER_ALLOW_SUPERUSER=1",
		"COMPOSER_NO_INTERACTION=1", "COMPOSER_AUTH="+c.auth)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

func (c *composerClient) must(dir string, args ...string) string {
	c.t.Helper()
	out, err := c.run(dir, args...)
	require.NoError(c.t, err, "composer %s:\n%s", strings.Join(args, " "), out)
	return out
}

func composerProject(t *testing.T, repoURL string, req map[string]string) string {
	dir := t.TempDir()
	b, _ := json.MarshalIndent(map[string]any{
		"name":         "test/consumer",
		"repositories": []any{map[string]string{"type": "composer", "url": repoURL}, map[string]bool{"packagist": false}},
		"require":      req,
		"config":       map[string]any{"secure-http": false},
	}, "", "  ")
	require.NoError(t, os.WriteFile(filepath.Join(dir, "composer.json"), b, 0o644))
	return dir
}

func lockedRefs(t *testing.T, dir string) map[string]string {
	b, err := os.ReadFile(filepath.Join(dir, "composer.lock"))
	require.NoError(t, err)
	var lock struct {
		Packages []struct {
			Name    string `json:"name"`
			Version string `json:"version"`
			Dist    struct {
				Reference string `json:"reference"`
			} `json:"dist"`
		} `json:"packages"`
	}
	require.NoError(t, json.Unmarshal(b, &lock))
	out := map[string]string{}
	for _, p := range lock.Packages {
		out[p.Name] = p.Version + "@" + p.Dist.Reference
	}
	return out
}

// zipPackage writes a package zip (one top-level directory, as GitHub makes them).
func zipPackage(t *testing.T, files map[string]string) string {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for name, content := range files {
		w, err := zw.Create("pkg/" + name)
		require.NoError(t, err)
		_, _ = w.Write([]byte(content))
	}
	require.NoError(t, zw.Close())
	p := filepath.Join(t.TempDir(), "pkg.zip")
	require.NoError(t, os.WriteFile(p, buf.Bytes(), 0o644))
	return p
}

type gitRepo struct {
	t   *testing.T
	dir string
	n   int
}

func newGit(t *testing.T) *gitRepo {
	harness.Tool(t, "git")
	g := &gitRepo{t: t, dir: t.TempDir()}
	g.git("init", "-q", "-b", "main")
	return g
}

func (g *gitRepo) git(args ...string) string {
	g.t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = g.dir
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com", "GIT_COMMITTER_NAME=t",
		"GIT_COMMITTER_EMAIL=t@example.com", "GIT_CONFIG_NOSYSTEM=1", "HOME="+g.dir)
	out, err := cmd.CombinedOutput()
	require.NoError(g.t, err, "git %s: %s", strings.Join(args, " "), out)
	return strings.TrimSpace(string(out))
}

func (g *gitRepo) commit(files map[string]string) string {
	g.t.Helper()
	g.n++
	for p, c := range files {
		full := filepath.Join(g.dir, p)
		require.NoError(g.t, os.MkdirAll(filepath.Dir(full), 0o755))
		require.NoError(g.t, os.WriteFile(full, []byte(c), 0o644))
	}
	g.git("add", "-A")
	g.git("commit", "-q", "-m", fmt.Sprintf("change %d", g.n))
	return g.git("rev-parse", "HEAD")
}

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
			zipPath := zipPackage(t, map[string]string{
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
			g := newGit(t)
			g.commit(map[string]string{
				"composer.json": `{"name": "acme/app", "require": {"acme/util": "^1.0"}, "autoload": {"psr-4": {"Acme\\App\\": "src/"}}}`,
				"src/App.php":   fmt.Sprintf(appPHP, "1.0"),
			})
			g.git("tag", "v1.0.0")
			in.MustCLI("composer", "add-vcs", "--org", "acme", "--url", "file://"+g.dir)
			var listed any
			require.NoError(t, json.Unmarshal([]byte(in.MustCLI("composer", "list", "--org", "acme", "--json")), &listed))
			require.Contains(t, fmt.Sprint(listed), "acme/app")
			require.Contains(t, fmt.Sprint(listed), "acme/util")
			_, stderr, err := in.CLI("composer", "add-vcs", "--org", "acme", "--url", "file://"+filepath.Join(t.TempDir(), "missing"))
			require.Error(t, err, "a source whose first sync fails is refused")
			require.NotEmpty(t, stderr)

			// Install with the real client.
			c := newComposer(t, in, read)
			dir := composerProject(t, repoURL, map[string]string{"acme/app": "^1.0"})
			c.must(dir, "update")
			require.FileExists(t, filepath.Join(dir, "vendor/acme/util/src/Greeter.php"))
			run := exec.Command("php", "-r", `require "vendor/autoload.php"; echo \Acme\App\App::run();`)
			run.Dir = dir
			phpOut, err := run.CombinedOutput()
			require.NoError(t, err, string(phpOut))
			require.Equal(t, "hello from util via app 1.0", string(phpOut))
			locked := lockedRefs(t, dir)

			// Move the tag, sync, restart: the old lock file still installs
			// its locked reference from an empty cache.
			g.commit(map[string]string{"src/App.php": fmt.Sprintf(appPHP, "1.0-moved")})
			g.git("tag", "-f", "v1.0.0")
			in.MustCLI("composer", "sync", "--org", "acme")
			in.Restart()
			require.NoError(t, os.RemoveAll(filepath.Join(dir, "vendor")))
			fresh := newComposer(t, in, read)
			fresh.must(dir, "install")
			require.Equal(t, locked, lockedRefs(t, dir))
			run = exec.Command("php", "-r", `require "vendor/autoload.php"; echo \Acme\App\App::run();`)
			run.Dir = dir
			phpOut, err = run.CombinedOutput()
			require.NoError(t, err, string(phpOut))
			require.Equal(t, "hello from util via app 1.0", string(phpOut), "the locked reference, not the moved tag")

			// Without credentials composer is refused.
			anon := newComposer(t, in, "")
			out, err = anon.run(composerProject(t, repoURL, map[string]string{"acme/app": "^1.0"}), "update")
			require.Error(t, err)
			require.Contains(t, out, "401")
		})
	}
}

package harness

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// ComposerClient runs the real composer client with its own home and cache.
type ComposerClient struct {
	t     testing.TB
	bin   string
	home  string
	cache string
	auth  string // COMPOSER_AUTH
}

// Composer returns a composer client with a fresh home and cache that
// sends token (as HTTP Basic, user "token") to host (HOST:PORT); an empty
// token sends no credentials.
func Composer(t testing.TB, host, token string) *ComposerClient {
	t.Helper()
	c := &ComposerClient{t: t, bin: Tool(t, "composer"), home: t.TempDir(), cache: t.TempDir()}
	if token != "" {
		b, err := json.Marshal(map[string]any{"http-basic": map[string]any{host: map[string]string{"username": "token", "password": token}}})
		require.NoError(t, err)
		c.auth = string(b)
	}
	return c
}

// Run runs composer ARGS in dir, without interaction or colours, and
// returns its combined output.
func (c *ComposerClient) Run(dir string, args ...string) (string, error) {
	cmd := exec.Command(c.bin, append(args, "--no-interaction", "--no-ansi")...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "COMPOSER_HOME="+c.home, "COMPOSER_CACHE_DIR="+c.cache, "COMPOSER_ALLOW_SUPERUSER=1",
		"COMPOSER_NO_INTERACTION=1", "COMPOSER_AUTH="+c.auth, "COMPOSER_DISABLE_XDEBUG_WARN=1")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

// Must is Run that fails the test when composer fails.
func (c *ComposerClient) Must(dir string, args ...string) string {
	c.t.Helper()
	out, err := c.Run(dir, args...)
	require.NoError(c.t, err, "composer %s:\n%s", strings.Join(args, " "), out)
	return out
}

// ComposerProject writes a composer.json that requires req (name →
// constraint) from the repository at repoURL only, over plain HTTP too, and
// returns its directory.
func ComposerProject(t testing.TB, repoURL string, req map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	b, err := json.MarshalIndent(map[string]any{
		"name":              "test/consumer",
		"repositories":      []any{map[string]string{"type": "composer", "url": repoURL}, map[string]bool{"packagist": false}},
		"require":           req,
		"config":            map[string]any{"secure-http": false},
		"minimum-stability": "stable",
	}, "", "  ")
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "composer.json"), b, 0o644))
	return dir
}

// LockedVersions reads dir's composer.lock: each locked package by name.
func LockedVersions(t testing.TB, dir string) map[string]map[string]any {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "composer.lock"))
	require.NoError(t, err)
	var lock struct {
		Packages []map[string]any `json:"packages"`
	}
	require.NoError(t, json.Unmarshal(b, &lock))
	out := map[string]map[string]any{}
	for _, p := range lock.Packages {
		name, _ := p["name"].(string)
		out[name] = p
	}
	return out
}

// LockedRefs reads dir's composer.lock as name → "version@dist reference".
func LockedRefs(t testing.TB, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for name, p := range LockedVersions(t, dir) {
		version, _ := p["version"].(string)
		dist, _ := p["dist"].(map[string]any)
		ref, _ := dist["reference"].(string)
		out[name] = version + "@" + ref
	}
	return out
}

// ZipPackage writes a package archive with files (path → content) under one
// top-level directory, as GitHub makes them, and returns its path.
func ZipPackage(t testing.TB, files map[string]string) string {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for name, content := range files {
		w, err := zw.Create("pkg/" + name)
		require.NoError(t, err)
		_, err = w.Write([]byte(content))
		require.NoError(t, err)
	}
	require.NoError(t, zw.Close())
	p := filepath.Join(t.TempDir(), "pkg.zip")
	require.NoError(t, os.WriteFile(p, buf.Bytes(), 0o644))
	return p
}

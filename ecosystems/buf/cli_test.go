package buf

import (
	"bytes"
	"context"
	"encoding/pem"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/packyard/packyard/auth"
	"github.com/packyard/packyard/pkg/errs"
	"github.com/packyard/packyard/pkg/metadata"
	"github.com/packyard/packyard/pkg/testenv"
)

// bufBinary finds the real buf CLI; tests that need it skip without it
// unless PACKYARD_TEST_REQUIRE_SERVICES=1.
func bufBinary(t testing.TB) string {
	t.Helper()
	if p, err := exec.LookPath("buf"); err == nil {
		return p
	}
	if gp, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
		p := filepath.Join(strings.TrimSpace(string(gp)), "bin", "buf")
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if testenv.Required() {
		t.Fatal("the buf CLI is not installed (go install github.com/bufbuild/buf/cmd/buf@v1.75.0)")
	}
	t.Skip("the buf CLI is not installed")
	return ""
}

// bufCLI runs the real buf binary with a private home, cache, config and netrc.
type bufCLI struct {
	t      testing.TB
	bin    string
	root   string
	host   string
	env    []string
	token  string // BUF_TOKEN, when set
	cache  string
	useTLS bool
}

func newBufCLI(t testing.TB, host string, caFile string) *bufCLI {
	t.Helper()
	root := t.TempDir()
	cfg := filepath.Join(root, "config")
	require.NoError(t, os.MkdirAll(cfg, 0o755))
	if caFile == "" {
		require.NoError(t, os.WriteFile(filepath.Join(cfg, "config.yaml"), []byte("version: v1\ntls:\n  use: false\n"), 0o644))
	}
	c := &bufCLI{t: t, bin: bufBinary(t), root: root, host: host, cache: filepath.Join(root, "cache"), useTLS: caFile != ""}
	c.env = []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + filepath.Join(root, "home"),
		"NETRC=" + filepath.Join(root, "netrc"),
		"BUF_CONFIG_DIR=" + cfg,
		"BUF_ALPHA_SUPPRESS_WARNINGS=1",
		"BUF_BETA_SUPPRESS_WARNINGS=1",
	}
	if caFile != "" {
		c.env = append(c.env, "SSL_CERT_FILE="+caFile)
	}
	return c
}

// run runs buf in dir and returns stdout; it fails the test on error.
func (c *bufCLI) run(dir string, args ...string) string {
	c.t.Helper()
	out, errOut, err := c.try(dir, "", args...)
	require.NoError(c.t, err, "buf %s\nstdout: %s\nstderr: %s", strings.Join(args, " "), out, errOut)
	return out
}

// try runs buf and returns stdout, stderr and the error.
func (c *bufCLI) try(dir, stdin string, args ...string) (string, string, error) {
	cmd := exec.Command(c.bin, args...)
	cmd.Dir = dir
	cmd.Env = append(append([]string(nil), c.env...), "BUF_CACHE_DIR="+c.cache)
	if c.token != "" {
		cmd.Env = append(cmd.Env, "BUF_TOKEN="+c.token)
	}
	cmd.Stdin = strings.NewReader(stdin)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	return out.String(), errOut.String(), err
}

// freshCache makes the next commands start with an empty module cache.
func (c *bufCLI) freshCache() { c.cache = filepath.Join(c.t.TempDir(), "cache") }

// workspace writes files under a new directory, replacing HOST in them.
func (c *bufCLI) workspace(files map[string]string) string {
	c.t.Helper()
	dir := c.t.TempDir()
	for p, s := range files {
		full := filepath.Join(dir, p)
		require.NoError(c.t, os.MkdirAll(filepath.Dir(full), 0o755))
		require.NoError(c.t, os.WriteFile(full, []byte(strings.ReplaceAll(s, "HOST", c.host)), 0o644))
	}
	return dir
}

func readFile(t testing.TB, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return string(b)
}

var commitIDRE = regexp.MustCompile(`[0-9a-f]{32}`)

func lastCommitID(t testing.TB, out string) string {
	t.Helper()
	ids := commitIDRE.FindAllString(out, -1)
	require.NotEmpty(t, ids, "no commit id in %q", out)
	return ids[len(ids)-1]
}

// tlsEnv serves the registry over TLS with httptest's certificate (SAN
// 127.0.0.1) and returns the CA file to trust.
func tlsEnv(t *testing.T, e *env) (host, caFile string) {
	handler := e.srv.Config.Handler
	srv := httptest.NewUnstartedServer(handler)
	srv.StartTLS()
	t.Cleanup(srv.Close)
	caFile = filepath.Join(t.TempDir(), "ca.pem")
	require.NoError(t, os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o644))
	return strings.TrimPrefix(srv.URL, "https://"), caFile
}

func testCLI(t *testing.T, dialect string, useTLS bool) {
	e := newEnv(t, dialect, DefaultConfig())
	ctx := context.Background()
	writeTok := e.org("acme", false, metadata.RoleWrite)
	host, caFile := strings.TrimPrefix(e.srv.URL, "http://"), ""
	if useTLS {
		host, caFile = tlsEnv(t, e)
	}
	c := newBufCLI(t, host, caFile)

	// Token login writes the netrc; whoami reads it.
	out, errOut, err := c.try(c.root, writeTok+"\n", "registry", "login", host, "--token-stdin")
	require.NoError(t, err, "%s %s", out, errOut)
	require.Contains(t, readFile(t, filepath.Join(c.root, "netrc")), "machine "+host)
	require.Contains(t, c.run(c.root, "registry", "whoami", host), "acme-bot")

	// v1 module base, pushed twice.
	baseDir := c.workspace(map[string]string{
		"buf.yaml":           "version: v1\nname: HOST/acme/base\n",
		"base/v1/base.proto": "syntax = \"proto3\";\npackage base.v1;\nmessage Id { string value = 1; }\n",
		"README.md":          "# base\n",
	})
	b1 := lastCommitID(t, c.run(baseDir, "push", "--create"))
	require.Contains(t, c.run(c.root, "registry", "module", "info", host+"/acme/base", "--format", "json"), `"name":"base"`)
	require.Equal(t, VisibilityPrivate, e.module(t, "acme", "base").Visibility, "push --create makes private modules by default")

	// left depends on base b1 (v1 workspace).
	leftDir := c.workspace(map[string]string{
		"buf.yaml":   "version: v1\nname: HOST/acme/left\ndeps:\n  - HOST/acme/base\n",
		"left.proto": "syntax = \"proto3\";\npackage left;\nimport \"base/v1/base.proto\";\nmessage Left { base.v1.Id id = 1; }\n",
	})
	c.run(leftDir, "dep", "update")
	require.Contains(t, readFile(t, filepath.Join(leftDir, "buf.lock")), b1)
	c.run(leftDir, "push", "--create")

	// base b2, then right depends on b2.
	require.NoError(t, os.WriteFile(filepath.Join(baseDir, "base/v1/base.proto"),
		[]byte("syntax = \"proto3\";\npackage base.v1;\nmessage Id { string value = 1; string kind = 2; }\n"), 0o644))
	b2 := lastCommitID(t, c.run(baseDir, "push"))
	require.NotEqual(t, b1, b2)
	rightDir := c.workspace(map[string]string{
		"buf.yaml":    "version: v1\nname: HOST/acme/right\ndeps:\n  - HOST/acme/base\n",
		"right.proto": "syntax = \"proto3\";\npackage right;\nimport \"base/v1/base.proto\";\nmessage Right { base.v1.Id id = 1; }\n",
	})
	c.run(rightDir, "dep", "update")
	c.run(rightDir, "push", "--create")

	// A v1 consumer of the diamond: base resolves to the newer commit and
	// the CLI verifies every B4 digest on build.
	c.freshCache()
	consumer := c.workspace(map[string]string{
		"buf.yaml":  "version: v1\ndeps:\n  - HOST/acme/left\n  - HOST/acme/right\n",
		"app.proto": "syntax = \"proto3\";\npackage app;\nimport \"left.proto\";\nimport \"right.proto\";\nmessage App { left.Left l = 1; right.Right r = 2; }\n",
	})
	c.run(consumer, "dep", "update")
	lock := readFile(t, filepath.Join(consumer, "buf.lock"))
	require.Contains(t, lock, b2)
	require.NotContains(t, lock, b1)
	require.Regexp(t, `digest: shake256:[0-9a-f]{128}`, lock)
	c.run(consumer, "build")

	// v2 multi-module workspace with a remote dependency and a label.
	c.freshCache()
	v2 := c.workspace(map[string]string{
		"buf.yaml":                      "version: v2\nmodules:\n  - path: common\n    name: HOST/acme/common\n  - path: svc\n    name: HOST/acme/svc\ndeps:\n  - HOST/acme/base\n",
		"common/common/v1/common.proto": "syntax = \"proto3\";\npackage common.v1;\nmessage Page { int32 size = 1; }\n",
		"svc/svc/v1/svc.proto": "syntax = \"proto3\";\npackage svc.v1;\nimport \"common/v1/common.proto\";\nimport \"base/v1/base.proto\";\n" +
			"message Req { common.v1.Page page = 1; base.v1.Id id = 2; }\n",
	})
	c.run(v2, "dep", "update")
	require.Regexp(t, `digest: b5:[0-9a-f]{128}`, readFile(t, filepath.Join(v2, "buf.lock")))
	// Public modules need an admin token: a write token is refused and
	// creates nothing.
	_, errOut, err = c.try(v2, "", "push", "--create", "--create-visibility", "public", "--label", "v1")
	require.Error(t, err)
	require.Contains(t, errOut, "permission_denied")
	require.Contains(t, errOut, "public modules need an admin token")
	for _, m := range []string{"common", "svc"} {
		_, err = e.svc.st.moduleByName(ctx, e.module(t, "acme", "base").OwnerID, m)
		require.ErrorIs(t, err, errs.ErrNotFound, "nothing was created")
	}
	c.token = e.token("acme", metadata.RoleAdmin)
	pushed := c.run(v2, "push", "--create", "--create-visibility", "public", "--label", "v1")
	c.token = ""
	require.Equal(t, VisibilityPublic, e.module(t, "acme", "svc").Visibility)
	require.Contains(t, pushed, host+"/acme/svc:")
	require.Contains(t, c.run(c.root, "registry", "module", "label", "list", host+"/acme/svc"), "v1")

	// A v2 consumer of svc (B5 verified on build), pinned by label.
	c.freshCache()
	v2c := c.workspace(map[string]string{
		"buf.yaml":  "version: v2\ndeps:\n  - HOST/acme/svc:v1\n",
		"use.proto": "syntax = \"proto3\";\npackage use;\nimport \"svc/v1/svc.proto\";\nmessage Use { svc.v1.Req r = 1; }\n",
	})
	c.run(v2c, "dep", "update")
	lock = readFile(t, filepath.Join(v2c, "buf.lock"))
	require.Contains(t, lock, "name: "+host+"/acme/common")
	require.Contains(t, lock, "name: "+host+"/acme/base")
	c.run(v2c, "build")

	// A v2 pin by commit keeps the old base.
	c.freshCache()
	pin := c.workspace(map[string]string{
		"buf.yaml":  "version: v2\ndeps:\n  - HOST/acme/base:" + b1 + "\n",
		"pin.proto": "syntax = \"proto3\";\npackage pin;\nimport \"base/v1/base.proto\";\nmessage Pin { base.v1.Id id = 1; }\n",
	})
	c.run(pin, "dep", "update")
	require.Contains(t, readFile(t, filepath.Join(pin, "buf.lock")), "commit: "+b1)
	c.run(pin, "build")

	// Remote references: build and export by label and by commit.
	c.freshCache()
	c.run(c.root, "build", host+"/acme/svc:v1")
	out = filepath.Join(t.TempDir(), "export")
	c.run(c.root, "export", host+"/acme/base:"+b1, "-o", out)
	require.Contains(t, readFile(t, filepath.Join(out, "base/v1/base.proto")), "message Id { string value = 1; }")

	// Commits and labels.
	require.Contains(t, c.run(c.root, "registry", "module", "commit", "resolve", host+"/acme/base:"+b1), b1)
	require.Contains(t, c.run(c.root, "registry", "module", "commit", "info", host+"/acme/base:"+b2), b2)
	c.run(c.root, "registry", "module", "commit", "add-label", host+"/acme/base:"+b1, "--label", "stable")
	require.Contains(t, c.run(c.root, "registry", "module", "label", "info", host+"/acme/base:stable"), b1)
	list := c.run(c.root, "registry", "module", "commit", "list", host+"/acme/base")
	require.Contains(t, list, b1)
	require.Contains(t, list, b2)
	c.run(c.root, "registry", "module", "label", "archive", host+"/acme/base:stable")
	require.NotContains(t, c.run(c.root, "registry", "module", "label", "list", host+"/acme/base"), "stable")
	c.run(c.root, "registry", "module", "label", "unarchive", host+"/acme/base:stable")
	require.Contains(t, c.run(c.root, "registry", "module", "label", "list", host+"/acme/base"), "stable")

	// Module settings, deprecation, deletion.
	c.run(c.root, "registry", "module", "create", host+"/acme/scratch", "--visibility", "private")
	_, errOut, err = c.try(c.root, "", "registry", "module", "create", host+"/acme/scratch", "--visibility", "private")
	require.Error(t, err)
	require.Contains(t, errOut, "already exists")
	_, errOut, err = c.try(c.root, "", "registry", "module", "settings", "update", host+"/acme/scratch", "--default-label-name", "trunk")
	require.Error(t, err)
	require.Contains(t, errOut, "permission_denied", "the default label needs admin rights")
	admin := e.token("acme", metadata.RoleAdmin)
	c.token = admin
	c.run(c.root, "registry", "module", "settings", "update", host+"/acme/scratch", "--description", "scratch space", "--default-label-name", "trunk")
	c.token = ""
	info := c.run(c.root, "registry", "module", "info", host+"/acme/scratch", "--format", "json")
	require.Contains(t, info, `"default_label_name":"trunk"`)
	require.Equal(t, "scratch space", e.module(t, "acme", "scratch").Description)
	c.run(c.root, "registry", "module", "deprecate", host+"/acme/scratch")
	require.Contains(t, c.run(c.root, "registry", "module", "info", host+"/acme/scratch", "--format", "json"), "MODULE_STATE_DEPRECATED")
	c.run(c.root, "registry", "module", "undeprecate", host+"/acme/scratch")
	_, errOut, err = c.try(c.root, "", "registry", "module", "delete", host+"/acme/scratch", "--force")
	require.Error(t, err, "a write token cannot delete")
	require.Contains(t, errOut, "permission_denied")
	c.token = admin
	c.run(c.root, "registry", "module", "delete", host+"/acme/scratch", "--force")
	c.token = ""
	_, errOut, err = c.try(c.root, "", "registry", "module", "info", host+"/acme/scratch")
	require.Error(t, err)
	require.Contains(t, errOut, "does not exist")

	// Organizations need a site administrator.
	_, err = e.admin.CreateUser(ctx, "root", true)
	require.NoError(t, err)
	rootTok, _, err := e.admin.CreateToken(ctx, auth.CreateTokenRequest{Org: "acme", Scope: metadata.RoleAdmin, User: "root"})
	require.NoError(t, err)
	c.token = rootTok
	c.run(c.root, "registry", "organization", "create", host+"/neworg")
	require.Contains(t, c.run(c.root, "registry", "organization", "info", host+"/neworg"), "neworg")
	c.run(c.root, "registry", "organization", "delete", host+"/neworg", "--force")
	c.token = ""

	// Anonymous push fails; another organization cannot see acme's private modules.
	anon := newBufCLI(t, host, caFile)
	_, errOut, err = anon.try(baseDir, "", "push")
	require.Error(t, err)
	require.NotContains(t, errOut, "internal")
	other := newBufCLI(t, host, caFile)
	other.token = e.org("other", false, metadata.RoleWrite)
	_, errOut, err = other.try(c.root, "", "registry", "module", "info", host+"/acme/base")
	require.Error(t, err)
	require.Contains(t, errOut, "does not exist")
}

func TestCLIPlainSQLite(t *testing.T) { testCLI(t, "sqlite", false) }
func TestCLITLSPostgres(t *testing.T) { testCLI(t, "postgres", true) }

// module reads a module's stored record.
func (e *env) module(t testing.TB, owner, name string) ModuleRecord {
	t.Helper()
	o, err := e.svc.ownerByName(context.Background(), owner)
	require.NoError(t, err)
	m, err := e.svc.st.moduleByName(context.Background(), o.ID, name)
	require.NoError(t, err)
	return m
}

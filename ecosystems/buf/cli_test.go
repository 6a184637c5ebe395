package buf

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/packyard/packyard/auth"
	"github.com/packyard/packyard/e2e/harness"
	"github.com/packyard/packyard/pkg/errs"
	"github.com/packyard/packyard/pkg/metadata"
)

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

func testCLI(t *testing.T, dialect string, useTLS bool) {
	e := startEnv(t, dialect, DefaultConfig(), useTLS)
	ctx := context.Background()
	writeTok := e.org("acme", false, metadata.RoleWrite)
	host, caFile := e.k.Host, e.k.CAFile
	c := harness.Buf(t, host, caFile)

	// Token login writes the netrc; whoami reads it.
	out, errOut, err := c.Try(c.Root, writeTok+"\n", "registry", "login", host, "--token-stdin")
	require.NoError(t, err, "%s %s", out, errOut)
	require.Contains(t, readFile(t, filepath.Join(c.Root, "netrc")), "machine "+host)
	require.Contains(t, c.Run(c.Root, "registry", "whoami", host), "acme-bot")

	// v1 module base, pushed twice.
	baseDir := c.Workspace(map[string]string{
		"buf.yaml":           "version: v1\nname: HOST/acme/base\n",
		"base/v1/base.proto": "syntax = \"proto3\";\npackage base.v1;\nmessage Id { string value = 1; }\n",
		"README.md":          "# base\n",
	})
	b1 := lastCommitID(t, c.Run(baseDir, "push", "--create"))
	require.Contains(t, c.Run(c.Root, "registry", "module", "info", host+"/acme/base", "--format", "json"), `"name":"base"`)
	require.Equal(t, VisibilityPrivate, e.module(t, "acme", "base").Visibility, "push --create makes private modules by default")

	// left depends on base b1 (v1 workspace).
	leftDir := c.Workspace(map[string]string{
		"buf.yaml":   "version: v1\nname: HOST/acme/left\ndeps:\n  - HOST/acme/base\n",
		"left.proto": "syntax = \"proto3\";\npackage left;\nimport \"base/v1/base.proto\";\nmessage Left { base.v1.Id id = 1; }\n",
	})
	c.Run(leftDir, "dep", "update")
	require.Contains(t, readFile(t, filepath.Join(leftDir, "buf.lock")), b1)
	c.Run(leftDir, "push", "--create")

	// base b2, then right depends on b2.
	require.NoError(t, os.WriteFile(filepath.Join(baseDir, "base/v1/base.proto"),
		[]byte("syntax = \"proto3\";\npackage base.v1;\nmessage Id { string value = 1; string kind = 2; }\n"), 0o644))
	b2 := lastCommitID(t, c.Run(baseDir, "push"))
	require.NotEqual(t, b1, b2)
	rightDir := c.Workspace(map[string]string{
		"buf.yaml":    "version: v1\nname: HOST/acme/right\ndeps:\n  - HOST/acme/base\n",
		"right.proto": "syntax = \"proto3\";\npackage right;\nimport \"base/v1/base.proto\";\nmessage Right { base.v1.Id id = 1; }\n",
	})
	c.Run(rightDir, "dep", "update")
	c.Run(rightDir, "push", "--create")

	// A v1 consumer of the diamond: base resolves to the newer commit and
	// the CLI verifies every B4 digest on build.
	c.FreshCache()
	consumer := c.Workspace(map[string]string{
		"buf.yaml":  "version: v1\ndeps:\n  - HOST/acme/left\n  - HOST/acme/right\n",
		"app.proto": "syntax = \"proto3\";\npackage app;\nimport \"left.proto\";\nimport \"right.proto\";\nmessage App { left.Left l = 1; right.Right r = 2; }\n",
	})
	c.Run(consumer, "dep", "update")
	lock := readFile(t, filepath.Join(consumer, "buf.lock"))
	require.Contains(t, lock, b2)
	require.NotContains(t, lock, b1)
	require.Regexp(t, `digest: shake256:[0-9a-f]{128}`, lock)
	c.Run(consumer, "build")

	// v2 multi-module workspace with a remote dependency and a label.
	c.FreshCache()
	v2 := c.Workspace(map[string]string{
		"buf.yaml":                      "version: v2\nmodules:\n  - path: common\n    name: HOST/acme/common\n  - path: svc\n    name: HOST/acme/svc\ndeps:\n  - HOST/acme/base\n",
		"common/common/v1/common.proto": "syntax = \"proto3\";\npackage common.v1;\nmessage Page { int32 size = 1; }\n",
		"svc/svc/v1/svc.proto": "syntax = \"proto3\";\npackage svc.v1;\nimport \"common/v1/common.proto\";\nimport \"base/v1/base.proto\";\n" +
			"message Req { common.v1.Page page = 1; base.v1.Id id = 2; }\n",
	})
	c.Run(v2, "dep", "update")
	require.Regexp(t, `digest: b5:[0-9a-f]{128}`, readFile(t, filepath.Join(v2, "buf.lock")))
	// Public modules need an admin token: a write token is refused and
	// creates nothing.
	_, errOut, err = c.Try(v2, "", "push", "--create", "--create-visibility", "public", "--label", "v1")
	require.Error(t, err)
	require.Contains(t, errOut, "permission_denied")
	require.Contains(t, errOut, "public modules need an admin token")
	for _, m := range []string{"common", "svc"} {
		_, err = e.svc.st.moduleByName(ctx, e.module(t, "acme", "base").OwnerID, m)
		require.ErrorIs(t, err, errs.ErrNotFound, "nothing was created")
	}
	c.Token = e.token("acme", metadata.RoleAdmin)
	pushed := c.Run(v2, "push", "--create", "--create-visibility", "public", "--label", "v1")
	c.Token = ""
	require.Equal(t, VisibilityPublic, e.module(t, "acme", "svc").Visibility)
	require.Contains(t, pushed, host+"/acme/svc:")
	require.Contains(t, c.Run(c.Root, "registry", "module", "label", "list", host+"/acme/svc"), "v1")

	// A v2 consumer of svc (B5 verified on build), pinned by label.
	c.FreshCache()
	v2c := c.Workspace(map[string]string{
		"buf.yaml":  "version: v2\ndeps:\n  - HOST/acme/svc:v1\n",
		"use.proto": "syntax = \"proto3\";\npackage use;\nimport \"svc/v1/svc.proto\";\nmessage Use { svc.v1.Req r = 1; }\n",
	})
	c.Run(v2c, "dep", "update")
	lock = readFile(t, filepath.Join(v2c, "buf.lock"))
	require.Contains(t, lock, "name: "+host+"/acme/common")
	require.Contains(t, lock, "name: "+host+"/acme/base")
	c.Run(v2c, "build")

	// A v2 pin by commit keeps the old base.
	c.FreshCache()
	pin := c.Workspace(map[string]string{
		"buf.yaml":  "version: v2\ndeps:\n  - HOST/acme/base:" + b1 + "\n",
		"pin.proto": "syntax = \"proto3\";\npackage pin;\nimport \"base/v1/base.proto\";\nmessage Pin { base.v1.Id id = 1; }\n",
	})
	c.Run(pin, "dep", "update")
	require.Contains(t, readFile(t, filepath.Join(pin, "buf.lock")), "commit: "+b1)
	c.Run(pin, "build")

	// Remote references: build and export by label and by commit.
	c.FreshCache()
	c.Run(c.Root, "build", host+"/acme/svc:v1")
	out = filepath.Join(t.TempDir(), "export")
	c.Run(c.Root, "export", host+"/acme/base:"+b1, "-o", out)
	require.Contains(t, readFile(t, filepath.Join(out, "base/v1/base.proto")), "message Id { string value = 1; }")

	// Commits and labels.
	require.Contains(t, c.Run(c.Root, "registry", "module", "commit", "resolve", host+"/acme/base:"+b1), b1)
	require.Contains(t, c.Run(c.Root, "registry", "module", "commit", "info", host+"/acme/base:"+b2), b2)
	c.Run(c.Root, "registry", "module", "commit", "add-label", host+"/acme/base:"+b1, "--label", "stable")
	require.Contains(t, c.Run(c.Root, "registry", "module", "label", "info", host+"/acme/base:stable"), b1)
	list := c.Run(c.Root, "registry", "module", "commit", "list", host+"/acme/base")
	require.Contains(t, list, b1)
	require.Contains(t, list, b2)
	c.Run(c.Root, "registry", "module", "label", "archive", host+"/acme/base:stable")
	require.NotContains(t, c.Run(c.Root, "registry", "module", "label", "list", host+"/acme/base"), "stable")
	c.Run(c.Root, "registry", "module", "label", "unarchive", host+"/acme/base:stable")
	require.Contains(t, c.Run(c.Root, "registry", "module", "label", "list", host+"/acme/base"), "stable")

	// Module settings, deprecation, deletion.
	c.Run(c.Root, "registry", "module", "create", host+"/acme/scratch", "--visibility", "private")
	_, errOut, err = c.Try(c.Root, "", "registry", "module", "create", host+"/acme/scratch", "--visibility", "private")
	require.Error(t, err)
	require.Contains(t, errOut, "already exists")
	_, errOut, err = c.Try(c.Root, "", "registry", "module", "settings", "update", host+"/acme/scratch", "--default-label-name", "trunk")
	require.Error(t, err)
	require.Contains(t, errOut, "permission_denied", "the default label needs admin rights")
	admin := e.token("acme", metadata.RoleAdmin)
	c.Token = admin
	c.Run(c.Root, "registry", "module", "settings", "update", host+"/acme/scratch", "--description", "scratch space", "--default-label-name", "trunk")
	c.Token = ""
	info := c.Run(c.Root, "registry", "module", "info", host+"/acme/scratch", "--format", "json")
	require.Contains(t, info, `"default_label_name":"trunk"`)
	require.Equal(t, "scratch space", e.module(t, "acme", "scratch").Description)
	c.Run(c.Root, "registry", "module", "deprecate", host+"/acme/scratch")
	require.Contains(t, c.Run(c.Root, "registry", "module", "info", host+"/acme/scratch", "--format", "json"), "MODULE_STATE_DEPRECATED")
	c.Run(c.Root, "registry", "module", "undeprecate", host+"/acme/scratch")
	_, errOut, err = c.Try(c.Root, "", "registry", "module", "delete", host+"/acme/scratch", "--force")
	require.Error(t, err, "a write token cannot delete")
	require.Contains(t, errOut, "permission_denied")
	c.Token = admin
	c.Run(c.Root, "registry", "module", "delete", host+"/acme/scratch", "--force")
	c.Token = ""
	_, errOut, err = c.Try(c.Root, "", "registry", "module", "info", host+"/acme/scratch")
	require.Error(t, err)
	require.Contains(t, errOut, "does not exist")

	// Organizations need a site administrator.
	_, err = e.admin.CreateUser(ctx, "root", true)
	require.NoError(t, err)
	rootTok, _, err := e.admin.CreateToken(ctx, auth.CreateTokenRequest{Org: "acme", Scope: metadata.RoleAdmin, User: "root"})
	require.NoError(t, err)
	c.Token = rootTok
	c.Run(c.Root, "registry", "organization", "create", host+"/neworg")
	require.Contains(t, c.Run(c.Root, "registry", "organization", "info", host+"/neworg"), "neworg")
	c.Run(c.Root, "registry", "organization", "delete", host+"/neworg", "--force")
	c.Token = ""

	// Anonymous push fails; another organization cannot see acme's private modules.
	anon := harness.Buf(t, host, caFile)
	_, errOut, err = anon.Try(baseDir, "", "push")
	require.Error(t, err)
	require.NotContains(t, errOut, "internal")
	other := harness.Buf(t, host, caFile)
	other.Token = e.org("other", false, metadata.RoleWrite)
	_, errOut, err = other.Try(c.Root, "", "registry", "module", "info", host+"/acme/base")
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

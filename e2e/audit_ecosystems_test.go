package e2e

import (
	"encoding/json"
	"os/exec"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/packyard/packyard/e2e/harness"
)

// auditCounts reads the whole audit log through the CLI and counts actions.
func auditCounts(t *testing.T, in *harness.Instance) (map[string]int, []auditEvent) {
	t.Helper()
	var all []auditEvent
	require.NoError(t, json.Unmarshal([]byte(in.MustCLI("audit", "list", "--json")), &all))
	count := map[string]int{}
	for _, e := range all {
		count[e.Action]++
	}
	return count, all
}

// Every buf write the real CLI makes leaves exactly one audit record naming
// the token's user: module created, pushed, label moved and archived,
// module deleted.
func TestAuditBufWrites(t *testing.T) {
	in := harness.Start(t, harness.Options{})
	tok := in.Token("acme", "admin")
	c := harness.Buf(t, in.Host, in.CAFile)
	c.Login(tok)

	mod := c.Workspace(map[string]string{
		"buf.yaml":     "version: v1\nname: HOST/acme/audited\n",
		"a/v1/a.proto": "syntax = \"proto3\";\npackage a.v1;\nmessage A { string v = 1; }\n",
	})
	commit := bufCommitRE.FindString(c.Run(mod, "push", "--create"))
	require.NotEmpty(t, commit)
	c.Run(c.Root, "registry", "module", "commit", "add-label", in.Host+"/acme/audited:"+commit, "--label", "stable")
	c.Run(c.Root, "registry", "module", "label", "archive", in.Host+"/acme/audited:stable")
	c.Run(c.Root, "registry", "module", "delete", in.Host+"/acme/audited", "--force")

	count, all := auditCounts(t, in)
	for _, action := range []string{"buf.module.create", "buf.push", "buf.label.move", "buf.label.archive", "buf.module.delete"} {
		require.Equal(t, 1, count[action], "%s recorded exactly once (all: %v)", action, count)
	}
	for _, ev := range all {
		if ev.Action == "buf.push" {
			require.Equal(t, "acme", ev.Org)
			require.Equal(t, "acme/audited", ev.Resource)
			require.Equal(t, commit, ev.Details["commit"])
			require.Equal(t, "acme-bot", ev.Actor["user"])
			require.NotEmpty(t, ev.RequestID)
		}
	}
}

// Every Composer write leaves exactly one audit record: a publish, a git
// source added and synced, a version deleted, an upstream added.
func TestAuditComposerWrites(t *testing.T) {
	curl := harness.Tool(t, "curl")
	in := harness.Start(t, harness.Options{Env: loopbackOutbound()})
	write := in.Token("acme", "write")
	zipPath := harness.ZipPackage(t, map[string]string{"composer.json": `{"name": "acme/lib"}`})
	out, err := exec.Command(curl, "-sS", "--fail-with-body", "--user", "token:"+write, "--upload-file", zipPath,
		in.URL+"/composer/acme/upload?version=1.0.0").CombinedOutput()
	require.NoError(t, err, string(out))

	g := harness.GitRepo(t)
	g.Commit(map[string]string{"composer.json": `{"name": "acme/tool"}`})
	g.Git("tag", "1.0.0")
	in.MustCLI("composer", "add-vcs", "--org", "acme", "--url", "file://"+g.Dir)
	in.MustCLI("composer", "sync", "--org", "acme")
	in.MustCLI("composer", "delete-version", "--org", "acme", "--package", "acme/lib", "--version", "1.0.0")
	in.MustCLI("composer", "remove-vcs", "--org", "acme", "--url", "file://"+g.Dir)
	// Another organization of the same packyard serves as an upstream.
	in.MustCLI("org", "create", "pubsrc", "--public")
	in.MustCLI("composer", "add-upstream", "--org", "acme", "--url", in.URL+"/composer/pubsrc")
	in.MustCLI("composer", "add-advisory", "--org", "acme", "--package", "acme/tool", "--versions", "<2.0",
		"--title", "Remote code execution", "--cve", "CVE-2026-0001")

	count, all := auditCounts(t, in)
	for _, action := range []string{"composer.publish", "composer.source.add", "composer.sync", "composer.version.delete",
		"composer.source.remove", "composer.upstream.add", "composer.advisory.add"} {
		require.Equal(t, 1, count[action], "%s recorded exactly once (all: %v)", action, count)
	}
	for _, ev := range all {
		if ev.Action == "composer.publish" {
			require.Equal(t, "acme/lib@1.0.0", ev.Resource)
			require.Equal(t, "acme-bot", ev.Actor["user"])
			require.Equal(t, "127.0.0.1", ev.ClientAddr)
		}
	}
}

package e2e

import (
	"encoding/json"
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
	c := newBufClient(t, in)
	o, e, err := c.try(c.root, tok+"\n", "registry", "login", in.Host, "--token-stdin")
	require.NoError(t, err, "%s %s", o, e)

	mod := c.workspace(map[string]string{
		"buf.yaml":     "version: v1\nname: HOST/acme/audited\n",
		"a/v1/a.proto": "syntax = \"proto3\";\npackage a.v1;\nmessage A { string v = 1; }\n",
	})
	commit := bufCommitRE.FindString(c.run(mod, "push", "--create"))
	require.NotEmpty(t, commit)
	c.run(c.root, "registry", "module", "commit", "add-label", in.Host+"/acme/audited:"+commit, "--label", "stable")
	c.run(c.root, "registry", "module", "label", "archive", in.Host+"/acme/audited:stable")
	c.run(c.root, "registry", "module", "delete", in.Host+"/acme/audited", "--force")

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

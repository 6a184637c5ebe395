package e2e

import (
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/packyard/packyard/e2e/harness"
)

var bufCommitRE = regexp.MustCompile(`[0-9a-f]{32}`)

// Digests of the base module below (base/v1/base.proto and LICENSE, no
// dependencies) as the buf CLI writes them to buf.lock and verifies them on
// build; ecosystems/buf's digest tests check its functions produce them.
const (
	goldenBaseB4 = "shake256:24fed9d078ef5c9ffda5d80b1c79435e3773786fb6637aa5f50295689620ea16f3c0d0592e02e1a76495f86b82000dade5620ed63cc4906f4ddaf64b72f7f5bd"
	goldenBaseB5 = "b5:0892add7aac7d17da16fa3e9bf2b0cc87299559234312e750acd2b203b35d88cd36bd773d86265edd79a619b1312707de2b4cd6ee5287f1e889c6c592cb790f5"
)

// TestBuf drives the real buf CLI against the packyard binary: token login
// and whoami, v1 and v2 pushes, a restart between push and dep update,
// builds that verify every digest, and module commands; on SQLite +
// filesystem over plain HTTP and on PostgreSQL + MinIO + Redis over TLS.
func TestBuf(t *testing.T) {
	for _, tc := range []struct {
		backend harness.Backend
		tls     bool
	}{{harness.Embedded, false}, {harness.Services, true}} {
		t.Run(string(tc.backend), func(t *testing.T) {
			in := harness.Start(t, harness.Options{Backend: tc.backend, TLS: tc.tls})
			tok := in.Token("acme", "write")
			c := harness.Buf(t, in.Host, in.CAFile)

			c.Login(tok)
			require.Contains(t, c.Run(c.Root, "registry", "whoami", in.Host), "acme-bot")

			base := c.Workspace(map[string]string{
				"buf.yaml":           "version: v1\nname: HOST/acme/base\n",
				"base/v1/base.proto": "syntax = \"proto3\";\npackage base.v1;\nmessage Id { string value = 1; }\n",
				"LICENSE":            "MIT\n",
			})
			baseCommit := bufCommitRE.FindString(c.Run(base, "push", "--create"))
			require.NotEmpty(t, baseCommit)
			v2 := c.Workspace(map[string]string{
				"buf.yaml":                      "version: v2\nmodules:\n  - path: common\n    name: HOST/acme/common\n  - path: svc\n    name: HOST/acme/svc\ndeps:\n  - HOST/acme/base\n",
				"common/common/v1/common.proto": "syntax = \"proto3\";\npackage common.v1;\nmessage Page { int32 size = 1; }\n",
				"svc/svc/v1/svc.proto": "syntax = \"proto3\";\npackage svc.v1;\nimport \"common/v1/common.proto\";\nimport \"base/v1/base.proto\";\n" +
					"message Req { common.v1.Page page = 1; base.v1.Id id = 2; }\n",
			})
			c.Run(v2, "dep", "update")
			c.Run(v2, "push", "--create", "--label", "v1")

			// Metadata survives a restart; a fresh cache forces every call.
			in.Restart()
			c.FreshCache()
			consumer := c.Workspace(map[string]string{
				"buf.yaml":  "version: v2\ndeps:\n  - HOST/acme/svc:v1\n",
				"use.proto": "syntax = \"proto3\";\npackage use;\nimport \"svc/v1/svc.proto\";\nmessage Use { svc.v1.Req r = 1; }\n",
			})
			c.Run(consumer, "dep", "update")
			lock, err := os.ReadFile(filepath.Join(consumer, "buf.lock"))
			require.NoError(t, err)
			require.Contains(t, string(lock), "commit: "+baseCommit)
			require.Contains(t, string(lock), "digest: "+goldenBaseB5)
			c.Run(consumer, "build")

			v1 := c.Workspace(map[string]string{
				"buf.yaml":  "version: v1\ndeps:\n  - HOST/acme/base:" + baseCommit + "\n",
				"app.proto": "syntax = \"proto3\";\npackage app;\nimport \"base/v1/base.proto\";\nmessage App { base.v1.Id id = 1; }\n",
			})
			c.Run(v1, "dep", "update")
			lock, err = os.ReadFile(filepath.Join(v1, "buf.lock"))
			require.NoError(t, err)
			require.Contains(t, string(lock), "digest: "+goldenBaseB4)
			c.Run(v1, "build")

			out := filepath.Join(t.TempDir(), "export")
			c.Run(c.Root, "export", in.Host+"/acme/svc:v1", "-o", out)
			_, err = os.Stat(filepath.Join(out, "svc/v1/svc.proto"))
			require.NoError(t, err)
			require.Contains(t, c.Run(c.Root, "registry", "module", "commit", "resolve", in.Host+"/acme/base"), baseCommit)
			require.Contains(t, c.Run(c.Root, "registry", "module", "label", "list", in.Host+"/acme/svc"), "v1")

			// Wrong token: Unauthenticated, never an internal error.
			bad := harness.Buf(t, in.Host, in.CAFile)
			bad.Token = "pky_bogus"
			_, e, err := bad.Try(base, "", "push")
			require.Error(t, err)
			require.Contains(t, e, "BUF_TOKEN environment variable is not valid", "the CLI's wording for Unauthenticated")
		})
	}
}

package e2e

import (
	"bytes"
	"context"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/fx"

	"github.com/packyard/packyard/e2e/harness"
	"github.com/packyard/packyard/ecosystems/buf"
	"github.com/packyard/packyard/ecosystems/buf/plugin"
	"github.com/packyard/packyard/ecosystems/composer"
	"github.com/packyard/packyard/pkg/access"
	"github.com/packyard/packyard/pkg/cas"
	"github.com/packyard/packyard/pkg/errs"
	"github.com/packyard/packyard/pkg/metadata"
)

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

type gcKernel struct {
	*harness.Kernel
	composer *composer.Service
	buf      *buf.Service
	plugins  *plugin.Catalog
	admin    context.Context // a site administrator's
}

func newGCKernel(t *testing.T, backend harness.Backend) gcKernel {
	var k gcKernel
	k.Kernel = harness.NewKernel(t, harness.KernelOptions{Backend: backend,
		Modules: []fx.Option{buf.Module, composer.Module, fx.Populate(&k.composer, &k.buf, &k.plugins)}})
	root, err := k.Auth.CreateUser(context.Background(), "root", true)
	require.NoError(t, err)
	k.admin = access.WithPrincipal(context.Background(), &access.Principal{UserID: root.ID, UserName: root.Name, SiteAdmin: true,
		Scope: metadata.RoleAdmin, Method: "test"})
	return k
}

// push creates owner/name and pushes one commit of files to it.
func (k gcKernel) push(t *testing.T, owner, name string, files map[string]string, deps ...string) buf.Commit {
	t.Helper()
	_, err := k.buf.CreateModule(k.admin, buf.NewModule{Owner: buf.OwnerRef{Name: owner}, Name: name})
	require.NoError(t, err)
	var fs []buf.UploadFile
	for path, content := range files {
		fs = append(fs, buf.UploadFile{Path: path, Content: []byte(content)})
	}
	cs, err := k.buf.Upload(k.admin, []buf.UploadContent{{Module: buf.ModuleRef{Owner: owner, Name: name}, Files: fs}}, deps)
	require.NoError(t, err)
	return cs[0]
}

// stored reports whether the CAS has the blob, and checks that its index
// and its bytes agree: a blob with an index row opens (from its own object
// or, for a file a buf push packed, from its section of a pack) and one
// without a row does not (a collected blob's own object is gone too, since
// Open reads an object of its own first).
func (k gcKernel) stored(t *testing.T, digest string) bool {
	t.Helper()
	ctx := context.Background()
	_, indexErr := k.CAS.Stat(ctx, digest)
	rc, openErr := k.CAS.Open(ctx, digest)
	if openErr == nil {
		require.NoError(t, rc.Close())
	}
	for _, err := range []error{indexErr, openErr} {
		if err != nil {
			require.ErrorIs(t, err, errs.ErrNotFound)
		}
	}
	require.Equal(t, indexErr == nil, openErr == nil, "the index and the stored bytes agree on %s", digest)
	return indexErr == nil
}

// Deleting an organization (as `packyard org delete` and the admin API do)
// leaves its Composer archives, buf modules and plugins to the periodic
// collection: after it, the blobs only that organization used are gone from
// the blob store, and those another organization uses too (same content,
// same digest) stay, as do the files of a module another organization's
// module depends on, until that dependent is deleted.
func TestGCCollectsDeletedOrganizations(t *testing.T) {
	wasm, err := os.ReadFile(harness.WasmPlugin(t, "./ecosystems/buf/plugin/testdata/misbehave"))
	require.NoError(t, err)
	for _, backend := range harness.Backends {
		t.Run(string(backend), func(t *testing.T) {
			ctx := context.Background()
			k := newGCKernel(t, backend)
			k.Org("gone", false)
			k.Org("kept", false)

			// Composer: one archive both organizations uploaded, one only "gone" did.
			shared := zipOf(t, `{"name":"acme/shared","version":"1.0.0"}`)
			own := zipOf(t, `{"name":"acme/own","version":"1.0.0"}`)
			for org, zips := range map[string][][]byte{"gone": {shared, own}, "kept": {shared}} {
				for _, z := range zips {
					_, err := k.composer.Upload(ctx, org, "", bytes.NewReader(z))
					require.NoError(t, err)
				}
			}

			// buf: a file both organizations pushed, one only "gone" pushed, and
			// a module of "gone" that a module of "kept" depends on.
			const sharedProto = "syntax = \"proto3\";\npackage shared.v1;\nmessage Shared { string id = 1; }\n"
			const soloProto = "syntax = \"proto3\";\npackage solo.v1;\nmessage Solo { string id = 1; }\n"
			const depProto = "syntax = \"proto3\";\npackage dep.v1;\nmessage Dep { string id = 1; }\n"
			k.push(t, "gone", "solo", map[string]string{"shared/v1/shared.proto": sharedProto, "solo/v1/solo.proto": soloProto})
			k.push(t, "kept", "copy", map[string]string{"shared/v1/shared.proto": sharedProto})
			dep := k.push(t, "gone", "dep", map[string]string{"dep/v1/dep.proto": depProto})
			k.push(t, "kept", "app", map[string]string{"app/v1/app.proto": "syntax = \"proto3\";\npackage app.v1;\n" +
				"import \"dep/v1/dep.proto\";\nmessage App { dep.v1.Dep dep = 1; }\n"}, dep.ID)

			// A plugin of "gone".
			_, _, err := k.plugins.Add(ctx, plugin.AddRequest{Owner: "gone", Name: "misbehave", Version: "v1.0.0", Wasm: wasm})
			require.NoError(t, err)

			collected := []string{sha256Hex(own), sha256Hex([]byte(soloProto)), sha256Hex(wasm)}
			kept := []string{sha256Hex(shared), sha256Hex([]byte(sharedProto))}
			depBlob := sha256Hex([]byte(depProto))
			for _, d := range append(append(collected, kept...), depBlob) {
				require.True(t, k.stored(t, d), "stored before: %s", d)
			}

			stats, err := k.GC(ctx, 0)
			require.NoError(t, err)
			require.Zero(t, stats.Refs, "nothing to sweep while every owner exists")
			for _, d := range append(append(collected, kept...), depBlob) {
				require.True(t, k.stored(t, d), "live blobs stay: %s", d)
			}

			require.NoError(t, k.Auth.DeleteOrg(ctx, "gone"))
			stats, err = k.GC(ctx, 0)
			require.NoError(t, err)
			t.Logf("after deleting the organization: %+v", stats)
			require.Positive(t, stats.Refs)
			for _, d := range collected {
				require.False(t, k.stored(t, d), "a blob only the deleted organization used is collected: %s", d)
			}
			for _, d := range []string{sha256Hex(own), sha256Hex(wasm)} {
				_, err := k.Blobs.Stat(ctx, cas.Key(d))
				require.ErrorIs(t, err, errs.ErrNotFound, "the object of a collected archive or plugin is deleted: %s", d)
			}
			for _, d := range kept {
				require.True(t, k.stored(t, d), "a blob the other organization uses stays: %s", d)
			}
			require.True(t, k.stored(t, depBlob), "a dependency of a live module stays")

			// The other organization's archive is served as before.
			sum := sha1.Sum(shared)
			f, _, err := k.composer.Dist(ctx, "kept", "acme/shared", hex.EncodeToString(sum[:]))
			require.NoError(t, err)
			got, err := io.ReadAll(f)
			require.NoError(t, err)
			require.NoError(t, f.Close())
			require.Equal(t, shared, got)

			// Once the dependent module goes, the dependency goes too.
			require.NoError(t, k.buf.DeleteModules(k.admin, []buf.ModuleRef{{Owner: "kept", Name: "app"}}))
			_, err = k.GC(ctx, 0)
			require.NoError(t, err)
			require.False(t, k.stored(t, depBlob), "the files of a deleted organization's module nothing depends on any more are collected")
			for _, d := range kept {
				require.True(t, k.stored(t, d), "a blob the other organization uses stays: %s", d)
			}
		})
	}
}

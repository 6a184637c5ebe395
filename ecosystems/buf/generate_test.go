package buf

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"connectrpc.com/connect"
	"github.com/stretchr/testify/require"
	"go.uber.org/fx"

	"github.com/packyard/packyard/e2e/harness"
	alphav1 "github.com/packyard/packyard/ecosystems/buf/alpha/registryv1alpha1"
	"github.com/packyard/packyard/ecosystems/buf/alpha/registryv1alpha1/registryv1alpha1connect"
	"github.com/packyard/packyard/ecosystems/buf/plugin"
	"github.com/packyard/packyard/pkg/ecosystem"
	"github.com/packyard/packyard/pkg/metadata"
)

// pluginEnv is a registry with remote code generation: the buf ecosystem
// and the plugin catalog and sandbox, as buf.Module wires them, with the
// compilation cache shared by test runs.
type pluginEnv struct {
	*env
	cat *plugin.Catalog
	run *plugin.Runner
}

func newPluginEnv(t testing.TB, dialect string) *pluginEnv {
	t.Helper()
	backend := harness.Embedded
	if dialect == "postgres" {
		backend = harness.Services
	}
	var svc *Service
	pe := &pluginEnv{}
	k := harness.NewKernel(t, harness.KernelOptions{Backend: backend, Modules: []fx.Option{
		fx.Supply(DefaultConfig()), plugin.Module,
		fx.Decorate(func(c plugin.Config) plugin.Config {
			c.CacheDir = filepath.Join(os.TempDir(), "packyard-plugins", "wazero-cache")
			return c
		}),
		fx.Provide(New, ecosystem.As(NewEcosystem)), fx.Populate(&svc, &pe.cat, &pe.run),
	}})
	pe.env = &env{t: t, k: k, db: k.DB, meta: k.Meta, svc: svc, url: k.URL, client: k.Client, admin: k.Auth}
	return pe
}

func (e *pluginEnv) addPlugin(t testing.TB, name, version, wasmPath string, deps []string, base string) plugin.Plugin {
	t.Helper()
	b, err := os.ReadFile(wasmPath)
	require.NoError(t, err)
	return e.addPluginBytes(t, name, version, b, deps, base)
}

func (e *pluginEnv) addPluginBytes(t testing.TB, name, version string, b []byte, deps []string, base string) plugin.Plugin {
	t.Helper()
	p, _, err := e.cat.Add(context.Background(), plugin.AddRequest{Owner: "acme", Name: name, Version: version, Wasm: b,
		GoDeps: deps, BasePlugin: base, GoMinVersion: "1.21"})
	require.NoError(t, err)
	return p
}

// tree reads every file under dir by its relative path.
func tree(t testing.TB, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	require.NoError(t, filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		rel, _ := filepath.Rel(dir, p)
		out[filepath.ToSlash(rel)] = string(b)
		return err
	}))
	return out
}

// TestGenerateRemote runs `buf generate` with remote plugins (protoc-gen-go
// and protoc-gen-connect-go built for WASI) in v1 and v2 configurations,
// pinned and unpinned, and compares the output byte for byte with the same
// plugins built natively and run as local plugins.
func TestGenerateRemote(t *testing.T) {
	e := newPluginEnv(t, "sqlite")
	tok := e.org("acme", false, metadata.RoleWrite)
	goWasm := harness.WasmPlugin(t, harness.ProtocGenGo)
	connectWasm := harness.WasmPlugin(t, harness.ProtocGenConnectGo)
	misbehave, err := os.ReadFile(harness.WasmPlugin(t, "./ecosystems/buf/plugin/testdata/misbehave"))
	require.NoError(t, err)
	goLocal := harness.NativePlugin(t, harness.ProtocGenGo)
	connectLocal := harness.NativePlugin(t, harness.ProtocGenConnectGo)

	// An older version that must not be picked for an unpinned reference,
	// and a first revision that must be picked only when pinned.
	e.addPluginBytes(t, "go", "v0.1.0", misbehave, nil, "")
	e.addPlugin(t, "go", "v1.36.12", goWasm, []string{"google.golang.org/protobuf@v1.36.12"}, "")
	e.addPluginBytes(t, "connect-go", "v1.21.1", misbehave, nil, "")
	cg := e.addPlugin(t, "connect-go", "v1.21.1", connectWasm, []string{"connectrpc.com/connect@v1.21.1"}, "acme/go")
	require.Equal(t, 2, cg.Revision)

	c := harness.Buf(t, e.k.Host, "")
	c.Token = tok
	host := e.k.Host
	base := c.Workspace(map[string]string{
		"buf.yaml":           "version: v2\nmodules:\n  - name: HOST/acme/base\n",
		"base/v1/base.proto": "syntax = \"proto3\";\npackage base.v1;\noption go_package = \"example.com/gen/base/v1;basev1\";\n// Id names a thing.\nmessage Id { string value = 1; }\n",
	})
	c.Run(base, "push", "--create")
	pets := c.Workspace(map[string]string{
		"buf.yaml": "version: v2\nmodules:\n  - name: HOST/acme/petapis\ndeps:\n  - HOST/acme/base\n",
		"pet/v1/pet.proto": "syntax = \"proto3\";\npackage pet.v1;\noption go_package = \"example.com/gen/pet/v1;petv1\";\n" +
			"import \"base/v1/base.proto\";\nimport \"google/protobuf/timestamp.proto\";\n\n// Pet is a pet.\nmessage Pet {\n  base.v1.Id id = 1;\n  string name = 2 [json_name = \"petName\"];\n  google.protobuf.Timestamp born = 3;\n}\n\n" +
			"message GetPetRequest { base.v1.Id id = 1; }\nmessage GetPetResponse { Pet pet = 1; }\n\n// PetService serves pets.\nservice PetService {\n  rpc GetPet(GetPetRequest) returns (GetPetResponse) {}\n}\n",
	})
	c.Run(pets, "dep", "update")
	c.Run(pets, "push", "--create")

	write := func(name, content string) string {
		p := filepath.Join(pets, name)
		require.NoError(t, os.WriteFile(p, []byte(strings.ReplaceAll(content, "HOST", host)), 0o644))
		return p
	}
	gen := func(template, out string) map[string]string {
		t.Helper()
		c.Run(pets, "generate", "--template", template, "-o", filepath.Join(pets, out))
		got := tree(t, filepath.Join(pets, out))
		require.NotEmpty(t, got)
		return got
	}
	local := gen(write("local.yaml", "version: v2\nplugins:\n"+
		"  - local: "+goLocal+"\n    out: .\n    opt: paths=source_relative\n"+
		"  - local: "+connectLocal+"\n    out: .\n    opt: paths=source_relative\n"), "local")
	require.Contains(t, local, "pet/v1/pet.pb.go")
	require.Contains(t, local, "pet/v1/petv1connect/pet.connect.go")
	require.NotContains(t, local, "base/v1/base.pb.go", "imports are not generated")

	for name, cfg := range map[string]string{
		"v2-unpinned": "version: v2\nplugins:\n  - remote: HOST/acme/go\n    out: .\n    opt: paths=source_relative\n" +
			"  - remote: HOST/acme/connect-go\n    out: .\n    opt: paths=source_relative\n",
		"v2-pinned": "version: v2\nplugins:\n  - remote: HOST/acme/go:v1.36.12\n    revision: 1\n    out: .\n    opt: paths=source_relative\n" +
			"  - remote: HOST/acme/connect-go:v1.21.1\n    revision: 2\n    out: .\n    opt: paths=source_relative\n",
		"v1-unpinned": "version: v1\nplugins:\n  - plugin: HOST/acme/go\n    out: .\n    opt: paths=source_relative\n" +
			"  - plugin: HOST/acme/connect-go\n    out: .\n    opt: paths=source_relative\n",
		"v1-pinned": "version: v1\nplugins:\n  - plugin: HOST/acme/go:v1.36.12\n    revision: 1\n    out: .\n    opt: paths=source_relative\n" +
			"  - plugin: HOST/acme/connect-go:v1.21.1\n    out: .\n    opt: paths=source_relative\n",
	} {
		remote := gen(write(name+".yaml", cfg), name)
		require.Equal(t, local, remote, "%s: byte-identical to the local plugins", name)
	}

	// include_imports generates the dependency's files too, as locally.
	localImports := gen(write("local-imports.yaml", "version: v2\nplugins:\n  - local: "+goLocal+
		"\n    out: .\n    opt: paths=source_relative\n    include_imports: true\n"), "local-imports")
	require.Contains(t, localImports, "base/v1/base.pb.go")
	require.NotContains(t, localImports, "google/protobuf/timestamp.pb.go")
	remoteImports := gen(write("remote-imports.yaml", "version: v2\nplugins:\n  - remote: HOST/acme/go\n"+
		"    out: .\n    opt: paths=source_relative\n    include_imports: true\n"), "remote-imports")
	require.Equal(t, localImports, remoteImports)

	// A pinned revision is the one that runs.
	old := gen(write("old.yaml", "version: v2\nplugins:\n  - remote: HOST/acme/connect-go:v1.21.1\n    revision: 1\n    out: .\n    opt: echo\n"), "old")
	require.Equal(t, map[string]string{"report.txt": "files: pet/v1/pet.proto\n"}, old)

	// Plugins follow their organization's read rules.
	other := e.org("other", false, metadata.RoleRead)
	c.Token = other
	_, errOut, err := c.Try(pets, "", "generate", "--template", filepath.Join(pets, "v2-unpinned.yaml"), "-o", filepath.Join(pets, "denied"))
	require.Error(t, err)
	require.Contains(t, errOut, "not_found")
	c.Token = ""
	_, errOut, err = c.Try(pets, "", "generate", "--template", filepath.Join(pets, "v2-unpinned.yaml"), "-o", filepath.Join(pets, "anon"))
	require.Error(t, err)
	require.NotContains(t, errOut, "acme/go:v1.36.12")

	// A plugin over a limit fails the generation with the limit named.
	c.Token = tok
	_, errOut, err = c.Try(pets, "", "generate", "--template",
		write("loop.yaml", "version: v2\nplugins:\n  - remote: HOST/acme/go:v0.1.0\n    out: .\n    opt: exit\n"), "-o", filepath.Join(pets, "loop"))
	require.Error(t, err)
	require.Contains(t, errOut, "acme/go:v0.1.0")
	require.Contains(t, errOut, "exit code 3")
}

// TestPluginCuration answers the plugin lookups of `buf registry sdk
// version` and of plugin listings: the latest version and revision, every
// version with its revisions, only the plugins the caller may read.
func TestPluginCuration(t *testing.T) {
	e := newPluginEnv(t, "sqlite")
	tok := e.org("acme", false, metadata.RoleRead)
	e.k.Org("pub", true)
	wasm, err := os.ReadFile(harness.WasmPlugin(t, "./ecosystems/buf/plugin/testdata/misbehave"))
	require.NoError(t, err)
	e.addPluginBytes(t, "go", "v1.2.0", wasm, []string{"google.golang.org/protobuf@v1.36.12"}, "")
	e.addPluginBytes(t, "go", "v1.10.0", wasm, []string{"google.golang.org/protobuf@v1.36.12"}, "")
	last := e.addPluginBytes(t, "go", "v1.10.0", wasm, []string{"google.golang.org/protobuf@v1.36.11"}, "")
	e.addPluginBytes(t, "connect-go", "v1.21.1", wasm, []string{"connectrpc.com/connect@v1.21.1"}, "acme/go")
	_, _, err = e.cat.Add(context.Background(), plugin.AddRequest{Owner: "pub", Name: "tool", Version: "v0.1.0", Wasm: wasm})
	require.NoError(t, err)

	client := registryv1alpha1connect.NewPluginCurationServiceClient(e.client, e.url)
	auth := func(r connect.AnyRequest, token string) {
		if token != "" {
			r.Header().Set("Authorization", "Bearer "+token)
		}
	}
	ctx := context.Background()
	req := connect.NewRequest(&alphav1.GetLatestCuratedPluginRequest{Owner: "acme", Name: "go"})
	auth(req, tok)
	res, err := client.GetLatestCuratedPlugin(ctx, req)
	require.NoError(t, err)
	p := res.Msg.GetPlugin()
	require.Equal(t, last.ID, p.GetId())
	require.Equal(t, "v1.10.0", p.GetVersion(), "semantic version order, not text order")
	require.Equal(t, uint32(2), p.GetRevision())
	require.Equal(t, alphav1.PluginRegistryType_PLUGIN_REGISTRY_TYPE_GO, p.GetRegistryType())
	goc := p.GetRegistryConfig().GetGoConfig()
	require.Equal(t, "1.21", goc.GetMinimumVersion())
	require.Equal(t, "google.golang.org/protobuf", goc.GetRuntimeLibraries()[0].GetModule())
	require.Equal(t, "v1.36.11", goc.GetRuntimeLibraries()[0].GetVersion())
	require.Len(t, res.Msg.GetVersions(), 2)
	require.Equal(t, "v1.10.0", res.Msg.GetVersions()[0].GetVersion())
	require.Equal(t, []uint32{2, 1}, res.Msg.GetVersions()[0].GetRevisions())
	require.Equal(t, "v1.2.0", res.Msg.GetVersions()[1].GetVersion())

	req = connect.NewRequest(&alphav1.GetLatestCuratedPluginRequest{Owner: "acme", Name: "go", Version: "v1.10.0", Revision: 1})
	auth(req, tok)
	res, err = client.GetLatestCuratedPlugin(ctx, req)
	require.NoError(t, err)
	require.Equal(t, uint32(1), res.Msg.GetPlugin().GetRevision())

	req = connect.NewRequest(&alphav1.GetLatestCuratedPluginRequest{Owner: "acme", Name: "connect-go"})
	auth(req, tok)
	res, err = client.GetLatestCuratedPlugin(ctx, req)
	require.NoError(t, err)
	require.Equal(t, "acme", res.Msg.GetPlugin().GetDependencies()[0].GetOwner())
	require.Equal(t, "go", res.Msg.GetPlugin().GetDependencies()[0].GetName())

	for _, token := range []string{"", e.org("other", false, metadata.RoleRead)} {
		req = connect.NewRequest(&alphav1.GetLatestCuratedPluginRequest{Owner: "acme", Name: "go"})
		auth(req, token)
		_, err = client.GetLatestCuratedPlugin(ctx, req)
		require.Error(t, err)
		require.Contains(t, []connect.Code{connect.CodeNotFound, connect.CodeUnauthenticated}, connect.CodeOf(err))
	}

	list := func(token string, size uint32, page string) *alphav1.ListCuratedPluginsResponse {
		t.Helper()
		r := connect.NewRequest(&alphav1.ListCuratedPluginsRequest{PageSize: size, PageToken: page})
		auth(r, token)
		res, err := client.ListCuratedPlugins(ctx, r)
		require.NoError(t, err)
		return res.Msg
	}
	names := func(m *alphav1.ListCuratedPluginsResponse) []string {
		var out []string
		for _, p := range m.GetPlugins() {
			out = append(out, p.GetOwner()+"/"+p.GetName()+":"+p.GetVersion())
		}
		return out
	}
	require.Equal(t, []string{"acme/connect-go:v1.21.1", "acme/go:v1.10.0", "pub/tool:v0.1.0"}, names(list(tok, 0, "")))
	require.Equal(t, []string{"pub/tool:v0.1.0"}, names(list("", 0, "")), "anonymous: public organizations only")
	first := list(tok, 2, "")
	require.Len(t, first.GetPlugins(), 2)
	require.Equal(t, []string{"pub/tool:v0.1.0"}, names(list(tok, 2, first.GetNextPageToken())))
}

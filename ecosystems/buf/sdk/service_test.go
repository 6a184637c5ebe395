package sdk

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/fx"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/pluginpb"

	"github.com/packyard/packyard/e2e/harness"
	"github.com/packyard/packyard/ecosystems/buf"
	"github.com/packyard/packyard/pkg/access"
	"github.com/packyard/packyard/pkg/ecosystem"
	"github.com/packyard/packyard/pkg/errs"
	"github.com/packyard/packyard/pkg/metadata"
)

const testHost = "sdk.example.com"

// fakeCatalog holds plugins in memory.
type fakeCatalog struct {
	mu      sync.Mutex
	plugins []Plugin
}

func (c *fakeCatalog) add(p Plugin) {
	c.mu.Lock()
	defer c.mu.Unlock()
	p.ID = fmt.Sprintf("%s/%s:%s.%d", p.Owner, p.Name, p.Version, p.Revision)
	c.plugins = append(c.plugins, p)
}

func (c *fakeCatalog) Resolve(_ context.Context, owner, name, version string, revision int) (Plugin, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var best *Plugin
	for i, p := range c.plugins {
		if p.Owner != owner || p.Name != name || (version != "" && p.Version != version) || (revision != 0 && p.Revision != revision) {
			continue
		}
		if best == nil || p.Version > best.Version || p.Version == best.Version && p.Revision > best.Revision {
			best = &c.plugins[i]
		}
	}
	if best == nil {
		return Plugin{}, errs.NotFoundf("plugin %s/%s not found", owner, name)
	}
	return *best, nil
}

// fakeRunner writes, for each file to generate, a Go file that names the
// file's go_package, the parameter and the plugin, and counts its runs.
type fakeRunner struct {
	runs atomic.Int32
	slow time.Duration
}

func (r *fakeRunner) Run(_ context.Context, p Plugin, req *pluginpb.CodeGeneratorRequest) (*pluginpb.CodeGeneratorResponse, error) {
	r.runs.Add(1)
	time.Sleep(r.slow)
	byName := map[string]*descriptorpb.FileDescriptorProto{}
	for _, f := range req.GetProtoFile() {
		byName[f.GetName()] = f
	}
	resp := &pluginpb.CodeGeneratorResponse{}
	for _, name := range req.GetFileToGenerate() {
		f := byName[name]
		gp := f.GetOptions().GetGoPackage()
		pkg := path.Base(gp)
		if i := strings.Index(gp, ";"); i >= 0 {
			pkg = gp[i+1:]
		}
		var b strings.Builder
		fmt.Fprintf(&b, "package %s\n\n// plugin %s/%s:%s revision %d\n// parameter %s\n// go_package %s\n", pkg, p.Owner, p.Name, p.Version, p.Revision, req.GetParameter(), gp)
		for _, d := range f.GetDependency() {
			fmt.Fprintf(&b, "// import %s\n", byName[d].GetOptions().GetGoPackage())
		}
		out := strings.TrimSuffix(name, ".proto") + ".pb.go"
		if p.Name == "connect" {
			out = path.Join(path.Dir(name), pkg+"connect", strings.TrimSuffix(path.Base(name), ".proto")+".connect.go")
		}
		resp.File = append(resp.File, &pluginpb.CodeGeneratorResponse_File{Name: proto.String(out), Content: proto.String(b.String())})
	}
	return resp, nil
}

func testRequest(files []*descriptorpb.FileDescriptorProto, generate []string, parameter string) *pluginpb.CodeGeneratorRequest {
	return &pluginpb.CodeGeneratorRequest{ProtoFile: files, FileToGenerate: generate, Parameter: proto.String(parameter)}
}

// sdkEnv is a running registry with the SDK proxy on fake plugins.
type sdkEnv struct {
	t       *testing.T
	k       *harness.Kernel
	bufSvc  *buf.Service
	svc     *Service
	catalog *fakeCatalog
	runner  *fakeRunner
	admin   context.Context
}

func newSDKEnv(t *testing.T, backend harness.Backend) *sdkEnv {
	e := &sdkEnv{t: t, catalog: &fakeCatalog{}, runner: &fakeRunner{}}
	e.k = harness.NewKernel(t, harness.KernelOptions{Backend: backend, Modules: []fx.Option{
		fx.Supply(buf.DefaultConfig(), Config{Host: testHost}),
		fx.Supply(fx.Annotate(e.catalog, fx.As(new(Catalog))), fx.Annotate(e.runner, fx.As(new(Runner))), RequestFunc(testRequest)),
		fx.Provide(buf.New, New, ecosystem.As(NewEcosystem)),
		fx.Populate(&e.bufSvc, &e.svc),
	}})
	ctx := context.Background()
	u, err := e.k.Auth.CreateUser(ctx, "root", true)
	require.NoError(t, err)
	e.admin = access.WithPrincipal(ctx, &access.Principal{UserID: u.ID, UserName: u.Name, SiteAdmin: true, Scope: metadata.RoleAdmin, Method: "test"})
	return e
}

// push creates owner/name if needed and uploads files to it (labels: the default when none).
func (e *sdkEnv) push(owner, name string, files map[string]string, deps []string, labels ...string) buf.Commit {
	e.t.Helper()
	_, err := e.bufSvc.CreateModule(e.admin, buf.NewModule{Owner: buf.OwnerRef{Name: owner}, Name: name})
	if err != nil {
		require.ErrorIs(e.t, err, errs.ErrAlreadyExists)
	}
	var fs []buf.UploadFile
	for p, c := range files {
		fs = append(fs, buf.UploadFile{Path: p, Content: []byte(c)})
	}
	var ls []buf.ScopedLabel
	for _, l := range labels {
		ls = append(ls, buf.ScopedLabel{Name: l})
	}
	cs, err := e.bufSvc.Upload(e.admin, []buf.UploadContent{{Module: buf.ModuleRef{Owner: owner, Name: name}, Files: fs, Labels: ls}}, deps)
	require.NoError(e.t, err)
	return cs[0]
}

// get fetches a proxy path with a token (none: anonymous).
func (e *sdkEnv) get(p, token string) (int, []byte) {
	e.t.Helper()
	req, err := http.NewRequest(http.MethodGet, e.k.URL+p, nil)
	require.NoError(e.t, err)
	if token != "" {
		req.SetBasicAuth("go", token)
	}
	res, err := e.k.Client.Do(req)
	require.NoError(e.t, err)
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	require.NoError(e.t, err)
	return res.StatusCode, body
}

func (e *sdkEnv) must(p, token string) []byte {
	e.t.Helper()
	code, body := e.get(p, token)
	require.Equal(e.t, http.StatusOK, code, "%s: %s", p, body)
	return body
}

func (e *sdkEnv) info(p, token string) Info {
	e.t.Helper()
	var out struct{ Version, Time string }
	require.NoError(e.t, json.Unmarshal(e.must(p, token), &out))
	ts, err := time.Parse(time.RFC3339, out.Time)
	require.NoError(e.t, err)
	return Info{Version: out.Version, Time: ts}
}

const (
	baseProto = "syntax = \"proto3\";\npackage acme.base.v1;\nmessage Id { string value = 1; }\n"
	petProto  = "syntax = \"proto3\";\npackage acme.pet.v1;\nimport \"base/v1/base.proto\";\nmessage Pet { acme.base.v1.Id id = 1; }\n" +
		"service PetService { rpc GetPet(Pet) returns (Pet); }\n"
)

// setup pushes acme/base and acme/petapis (which imports it), and adds a
// message plugin (plugins/go) and a service plugin (plugins/connect) based
// on it.
func (e *sdkEnv) setup() (base, pet buf.Commit) {
	e.k.Org("acme", false)
	e.k.Org("plugins", true)
	base = e.push("acme", "base", map[string]string{"base/v1/base.proto": baseProto}, nil)
	pet = e.push("acme", "petapis", map[string]string{"pet/v1/pet.proto": petProto}, []string{base.ID})
	e.catalog.add(Plugin{Owner: "plugins", Name: "go", Version: "v1.36.11", Revision: 1, GoDeps: []string{"google.golang.org/protobuf@v1.36.11"}, GoMinVersion: "1.22"})
	e.catalog.add(Plugin{Owner: "plugins", Name: "connect", Version: "v1.19.0", Revision: 2, GoDeps: []string{"connectrpc.com/connect@v1.19.0"}, BasePlugin: "plugins/go"})
	return base, pet
}

func sdkPath(owner, module, pluginOwner, plugin string) string {
	return ModulePath{Host: testHost, Owner: owner, Module: module, PluginOwner: pluginOwner, Plugin: plugin}.String()
}

func zipFiles(t *testing.T, body []byte) map[string]string {
	zr, err := zip.NewReader(bytes.NewReader(body), int64(len(body)))
	require.NoError(t, err)
	out := map[string]string{}
	for _, f := range zr.File {
		rc, err := f.Open()
		require.NoError(t, err)
		b, err := io.ReadAll(rc)
		require.NoError(t, err)
		out[f.Name] = string(b)
	}
	return out
}

func TestProxy(t *testing.T) {
	e := newSDKEnv(t, harness.Embedded)
	base, pet := e.setup()
	tok := e.k.Token("acme", metadata.RoleRead)
	goMod := sdkPath("acme", "petapis", "plugins", "go")
	conn := sdkPath("acme", "petapis", "plugins", "connect")
	baseMod := sdkPath("acme", "base", "plugins", "go")
	petV := NewVersion("v1.36.11", 1, pet.ID, pet.CreatedAt, true).String()
	baseV := NewVersion("v1.36.11", 1, base.ID, base.CreatedAt, true).String()

	// Versions: the list, @latest, and .info by version, commit id and label.
	require.Equal(t, petV+"\n", string(e.must("/gen/go/"+goMod+"/@v/list", tok)))
	latest := e.info("/gen/go/"+goMod+"/@latest", tok)
	require.Equal(t, petV, latest.Version)
	require.True(t, latest.Time.Equal(pet.CreatedAt.Truncate(time.Second)), "%s vs %s", latest.Time, pet.CreatedAt)
	for _, q := range []string{petV, pet.ID, "main"} {
		require.Equal(t, petV, e.info("/gen/go/"+goMod+"/@v/"+q+".info", tok).Version, q)
	}

	// go.mod: the plugin's Go dependencies and go line, the dependency's SDK at the pinned commit.
	require.Equal(t, "module "+goMod+"\n\ngo 1.22\n\nrequire (\n\tgoogle.golang.org/protobuf v1.36.11\n\t"+baseMod+" "+baseV+"\n)\n",
		string(e.must("/gen/go/"+goMod+"/@v/"+petV+".mod", tok)))

	// The zip: go.mod and the generated file, in the SDK's package layout, made once.
	z := e.must("/gen/go/"+goMod+"/@v/"+petV+".zip", tok)
	files := zipFiles(t, z)
	prefix := goMod + "@" + petV + "/"
	require.Len(t, files, 2)
	require.Equal(t, string(e.must("/gen/go/"+goMod+"/@v/"+petV+".mod", tok)), files[prefix+"go.mod"])
	gen := files[prefix+"pet/v1/pet.pb.go"]
	require.Contains(t, gen, "package petv1\n")
	require.Contains(t, gen, "// parameter paths=source_relative\n")
	require.Contains(t, gen, "// go_package "+goMod+"/pet/v1;petv1\n")
	require.Contains(t, gen, "// import "+baseMod+"/base/v1;basev1\n")
	runs := e.runner.runs.Load()
	require.Equal(t, z, e.must("/gen/go/"+goMod+"/@v/"+petV+".zip", tok), "the same bytes again")
	require.Equal(t, runs, e.runner.runs.Load(), "served from the CAS, not generated again")

	// The connect SDK puts its code next to the message SDK's packages and requires them.
	connV := NewVersion("v1.19.0", 2, pet.ID, pet.CreatedAt, true).String()
	require.Equal(t, connV, e.info("/gen/go/"+conn+"/@latest", tok).Version)
	require.Equal(t, "module "+conn+"\n\ngo 1.21\n\nrequire (\n\tconnectrpc.com/connect v1.19.0\n\t"+
		sdkPath("acme", "base", "plugins", "connect")+" "+NewVersion("v1.19.0", 2, base.ID, base.CreatedAt, true).String()+"\n\t"+baseMod+" "+baseV+"\n\t"+
		goMod+" "+petV+"\n)\n", string(e.must("/gen/go/"+conn+"/@v/"+connV+".mod", tok)))
	cf := zipFiles(t, e.must("/gen/go/"+conn+"/@v/"+connV+".zip", tok))
	require.Contains(t, cf[conn+"@"+connV+"/pet/v1/petv1connect/pet.connect.go"], "// go_package "+goMod+"/pet/v1;petv1\n")

	// A commit off the default label has the zero timestamp; its label and id find it.
	dev := e.push("acme", "petapis", map[string]string{"pet/v1/pet.proto": petProto + "message Extra {}\n"}, []string{base.ID}, "dev")
	devV := NewVersion("v1.36.11", 1, dev.ID, dev.CreatedAt, false).String()
	require.Contains(t, devV, "-00000000000000-")
	require.Equal(t, devV, e.info("/gen/go/"+goMod+"/@v/dev.info", tok).Version)
	require.Equal(t, devV, e.info("/gen/go/"+goMod+"/@v/"+dev.ID+".info", tok).Version)
	require.Equal(t, petV+"\n", string(e.must("/gen/go/"+goMod+"/@v/list", tok)), "the list holds the default label's commits")
	require.Contains(t, zipFiles(t, e.must("/gen/go/"+goMod+"/@v/"+devV+".zip", tok))[goMod+"@"+devV+"/pet/v1/pet.pb.go"], "package petv1")

	// Versions that do not match a commit, a plugin revision or the timestamp rule are absent.
	for _, bad := range []string{
		NewVersion("v1.36.11", 1, dev.ID, dev.CreatedAt, true).String(), // dev is not on the default label
		NewVersion("v1.36.11", 3, pet.ID, pet.CreatedAt, true).String(), // no such revision
		NewVersion("v1.36.12", 1, pet.ID, pet.CreatedAt, true).String(), // no such plugin version
		NewVersion("v1.36.11", 1, "ffffffffffff0000ffffffffffff0000", pet.CreatedAt, true).String(),
		"nolabel", "v1.0.0",
	} {
		for _, kind := range []string{".info", ".mod", ".zip"} {
			code, body := e.get("/gen/go/"+goMod+"/@v/"+bad+kind, tok)
			require.Equal(t, http.StatusNotFound, code, "%s%s: %s", bad, kind, body)
		}
	}

	// Private stays private: anonymous callers are asked to sign in, other organizations see nothing.
	code, _ := e.get("/gen/go/"+goMod+"/@v/list", "")
	require.Equal(t, http.StatusUnauthorized, code)
	code, _ = e.get("/gen/go/"+goMod+"/@v/"+petV+".zip", "")
	require.Equal(t, http.StatusUnauthorized, code)
	e.k.Org("other", false)
	other := e.k.Token("other", metadata.RoleRead)
	for _, p := range []string{"/@v/list", "/@latest", "/@v/" + petV + ".mod", "/@v/" + petV + ".zip", "/@v/main.info"} {
		code, body := e.get("/gen/go/"+goMod+p, other)
		require.Equal(t, http.StatusNotFound, code, "%s: %s", p, body)
		require.NotContains(t, string(body), pet.ID)
	}
	code, _ = e.get("/gen/go/"+sdkPath("acme", "petapis", "plugins", "nope")+"/@latest", tok)
	require.Equal(t, http.StatusNotFound, code)

	// go-get=1 sends the Go command to the proxy.
	meta := string(e.must("/gen/go/acme/petapis/plugins/go/pet/v1?go-get=1", ""))
	require.Contains(t, meta, `<meta name="go-import" content="`+goMod+` mod `+e.k.URL+`/gen/go">`)
}

func TestConcurrentRequestsGenerateOnce(t *testing.T) {
	e := newSDKEnv(t, harness.Embedded)
	_, pet := e.setup()
	e.runner.slow = 200 * time.Millisecond
	tok := e.k.Token("acme", metadata.RoleRead)
	mod := sdkPath("acme", "petapis", "plugins", "go")
	v := NewVersion("v1.36.11", 1, pet.ID, pet.CreatedAt, true).String()
	bodies := make([][]byte, 8)
	var wg sync.WaitGroup
	for i := range bodies {
		wg.Go(func() { bodies[i] = e.must("/gen/go/"+mod+"/@v/"+v+".zip", tok) })
	}
	wg.Wait()
	for _, b := range bodies[1:] {
		require.Equal(t, bodies[0], b)
	}
	require.EqualValues(t, 1, e.runner.runs.Load(), "one generation for eight requests")
}

func TestResolveService(t *testing.T) {
	e := newSDKEnv(t, harness.Embedded)
	_, pet := e.setup()
	tok := e.k.Token("acme", metadata.RoleRead)
	call := func(method, body, token string) (int, map[string]any) {
		req, err := http.NewRequest(http.MethodPost, e.k.URL+"/buf.alpha.registry.v1alpha1.ResolveService/"+method, strings.NewReader(body))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/json")
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		res, err := e.k.Client.Do(req)
		require.NoError(t, err)
		defer res.Body.Close()
		var out map[string]any
		require.NoError(t, json.NewDecoder(res.Body).Decode(&out))
		return res.StatusCode, out
	}
	petV := NewVersion("v1.36.11", 1, pet.ID, pet.CreatedAt, true).String()
	code, out := call("GetGoVersion", `{"pluginReference":{"owner":"plugins","name":"go"},"moduleReference":{"owner":"acme","repository":"petapis"}}`, tok)
	require.Equal(t, http.StatusOK, code, "%v", out)
	require.Equal(t, petV, out["version"])
	code, out = call("GetGoVersion", `{"pluginReference":{"owner":"plugins","name":"go"},"moduleReference":{"owner":"acme","repository":"petapis","reference":"`+pet.ID+`"}}`, tok)
	require.Equal(t, http.StatusOK, code, "%v", out)
	require.Equal(t, petV, out["version"])

	code, out = call("GetSDKInfo", `{"pluginReference":{"owner":"plugins","name":"connect"},"moduleReference":{"owner":"acme","repository":"petapis","reference":"main"}}`, tok)
	require.Equal(t, http.StatusOK, code, "%v", out)
	connV := NewVersion("v1.19.0", 2, pet.ID, pet.CreatedAt, true).String()
	require.Equal(t, connV, out["sdkVersion"])
	info, ok := out["moduleInfo"].(map[string]any)
	require.True(t, ok, "%v", out)
	// JSON timestamps carry 0, 3, 6 or 9 fractional digits: compare instants.
	created, err := time.Parse(time.RFC3339Nano, fmt.Sprint(info["moduleCommitCreateTime"]))
	require.NoError(t, err)
	require.True(t, pet.CreatedAt.Equal(created), "commit time %v, want %v", created, pet.CreatedAt)
	delete(info, "moduleCommitCreateTime")
	require.Equal(t, map[string]any{"owner": "acme", "name": "petapis", "commit": pet.ID}, info)
	require.Equal(t, map[string]any{"owner": "plugins", "name": "connect", "version": "v1.19.0", "pluginRevision": float64(2)}, out["pluginInfo"])

	code, out = call("GetSDKInfo", `{"pluginReference":{"owner":"plugins","name":"go"},"moduleReference":{"owner":"acme","repository":"petapis"},"sdkVersion":"`+petV+`"}`, tok)
	require.Equal(t, http.StatusOK, code, "%v", out)
	require.Equal(t, pet.ID, out["moduleInfo"].(map[string]any)["commit"])

	code, _ = call("GetGoVersion", `{"pluginReference":{"owner":"plugins","name":"go"},"moduleReference":{"owner":"acme","repository":"petapis"}}`, "")
	require.Equal(t, http.StatusUnauthorized, code)
	code, _ = call("GetGoVersion", `{"pluginReference":{"owner":"plugins","name":"nope"},"moduleReference":{"owner":"acme","repository":"petapis"}}`, tok)
	require.Equal(t, http.StatusNotFound, code)
}

package sdk

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/fx"
	"golang.org/x/mod/module"

	"github.com/packyard/packyard/e2e/harness"
	"github.com/packyard/packyard/ecosystems/buf"
	"github.com/packyard/packyard/ecosystems/buf/plugin"
	"github.com/packyard/packyard/pkg/access"
	"github.com/packyard/packyard/pkg/metadata"
)

// goHost is the SDK host of the Go command tests: it resolves nowhere, so
// only the proxy can serve its modules.
const goHost = "sdk.packyard.test"

const (
	goBaseProto = `syntax = "proto3";
package acme.base.v1;
// Id names a thing.
message Id { string value = 1; }
`
	goPetProto = `syntax = "proto3";
package acme.pet.v1;
import "base/v1/base.proto";
message Pet {
  acme.base.v1.Id id = 1;
  string name = 2;
}
message GetPetRequest { acme.base.v1.Id id = 1; }
message GetPetResponse { Pet pet = 1; }
service PetService {
  rpc GetPet(GetPetRequest) returns (GetPetResponse);
}
`
	goClient = `package main

import (
	"context"
	"fmt"
	"net/http"
	"os"

	"connectrpc.com/connect"
	basev1 "sdk.packyard.test/gen/go/acme/base/protocolbuffers/go/base/v1"
	"sdk.packyard.test/gen/go/acme/petapis/connectrpc/go/pet/v1/petv1connect"
	petv1 "sdk.packyard.test/gen/go/acme/petapis/protocolbuffers/go/pet/v1"
)

func main() {
	c := petv1connect.NewPetServiceClient(http.DefaultClient, os.Args[1], connect.WithProtoJSON())
	res, err := c.GetPet(context.Background(), connect.NewRequest(&petv1.GetPetRequest{Id: &basev1.Id{Value: "rex"}}))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("%s is %s\n", res.Msg.GetPet().GetId().GetValue(), res.Msg.GetPet().GetName())
}
`
)

// replica is one packyard of the Go command tests: the daemon's buf and SDK modules.
type replica struct {
	k       *harness.Kernel
	buf     *buf.Service
	catalog *plugin.Catalog
}

func startReplica(t testing.TB, backend harness.Backend, env map[string]string) replica {
	var r replica
	r.k = harness.NewKernel(t, harness.KernelOptions{Backend: backend, TLS: true, Env: env, Modules: []fx.Option{
		buf.Module, Module, fx.Populate(&r.buf, &r.catalog),
		// Compiled plugins are kept between runs, as the plugin tests keep them.
		fx.Decorate(func(c plugin.Config) plugin.Config {
			c.CacheDir = filepath.Join(os.TempDir(), "packyard-plugins", "wazero-cache")
			return c
		}),
	}})
	return r
}

// goEnv runs the go command as a user of the proxy would: packyard first,
// then the usual proxy; no checksum database for the SDK host; packyard's
// token in a netrc; its own module cache.
type goEnv struct {
	t   *testing.T
	dir string
	env []string
}

func newGoEnv(t *testing.T, r replica, token string) *goEnv {
	harness.Tool(t, "go")
	home := t.TempDir()
	netrc := filepath.Join(home, ".netrc")
	entry := ""
	if token != "" {
		entry = "machine " + r.k.Host + " login go password " + token + "\n"
	}
	require.NoError(t, os.WriteFile(netrc, []byte(entry), 0o600))
	usual, err := exec.Command("go", "env", "GOPROXY").Output()
	require.NoError(t, err)
	g := &goEnv{t: t, dir: t.TempDir()}
	g.env = append(os.Environ(),
		"GOPROXY="+r.k.URL+"/gen/go,"+strings.TrimSpace(string(usual)),
		"GONOSUMDB="+goHost, "GOPRIVATE=", "GONOPROXY=", "GOINSECURE=",
		"NETRC="+netrc, "GOAUTH=netrc", "SSL_CERT_FILE="+r.k.CAFile,
		"GOMODCACHE="+filepath.Join(home, "mod"), "GOFLAGS=-modcacherw -mod=mod", "GOTOOLCHAIN=local", "GOWORK=off",
	)
	require.NoError(t, os.WriteFile(filepath.Join(g.dir, "go.mod"), []byte("module example.com/client\n\ngo 1.26\n"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(g.dir, "main.go"), []byte(goClient), 0o644))
	return g
}

func (g *goEnv) run(args ...string) string {
	g.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir, cmd.Env = g.dir, g.env
	out, err := cmd.CombinedOutput()
	require.NoError(g.t, err, "go %s:\n%s", strings.Join(args, " "), out)
	return string(out)
}

// required returns the version go.mod requires of mod.
func (g *goEnv) required(mod string) string {
	g.t.Helper()
	b, err := os.ReadFile(filepath.Join(g.dir, "go.mod"))
	require.NoError(g.t, err)
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && f[0] == mod {
			return f[1]
		}
		if len(f) >= 3 && f[0] == "require" && f[1] == mod {
			return f[2]
		}
	}
	g.t.Fatalf("go.mod does not require %s:\n%s", mod, b)
	return ""
}

// downloaded is the zip of mod@version the go command keeps in its cache.
func (g *goEnv) downloaded(mod, version string) []byte {
	g.t.Helper()
	esc, err := module.EscapePath(mod)
	require.NoError(g.t, err)
	var cache string
	for _, kv := range g.env {
		if v, ok := strings.CutPrefix(kv, "GOMODCACHE="); ok {
			cache = v
		}
	}
	b, err := os.ReadFile(filepath.Join(cache, "cache", "download", esc, "@v", version+".zip"))
	require.NoError(g.t, err)
	return b
}

// petServer serves PetService.GetPet over Connect's JSON protocol.
func petServer(t *testing.T) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/acme.pet.v1.PetService/GetPet" || r.Header.Get("Content-Type") != "application/json" {
			http.Error(w, "unexpected "+r.URL.Path, http.StatusNotFound)
			return
		}
		var req struct {
			ID struct{ Value string } `json:"id"`
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"pet":{"id":{"value":%q},"name":"a good dog"}}`, req.ID.Value)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// addGoPlugins builds protoc-gen-go and protoc-gen-connect-go for WASI and
// adds them as protocolbuffers/go and connectrpc/go.
func addGoPlugins(t testing.TB, r replica) {
	ctx := context.Background()
	r.k.Org("protocolbuffers", true)
	r.k.Org("connectrpc", true)
	for _, p := range []plugin.AddRequest{
		{Owner: "protocolbuffers", Name: "go", Version: "v1.36.12", GoDeps: []string{"google.golang.org/protobuf@v1.36.12"},
			GoMinVersion: "1.23", Wasm: readFile(t, harness.WasmPlugin(t, harness.ProtocGenGo))},
		{Owner: "connectrpc", Name: "go", Version: "v1.21.1", GoDeps: []string{"connectrpc.com/connect@v1.21.1"},
			BasePlugin: "protocolbuffers/go", GoMinVersion: "1.23", Wasm: readFile(t, harness.WasmPlugin(t, harness.ProtocGenConnectGo))},
	} {
		_, _, err := r.catalog.Add(ctx, p)
		require.NoError(t, err, "add %s/%s", p.Owner, p.Name)
	}
}

func readFile(t testing.TB, p string) []byte {
	b, err := os.ReadFile(p)
	require.NoError(t, err)
	return b
}

// pushAs uploads files to owner/name (created if needed) as a site administrator.
func pushAs(t testing.TB, r replica, owner, name string, files map[string]string, deps []string, labels ...string) buf.Commit {
	ctx := context.Background()
	u, err := r.k.Meta.GetUser(ctx, "root")
	if err != nil {
		u, err = r.k.Auth.CreateUser(ctx, "root", true)
		require.NoError(t, err)
	}
	admin := access.WithPrincipal(ctx, &access.Principal{UserID: u.ID, UserName: u.Name, SiteAdmin: true, Scope: metadata.RoleAdmin, Method: "test"})
	if _, err := r.buf.CreateModule(admin, buf.NewModule{Owner: buf.OwnerRef{Name: owner}, Name: name}); err != nil {
		require.Contains(t, err.Error(), "already exists")
	}
	var fs []buf.UploadFile
	for p, c := range files {
		fs = append(fs, buf.UploadFile{Path: p, Content: []byte(c)})
	}
	var ls []buf.ScopedLabel
	for _, l := range labels {
		ls = append(ls, buf.ScopedLabel{Name: l})
	}
	cs, err := r.buf.Upload(admin, []buf.UploadContent{{Module: buf.ModuleRef{Owner: owner, Name: name}, Files: fs, Labels: ls}}, deps)
	require.NoError(t, err)
	return cs[0]
}

// fetch downloads a proxy path from a replica with a token.
func fetch(t testing.TB, r replica, p, token string) []byte {
	req, err := http.NewRequest(http.MethodGet, r.k.URL+"/gen/go/"+p, nil)
	require.NoError(t, err)
	req.SetBasicAuth("go", token)
	client := *r.k.Client
	client.Timeout = 10 * time.Minute // generations queue for the sandbox's parallelism
	res, err := client.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, res.StatusCode, "%s: %s", p, b)
	return b
}

// TestGoCommand installs generated SDKs with the real go command from two
// replicas on PostgreSQL, MinIO and Redis: go get @latest, by commit id and
// by label; go build; go run a client that calls a Connect service through
// the generated code; and both replicas serve the same zip bytes, also
// when the zip is generated again.
func TestGoCommand(t *testing.T) {
	env := map[string]string{"PACKYARD_BUF_SDK_HOST": goHost}
	r1 := startReplica(t, harness.Services, env)
	env2 := map[string]string{}
	for k, v := range r1.k.Env {
		env2[k] = v
	}
	env2["PACKYARD_HTTP_ADDR"] = "127.0.0.1:0"
	delete(env2, "PACKYARD_TLS_CERT_FILE") // its own certificate, signed by its own CA
	delete(env2, "PACKYARD_TLS_KEY_FILE")
	r2 := startReplica(t, harness.Embedded, env2)
	addGoPlugins(t, r1)
	t.Log("plugins added")

	r1.k.Org("acme", false)
	token := r1.k.Token("acme", metadata.RoleRead)
	base := pushAs(t, r1, "acme", "base", map[string]string{"base/v1/base.proto": goBaseProto}, nil)
	first := pushAs(t, r1, "acme", "petapis", map[string]string{"pet/v1/pet.proto": goPetProto}, []string{base.ID})
	time.Sleep(2 * time.Millisecond) // another commit id prefix (its first 12 digits are a time in milliseconds)
	latest := pushAs(t, r1, "acme", "petapis", map[string]string{"pet/v1/pet.proto": goPetProto + "// The latest.\n"}, []string{base.ID})
	dev := pushAs(t, r1, "acme", "petapis", map[string]string{"pet/v1/pet.proto": goPetProto + "// In development.\n"}, []string{base.ID}, "dev")

	connMod := goHost + "/gen/go/acme/petapis/connectrpc/go"
	pbMod := goHost + "/gen/go/acme/petapis/protocolbuffers/go"
	baseMod := goHost + "/gen/go/acme/base/protocolbuffers/go"
	version := func(pluginVersion string, rev int, c buf.Commit, onDefault bool) string {
		return NewVersion(pluginVersion, rev, c.ID, c.CreatedAt, onDefault).String()
	}

	g := newGoEnv(t, r1, token)
	t.Log("go get @latest")
	g.run("get", connMod+"@latest")
	require.Equal(t, version("v1.21.1", 1, latest, true), g.required(connMod))
	t.Log("go build")
	g.run("build", "-o", filepath.Join(t.TempDir(), "client"), ".")
	require.Equal(t, version("v1.36.12", 1, latest, true), g.required(pbMod))
	require.Equal(t, version("v1.36.12", 1, base, true), g.required(baseMod))
	require.Equal(t, "rex is a good dog\n", g.run("run", ".", petServer(t)))

	// The buf CLI prints the version the go command chose.
	bc := harness.Buf(t, r1.k.Host, r1.k.CAFile)
	bc.Token = token
	out := bc.Run(bc.Root, "registry", "sdk", "version", "--module="+r1.k.Host+"/acme/petapis", "--plugin="+r1.k.Host+"/connectrpc/go")
	require.Equal(t, g.required(connMod), strings.TrimSpace(out))

	// The generated code is laid out as buf lays out its SDKs.
	zipped := zipFiles(t, g.downloaded(pbMod, g.required(pbMod)))
	prefix := pbMod + "@" + g.required(pbMod) + "/"
	require.Contains(t, zipped, prefix+"pet/v1/pet.pb.go")
	require.Contains(t, zipped[prefix+"pet/v1/pet.pb.go"], "package petv1\n")
	require.Contains(t, zipped[prefix+"go.mod"], "\ngo 1.23\n")

	t.Log("go get by commit and label")
	// By commit id and by label.
	g.run("get", connMod+"@"+first.ID)
	require.Equal(t, version("v1.21.1", 1, first, true), g.required(connMod))
	g.run("get", connMod+"@dev")
	require.Equal(t, version("v1.21.1", 1, dev, false), g.required(connMod))
	require.Contains(t, g.required(connMod), "-00000000000000-")
	g.run("build", "./...")

	t.Log("replicas")
	// The second replica serves the bytes the go command downloaded from the first.
	v := g.required(pbMod)
	zipPath := module.Version{Path: pbMod, Version: v}
	esc, _ := module.EscapePath(zipPath.Path)
	fromGo := g.downloaded(pbMod, v)
	require.Equal(t, fromGo, fetch(t, r2, esc+"/@v/"+v+".zip", token))

	// Generated again, on the other replica, the zip is byte-identical; two
	// replicas asked at once generate a new SDK once and answer the same bytes.
	_, err := r1.k.DB.Exec(context.Background(), `DELETE FROM buf_sdk_zips WHERE version = ?`, v)
	require.NoError(t, err)
	require.Equal(t, fromGo, fetch(t, r2, esc+"/@v/"+v+".zip", token))

	fresh := version("v1.36.12", 1, first, true)
	var wg sync.WaitGroup
	bodies := make([][]byte, 4)
	for i := range bodies {
		r := []replica{r1, r2}[i%2]
		wg.Go(func() { bodies[i] = fetch(t, r, esc+"/@v/"+fresh+".zip", token) })
	}
	wg.Wait()
	for _, b := range bodies[1:] {
		require.Equal(t, bodies[0], b)
	}
	var n int
	require.NoError(t, r1.k.DB.QueryRow(context.Background(), `SELECT COUNT(*) FROM buf_sdk_zips WHERE version = ?`, fresh).Scan(&n))
	require.Equal(t, 1, n)

	// Without the token the go command is refused, not sent to the next proxy.
	anon := newGoEnv(t, r1, "")
	cmd := exec.Command("go", "get", connMod+"@latest")
	cmd.Dir, cmd.Env = anon.dir, anon.env
	refused, err := cmd.CombinedOutput()
	require.Error(t, err, "%s", refused)
	require.Contains(t, string(refused), "401")
}

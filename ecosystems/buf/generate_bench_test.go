package buf

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"connectrpc.com/connect"
	"github.com/bufbuild/protocompile"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"

	"github.com/packyard/packyard/e2e/harness"
	"github.com/packyard/packyard/ecosystems/buf/alpha/imagev1"
	alphav1 "github.com/packyard/packyard/ecosystems/buf/alpha/registryv1alpha1"
	"github.com/packyard/packyard/ecosystems/buf/plugin"
)

// benchImage is the image the buf CLI sends for a module of n files, each
// importing the one before, with comments (source info) as buf keeps them.
func benchImage(b *testing.B, n int) *imagev1.Image {
	b.Helper()
	src := map[string]string{}
	names := make([]string, n)
	for i := range n {
		names[i] = fmt.Sprintf("bench/v1/m%03d.proto", i)
		imp := ""
		field := ""
		if i > 0 {
			imp = fmt.Sprintf("import %q;\n", names[i-1])
			field = fmt.Sprintf("  M%03d prev = 4;\n", i-1)
		}
		src[names[i]] = fmt.Sprintf("syntax = \"proto3\";\npackage bench.v1;\noption go_package = \"example.com/gen/bench/v1;benchv1\";\n%s"+
			"// M%03d is message %d.\nmessage M%03d {\n  string id = 1;\n  int64 n = 2;\n  repeated string tags = 3;\n%s}\n"+
			"enum E%03d { E%03d_UNSPECIFIED = 0; E%03d_ONE = 1; }\n", imp, i, i, i, field, i, i, i)
	}
	c := protocompile.Compiler{
		Resolver: protocompile.ResolverFunc(func(path string) (protocompile.SearchResult, error) {
			s, ok := src[path]
			if !ok {
				return protocompile.SearchResult{}, os.ErrNotExist
			}
			return protocompile.SearchResult{Source: strings.NewReader(s)}, nil
		}),
		SourceInfoMode: protocompile.SourceInfoStandard,
	}
	res, err := c.Compile(context.Background(), names...)
	require.NoError(b, err)
	img := &imagev1.Image{}
	for _, f := range res {
		raw, err := proto.Marshal(protodesc.ToFileDescriptorProto(f))
		require.NoError(b, err)
		imf := &imagev1.ImageFile{}
		require.NoError(b, proto.Unmarshal(raw, imf))
		imf.BufExtension = &imagev1.ImageFileExtension{IsImport: proto.Bool(false)}
		img.File = append(img.File, imf)
	}
	return img
}

// BenchmarkGenerateCode runs protoc-gen-go (WASI) on a 100-file module
// through GenerateCode: "first" on a fresh runner with an empty
// compilation cache (compile, then run), "disk-cache" on a fresh runner
// over a filled cache (a restarted replica), "warm" on a runner that
// already compiled the plugin.
func BenchmarkGenerateCode(b *testing.B) {
	e := newPluginEnv(b, "sqlite")
	e.k.Org("bench", true)
	wasm, err := os.ReadFile(harness.WasmPlugin(b, harness.ProtocGenGo))
	require.NoError(b, err)
	_, _, err = e.cat.Add(context.Background(), plugin.AddRequest{Owner: "bench", Name: "go", Version: "v1.36.12", Wasm: wasm})
	require.NoError(b, err)
	req := connect.NewRequest(&alphav1.GenerateCodeRequest{
		Image:    benchImage(b, 100),
		Requests: []*alphav1.PluginGenerationRequest{{PluginReference: &alphav1.CuratedPluginReference{Owner: "bench", Name: "go"}, Options: []string{"paths=source_relative"}}},
	})
	generate := func(b *testing.B, run *plugin.Runner) {
		res, err := (&codegen{s: e.svc, cat: e.cat, run: run}).GenerateCode(context.Background(), req)
		require.NoError(b, err)
		require.Len(b, res.Msg.GetResponses()[0].GetResponse().GetFile(), 100)
	}
	runner := func(b *testing.B, cacheDir string) *plugin.Runner {
		cfg := plugin.DefaultConfig()
		cfg.CacheDir = cacheDir
		r, err := plugin.NewRunner(plugin.RunnerParams{Config: cfg, CAS: e.k.CAS})
		require.NoError(b, err)
		return r
	}
	b.Run("first", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			b.StopTimer()
			r := runner(b, filepath.Join(b.TempDir(), fmt.Sprint(i)))
			b.StartTimer()
			generate(b, r)
			b.StopTimer()
			require.NoError(b, r.Close(context.Background()))
			b.StartTimer()
		}
	})
	cache := b.TempDir()
	generate(b, runner(b, cache)) // fill the cache
	b.Run("disk-cache", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			b.StopTimer()
			r := runner(b, cache)
			b.StartTimer()
			generate(b, r)
			b.StopTimer()
			require.NoError(b, r.Close(context.Background()))
			b.StartTimer()
		}
	})
	b.Run("warm", func(b *testing.B) {
		r := runner(b, cache)
		generate(b, r)
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			generate(b, r)
		}
	})
}

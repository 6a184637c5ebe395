package buf

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	modulev1 "buf.build/gen/go/bufbuild/registry/protocolbuffers/go/buf/registry/module/v1"
	"connectrpc.com/connect"
	"github.com/stretchr/testify/require"

	"github.com/packyard/packyard/e2e/harness"
	"github.com/packyard/packyard/pkg/metadata"
)

// Benchmarks go through a real Connect client over HTTP to the registry on
// a real database and CAS (SQLite + filesystem, PostgreSQL + MinIO).

var benchDialects = []string{"sqlite", "postgres"}

func benchEnv(b *testing.B, dialect string) (*env, clients) {
	cfg := DefaultConfig()
	cfg.MaxFiles = 100000
	e := newEnv(b, dialect, cfg)
	c := e.clients(e.org("bench", false, metadata.RoleWrite))
	return e, c
}

// bigModule is a module of n .proto files; salt makes its content unique.
func bigModule(n int, salt string) (map[string]string, int64) {
	files := make(map[string]string, n)
	var size int64
	for i := 0; i < n; i++ {
		src := fmt.Sprintf("syntax = \"proto3\";\npackage big.v%d;\n// %s\nmessage M%d { string id = 1; int64 n = 2; repeated string tags = 3; }\n", i, salt, i)
		files[fmt.Sprintf("big/v%d/m%d.proto", i/100, i)] = src
		size += int64(len(src))
	}
	return files, size
}

func BenchmarkUpload1000Files(b *testing.B) {
	for _, d := range benchDialects {
		b.Run(d, func(b *testing.B) {
			e, c := benchEnv(b, d)
			c.create(b, "bench", "big", modulev1.ModuleVisibility_MODULE_VISIBILITY_PRIVATE)
			_ = e
			ctx := context.Background()
			_, size := bigModule(1000, "0")
			b.SetBytes(size)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				files, _ := bigModule(1000, fmt.Sprint(i))
				b.StartTimer()
				_, err := c.push(ctx, nil, content{owner: "bench", name: "big", files: files})
				require.NoError(b, err)
			}
		})
	}
}

func BenchmarkDownload1000Files(b *testing.B) {
	for _, d := range benchDialects {
		b.Run(d, func(b *testing.B) {
			_, c := benchEnv(b, d)
			ctx := context.Background()
			c.create(b, "bench", "big", modulev1.ModuleVisibility_MODULE_VISIBILITY_PRIVATE)
			files, size := bigModule(1000, "x")
			commits, err := c.push(ctx, nil, content{owner: "bench", name: "big", files: files})
			require.NoError(b, err)
			req := modulev1.DownloadRequest_builder{Values: []*modulev1.DownloadRequest_Value{
				modulev1.DownloadRequest_Value_builder{ResourceRef: modulev1.ResourceRef_builder{Id: ptr(commits[0].GetId())}.Build()}.Build(),
			}}.Build()
			b.SetBytes(size)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				res, err := c.download.Download(ctx, connect.NewRequest(req))
				require.NoError(b, err)
				require.Len(b, res.Msg.GetContents()[0].GetFiles(), 1000)
			}
		})
	}
}

func BenchmarkGetGraph50Nodes(b *testing.B) {
	for _, d := range benchDialects {
		b.Run(d, func(b *testing.B) {
			_, c := benchEnv(b, d)
			ctx := context.Background()
			// m0 <- m1 <- ... <- m49, each also importing m(i/2): a graph of 50
			// commits with shared transitive dependencies, pushed together.
			var cs []content
			for i := 0; i < 50; i++ {
				name := fmt.Sprintf("m%d", i)
				c.create(b, "bench", name, modulev1.ModuleVisibility_MODULE_VISIBILITY_PRIVATE)
				var imports []string
				if i > 0 {
					imports = append(imports, fmt.Sprintf("m%d.proto", i-1))
					if i/2 != i-1 {
						imports = append(imports, fmt.Sprintf("m%d.proto", i/2))
					}
				}
				cs = append(cs, content{owner: "bench", name: name, files: map[string]string{name + ".proto": proto3(name, imports...)}})
			}
			commits, err := c.push(ctx, nil, cs...)
			require.NoError(b, err)
			req := modulev1.GetGraphRequest_builder{ResourceRefs: []*modulev1.ResourceRef{resRef("bench", "m49", commits[49].GetId())}}.Build()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				res, err := c.graph.GetGraph(ctx, connect.NewRequest(req))
				require.NoError(b, err)
				require.Len(b, res.Msg.GetGraph().GetCommits(), 50)
			}
		})
	}
}

func BenchmarkGetCommitsByLabel(b *testing.B) {
	for _, d := range benchDialects {
		b.Run(d, func(b *testing.B) {
			_, c := benchEnv(b, d)
			ctx := context.Background()
			c.create(b, "bench", "lab", modulev1.ModuleVisibility_MODULE_VISIBILITY_PRIVATE)
			for i := 0; i < 20; i++ {
				_, err := c.push(ctx, nil, content{owner: "bench", name: "lab", labels: []string{"main", fmt.Sprintf("v%d", i)},
					files: map[string]string{"lab.proto": proto3("lab") + fmt.Sprintf("// %d\n", i)}})
				require.NoError(b, err)
			}
			req := modulev1.GetCommitsRequest_builder{ResourceRefs: []*modulev1.ResourceRef{resRef("bench", "lab", "v7")}}.Build()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				res, err := c.commit.GetCommits(ctx, connect.NewRequest(req))
				require.NoError(b, err)
				require.Len(b, res.Msg.GetCommits(), 1)
			}
		})
	}
}

// BenchmarkGetModulesMaxRefs asks for as many modules as one request may
// name (PACKYARD_BUF_MAX_REFS_PER_REQUEST), by name.
func BenchmarkGetModulesMaxRefs(b *testing.B) {
	for _, d := range benchDialects {
		b.Run(d, func(b *testing.B) {
			e, c := benchEnv(b, d)
			ctx := context.Background()
			n := e.svc.cfg.MaxRefsPerRequest
			vals := make([]*modulev1.CreateModulesRequest_Value, n)
			refs := make([]*modulev1.ModuleRef, n)
			for i := range vals {
				name := fmt.Sprintf("m%d", i)
				vals[i] = modulev1.CreateModulesRequest_Value_builder{OwnerRef: ownerName("bench"), Name: name}.Build()
				refs[i] = modRef("bench", name)
			}
			_, err := c.module.CreateModules(ctx, connect.NewRequest(modulev1.CreateModulesRequest_builder{Values: vals}.Build()))
			require.NoError(b, err)
			req := modulev1.GetModulesRequest_builder{ModuleRefs: refs}.Build()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				res, err := c.module.GetModules(ctx, connect.NewRequest(req))
				require.NoError(b, err)
				require.Len(b, res.Msg.GetModules(), n)
			}
		})
	}
}

// BenchmarkDownloadScale compares a Download of one 100-file module in a
// registry of 10 modules with the same Download in one of 1,000 modules
// (10,000 with PACKYARD_BENCH_100K=1; seeding takes minutes), on SQLite and on
// PostgreSQL: the cost of a Download must not grow with the registry. Both
// registries are seeded once and then asked in alternating order, one
// Download each per iteration; the metrics are the median latency of each
// and large/small, their ratio.
func BenchmarkDownloadScale(b *testing.B) {
	large := 1000
	if os.Getenv("PACKYARD_BENCH_100K") == "1" {
		large = 10000
	}
	for _, d := range benchDialects {
		b.Run(fmt.Sprintf("%s/modules=%d", d, large), func(b *testing.B) {
			small, big := scaleRegistry(b, d, 10), scaleRegistry(b, d, large)
			harness.ReportMedians(b, "", harness.Interleaved(b, small, big))
		})
	}
}

// scaleRegistry is a registry of n one-file modules and a 100-file module,
// and a Download of the latter that checks its answer.
func scaleRegistry(b *testing.B, dialect string, n int) func() {
	_, c := benchEnv(b, dialect)
	ctx := context.Background()
	t0 := time.Now()
	seedModules(b, c, n)
	b.Logf("%s: %d modules seeded in %s", dialect, n, time.Since(t0).Round(time.Millisecond))
	files, _ := bigModule(100, "scale")
	c.create(b, "bench", "target", modulev1.ModuleVisibility_MODULE_VISIBILITY_PRIVATE)
	commits, err := c.push(ctx, nil, content{owner: "bench", name: "target", files: files})
	require.NoError(b, err)
	req := connect.NewRequest(modulev1.DownloadRequest_builder{Values: []*modulev1.DownloadRequest_Value{
		modulev1.DownloadRequest_Value_builder{ResourceRef: modulev1.ResourceRef_builder{Id: ptr(commits[0].GetId())}.Build()}.Build(),
	}}.Build())
	return func() {
		res, err := c.download.Download(ctx, req)
		if err != nil || len(res.Msg.GetContents()[0].GetFiles()) != 100 {
			b.Fatalf("download: %v", err)
		}
	}
}

// seedModules creates n one-file modules, each with one commit: created
// and pushed in batches of 100 (one CreateModules and one Upload per
// batch, as a workspace push).
func seedModules(b *testing.B, c clients, n int) {
	ctx := context.Background()
	const batch = 100
	for start := 0; start < n; start += batch {
		var cs []content
		var vals []*modulev1.CreateModulesRequest_Value
		for i := start; i < min(start+batch, n); i++ {
			name := fmt.Sprintf("s%d", i)
			vals = append(vals, modulev1.CreateModulesRequest_Value_builder{OwnerRef: ownerName("bench"), Name: name,
				Visibility: modulev1.ModuleVisibility_MODULE_VISIBILITY_PRIVATE}.Build())
			cs = append(cs, content{owner: "bench", name: name, files: map[string]string{name + ".proto": proto3(name)}})
		}
		_, err := c.module.CreateModules(ctx, connect.NewRequest(modulev1.CreateModulesRequest_builder{Values: vals}.Build()))
		require.NoError(b, err)
		_, err = c.push(ctx, nil, cs...)
		require.NoError(b, err)
	}
}

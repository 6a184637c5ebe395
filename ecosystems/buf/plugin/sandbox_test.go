package plugin_test

import (
	"context"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/pluginpb"

	"github.com/packyard/packyard/e2e/harness"
	"github.com/packyard/packyard/ecosystems/buf/plugin"
	"github.com/packyard/packyard/pkg/errs"
)

// TestSandbox runs a plugin that misbehaves in every way the sandbox must
// contain: each run ends with an error naming the plugin and the limit,
// and the runner keeps serving good runs afterwards.
func TestSandbox(t *testing.T) {
	ctx := context.Background()
	// Generous limits but the memory one, so that a loaded machine (or the
	// race detector) does not turn a slow run into a time-out; the loop runs
	// on a runner with a short one.
	cfg := sandboxConfig()
	cfg.Timeout = 2 * time.Minute
	f := newFixture(t, harness.Embedded, cfg)
	short := cfg
	short.Timeout = 5 * time.Second
	looper, err := plugin.NewRunner(plugin.RunnerParams{Config: short, CAS: f.k.CAS})
	require.NoError(t, err)
	t.Cleanup(func() { _ = looper.Close(context.Background()) })
	f.k.Org("acme", false)
	wasm, err := os.ReadFile(harness.WasmPlugin(t, "./ecosystems/buf/plugin/testdata/misbehave"))
	require.NoError(t, err)
	p, _, err := f.cat.Add(ctx, plugin.AddRequest{Owner: "acme", Name: "misbehave", Version: "v1.0.0", Wasm: wasm})
	require.NoError(t, err)
	files := []*descriptorpb.FileDescriptorProto{{Name: proto.String("a.proto")}, {Name: proto.String("b.proto")}}
	req := func(param string) *pluginpb.CodeGeneratorRequest {
		return plugin.NewRequest(files, []string{"b.proto"}, param)
	}
	run := func(param string) (*pluginpb.CodeGeneratorResponse, error) { return f.run.Run(ctx, p, req(param)) }

	t.Run("echo", func(t *testing.T) {
		res, err := run("echo")
		require.NoError(t, err)
		require.Equal(t, "files: b.proto\n", res.GetFile()[0].GetContent())
	})
	t.Run("loop", func(t *testing.T) {
		_, err := looper.Run(ctx, p, req("echo")) // compiled before the clock starts
		require.NoError(t, err)
		start := time.Now()
		_, err = looper.Run(ctx, p, req("loop"))
		require.ErrorIs(t, err, errs.ErrResourceExhausted)
		require.Contains(t, err.Error(), "acme/misbehave:v1.0.0")
		require.Contains(t, err.Error(), "PACKYARD_BUF_PLUGIN_TIMEOUT")
		require.Less(t, time.Since(start), short.Timeout+30*time.Second, "stopped at the limit")
		res, err := run("echo")
		require.NoError(t, err, "the runner serves on")
		require.NotEmpty(t, res.GetFile())
	})
	t.Run("alloc", func(t *testing.T) {
		_, err := run("alloc")
		require.ErrorIs(t, err, errs.ErrResourceExhausted)
		require.Contains(t, err.Error(), "acme/misbehave:v1.0.0")
		require.Contains(t, err.Error(), "PACKYARD_BUF_PLUGIN_MEMORY_LIMIT")
	})
	t.Run("open", func(t *testing.T) {
		res, err := run("open")
		require.NoError(t, err)
		report := res.GetFile()[0].GetContent()
		for _, line := range []string{"read /etc/passwd: true", "read go.mod: true", "read /: true", "read .: true",
			"create: true", "dial: true", "env: 0"} {
			require.Contains(t, report, line+"\n", "no files, no network, no environment, no clock:\n%s", report)
		}
		require.NotContains(t, report, "year: "+strconv.Itoa(time.Now().Year()), "a fixed clock")
		_, statErr := os.Stat("/tmp/packyard-sandbox-escape")
		require.True(t, os.IsNotExist(statErr))
	})
	t.Run("garbage", func(t *testing.T) {
		_, err := run("garbage")
		require.ErrorIs(t, err, errs.ErrFailedPrecondition)
		require.Contains(t, err.Error(), "invalid CodeGeneratorResponse")
	})
	t.Run("exit", func(t *testing.T) {
		_, err := run("exit")
		require.ErrorIs(t, err, errs.ErrFailedPrecondition)
		require.Contains(t, err.Error(), "exit code 3")
	})
	t.Run("parallel", func(t *testing.T) {
		// More runs than slots: they wait their turn; all succeed.
		var wg sync.WaitGroup
		errs := make([]error, 2*cfg.Parallelism+1)
		for i := range errs {
			wg.Go(func() {
				res, err := run("echo")
				if err == nil && !strings.HasPrefix(res.GetFile()[0].GetContent(), "files: b.proto") {
					err = os.ErrInvalid
				}
				errs[i] = err
			})
		}
		wg.Wait()
		for _, err := range errs {
			require.NoError(t, err)
		}
	})
}

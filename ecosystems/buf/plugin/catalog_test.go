package plugin_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/packyard/packyard/e2e/harness"
	"github.com/packyard/packyard/ecosystems/buf/plugin"
	"github.com/packyard/packyard/pkg/errs"
)

// sandboxConfig are small limits, so the tests reach them quickly, and a
// compilation cache shared by test runs.
func sandboxConfig() plugin.Config {
	c := plugin.DefaultConfig()
	c.MemoryLimit = 64 << 20
	c.Timeout = 5e9
	c.Parallelism = 2
	c.MaxOutput = 1 << 20
	c.CacheDir = filepath.Join(os.TempDir(), "packyard-plugins", "wazero-cache")
	return c
}

type fixture struct {
	k   *harness.Kernel
	cat *plugin.Catalog
	run *plugin.Runner
}

func newFixture(t testing.TB, backend harness.Backend, cfg plugin.Config) *fixture {
	t.Helper()
	k := harness.NewKernel(t, harness.KernelOptions{Backend: backend})
	run, err := plugin.NewRunner(plugin.RunnerParams{Config: cfg, CAS: k.CAS, Log: k.Log})
	require.NoError(t, err)
	t.Cleanup(func() { _ = run.Close(context.Background()) })
	cat, err := plugin.NewCatalog(plugin.CatalogParams{Config: cfg, Meta: k.Meta, CAS: k.CAS, Validator: run, Dropper: run})
	require.NoError(t, err)
	return &fixture{k: k, cat: cat, run: run}
}

func TestCatalog(t *testing.T) {
	for _, b := range []struct {
		name    string
		backend harness.Backend
	}{{"sqlite", harness.Embedded}, {"postgres", harness.Services}} {
		t.Run(b.name, func(t *testing.T) { testCatalog(t, b.backend) })
	}
}

func testCatalog(t *testing.T, backend harness.Backend) {
	ctx := context.Background()
	f := newFixture(t, backend, sandboxConfig())
	f.k.Org("acme", false)
	f.k.Org("other", false)
	wasm, err := os.ReadFile(harness.WasmPlugin(t, "./ecosystems/buf/plugin/testdata/misbehave"))
	require.NoError(t, err)
	other := appendCustomSection(wasm, "packyard-test")

	add := func(version string, b []byte, deps ...string) (plugin.Plugin, bool) {
		t.Helper()
		p, created, err := f.cat.Add(ctx, plugin.AddRequest{Owner: "acme", Name: "misbehave", Version: version, Wasm: b, GoDeps: deps, GoMinVersion: "1.21"})
		require.NoError(t, err)
		return p, created
	}
	p1, created := add("v1.0.0", wasm, "google.golang.org/protobuf@v1.36.12")
	require.True(t, created)
	require.Equal(t, 1, p1.Revision)
	require.Equal(t, []string{"google.golang.org/protobuf@v1.36.12"}, p1.GoDeps)
	same, created := add("v1.0.0", wasm, "google.golang.org/protobuf@v1.36.12")
	require.False(t, created, "the same bytes again change nothing")
	require.Equal(t, p1.ID, same.ID)
	p2, created := add("v1.0.0", other, "google.golang.org/protobuf@v1.36.12")
	require.True(t, created)
	require.Equal(t, 2, p2.Revision, "other bytes make the next revision")
	p3, _ := add("v1.0.0", other, "google.golang.org/protobuf@v1.36.11")
	require.Equal(t, 3, p3.Revision, "other settings make the next revision")
	v09, _ := add("v0.9.0", wasm)
	require.Equal(t, 1, v09.Revision)

	got, err := f.cat.Resolve(ctx, "acme", "misbehave", "", 0)
	require.NoError(t, err)
	require.Equal(t, p3.ID, got.ID, "unpinned: the latest version, latest revision")
	got, err = f.cat.Resolve(ctx, "acme", "misbehave", "v1.0.0", 1)
	require.NoError(t, err)
	require.Equal(t, p1.ID, got.ID)
	require.Equal(t, p1.WasmDigest, got.WasmDigest)
	for _, ref := range [][2]string{{"acme", "nope"}, {"other", "misbehave"}, {"nobody", "misbehave"}} {
		_, err = f.cat.Resolve(ctx, ref[0], ref[1], "", 0)
		require.ErrorIs(t, err, errs.ErrNotFound, ref)
	}
	_, err = f.cat.Resolve(ctx, "acme", "misbehave", "v1.0.0", 9)
	require.ErrorIs(t, err, errs.ErrNotFound)
	_, err = f.cat.Resolve(ctx, "acme", "misbehave", "v3.0.0", 0)
	require.ErrorIs(t, err, errs.ErrNotFound)

	list, err := f.cat.List(ctx, "acme")
	require.NoError(t, err)
	require.Len(t, list, 4)
	require.Equal(t, []int{3, 2, 1, 1}, []int{list[0].Revision, list[1].Revision, list[2].Revision, list[3].Revision})
	none, err := f.cat.List(ctx, "other")
	require.NoError(t, err)
	require.Empty(t, none)

	// Bad input is refused before anything is stored.
	_, _, err = f.cat.Add(ctx, plugin.AddRequest{Owner: "acme", Name: "bad", Version: "v1.0.0", Wasm: []byte("#!/bin/sh\n")})
	require.ErrorIs(t, err, errs.ErrInvalidArgument)
	_, _, err = f.cat.Add(ctx, plugin.AddRequest{Owner: "acme", Name: "bad", Version: "v1.0.0", Wasm: []byte("\x00asm\x01\x00\x00\x00\x01")})
	require.ErrorIs(t, err, errs.ErrInvalidArgument, "a truncated module is refused")
	_, _, err = f.cat.Add(ctx, plugin.AddRequest{Owner: "nobody", Name: "bad", Version: "v1.0.0", Wasm: wasm})
	require.ErrorIs(t, err, errs.ErrNotFound)

	n, err := f.cat.Remove(ctx, "acme", "misbehave", "v1.0.0")
	require.NoError(t, err)
	require.Equal(t, 3, n)
	got, err = f.cat.Resolve(ctx, "acme", "misbehave", "", 0)
	require.NoError(t, err)
	require.Equal(t, v09.ID, got.ID)
	n, err = f.cat.Remove(ctx, "acme", "misbehave", "")
	require.NoError(t, err)
	require.Equal(t, 1, n)
	_, err = f.cat.Remove(ctx, "acme", "misbehave", "")
	require.ErrorIs(t, err, errs.ErrNotFound)
	blob, err := f.k.Meta.GetBlob(ctx, p1.WasmDigest)
	require.NoError(t, err, "the bytes stay until garbage collection")
	require.Equal(t, int64(len(wasm)), blob.Size)
}

// appendCustomSection returns wasm with a custom section added: other
// bytes, the same program.
func appendCustomSection(wasm []byte, name string) []byte {
	body := append(append([]byte{byte(len(name))}, name...), "payload"...)
	out := append([]byte(nil), wasm...)
	return append(append(out, 0, byte(len(body))), body...)
}

// Removing a plugin releases its compiled module on this replica, unless
// another revision is made of the same bytes.
func TestRemoveReleasesCompiledModule(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, harness.Embedded, sandboxConfig())
	f.k.Org("acme", false)
	wasm, err := os.ReadFile(harness.WasmPlugin(t, "./ecosystems/buf/plugin/testdata/misbehave"))
	require.NoError(t, err)
	other := appendCustomSection(wasm, "packyard-test")
	add := func(name string, b []byte) plugin.Plugin {
		p, _, err := f.cat.Add(ctx, plugin.AddRequest{Owner: "acme", Name: name, Version: "v1.0.0", Wasm: b})
		require.NoError(t, err)
		return p
	}
	run := func(p plugin.Plugin) {
		_, err := f.run.Run(ctx, p, plugin.NewRequest(nil, nil, "echo"))
		require.NoError(t, err)
	}
	a, b, c := add("a", wasm), add("b", other), add("c", wasm)
	run(a)
	run(b)
	run(c)
	require.Equal(t, 2, plugin.CompiledLen(f.run), "one compiled module per distinct bytes")

	_, err = f.cat.Remove(ctx, "acme", "b", "")
	require.NoError(t, err)
	require.Equal(t, 1, plugin.CompiledLen(f.run), "the removed plugin's module is released")
	_, err = f.cat.Remove(ctx, "acme", "a", "v1.0.0")
	require.NoError(t, err)
	require.Equal(t, 1, plugin.CompiledLen(f.run), "c is made of the same bytes: kept")
	run(c)
	_, err = f.cat.Remove(ctx, "acme", "c", "")
	require.NoError(t, err)
	require.Zero(t, plugin.CompiledLen(f.run))
}

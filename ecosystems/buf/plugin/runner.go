package plugin

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/experimental"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
	"github.com/tetratelabs/wazero/sys"
	"go.uber.org/fx"
	"go.uber.org/zap"
	"golang.org/x/sync/singleflight"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/pluginpb"

	"github.com/packyard/packyard/pkg/cas"
	"github.com/packyard/packyard/pkg/errs"
	"github.com/packyard/packyard/pkg/logging"
)

// RunnerParams are the Runner's dependencies.
type RunnerParams struct {
	fx.In

	Config Config
	CAS    cas.Store
	Log    *zap.Logger `optional:"true"`
}

// Runner runs plugins in a WebAssembly sandbox: the module sees its
// standard input (the encoded CodeGeneratorRequest), standard output and
// standard error, its arguments (the plugin's name) and nothing else: no
// files, no environment, no network, fake clocks and a fixed random
// source, so a run is deterministic. A run is bounded in memory, wall time
// and output; at most Parallelism runs are in progress at once. Modules
// are compiled once per process and kept in wazero's compilation cache on
// disk across restarts. In memory a Runner keeps at most maxCompiled
// compiled modules, none unused for compiledIdle, and none of a removed
// plugin (Drop).
type Runner struct {
	cfg      Config
	cas      cas.Store
	log      *zap.Logger
	rt       wazero.Runtime
	check    wazero.Runtime // an interpreter, to validate modules quickly
	slots    chan struct{}
	compiled *compiledCache
	compile  singleflight.Group
	stop     chan struct{} // closed by Close: ends the idle eviction
	stopOnce sync.Once
}

// The bounds of a Runner's compiled modules in memory: a plugin removed on
// another replica is released here once unused for compiledIdle (or
// sooner, when maxCompiled others are used since).
const (
	maxCompiled  = 16
	compiledIdle = time.Hour
)

// NewRunner returns a Runner; Close releases its compiled modules.
func NewRunner(p RunnerParams) (*Runner, error) {
	cfg := p.Config
	if cfg.MemoryLimit == 0 {
		cfg = DefaultConfig()
	}
	log := p.Log
	if log == nil {
		log = zap.NewNop()
	}
	rc := wazero.NewRuntimeConfig().
		WithMemoryLimitPages(uint32(cfg.MemoryLimit / 65536)).
		WithCloseOnContextDone(true)
	if cfg.CacheDir != "" {
		cache, err := wazero.NewCompilationCacheWithDir(cfg.CacheDir)
		if err != nil {
			return nil, fmt.Errorf("plugin: compilation cache in %s: %w", cfg.CacheDir, err)
		}
		rc = rc.WithCompilationCache(cache)
	}
	ctx := context.Background() // building the runtime does no I/O
	rt := wazero.NewRuntimeWithConfig(ctx, rc)
	if _, err := wasi_snapshot_preview1.Instantiate(ctx, rt); err != nil {
		_ = rt.Close(ctx)
		return nil, fmt.Errorf("plugin: WASI: %w", err)
	}
	check := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigInterpreter())
	r := &Runner{cfg: cfg, cas: p.CAS, log: log, rt: rt, check: check, slots: make(chan struct{}, cfg.Parallelism),
		compiled: newCompiledCache(maxCompiled, compiledIdle), stop: make(chan struct{})}
	go r.evictIdle(compiledIdle / 4)
	return r, nil
}

// evictIdle releases the compiled modules unused for compiledIdle, every
// period, until Close.
func (r *Runner) evictIdle(period time.Duration) {
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		select {
		case <-r.stop:
			return
		case <-t.C:
			r.compiled.evictIdle(context.Background())
		}
	}
}

// Drop releases the compiled module of the digest, once no run uses it:
// the catalog removed the last plugin revision made of those bytes.
func (r *Runner) Drop(ctx context.Context, digest string) { r.compiled.drop(ctx, digest) }

// Close releases the runtimes and every compiled module.
func (r *Runner) Close(ctx context.Context) error {
	r.stopOnce.Do(func() { close(r.stop) })
	return errors.Join(r.rt.Close(ctx), r.check.Close(ctx))
}

// Validate checks that wasm is a WASI command module the sandbox can run.
// It decodes and validates the module without compiling it to machine
// code (the first run does that, once), so adding a plugin stays quick.
func (r *Runner) Validate(ctx context.Context, wasm []byte) error {
	m, err := r.check.CompileModule(ctx, wasm)
	if err != nil {
		return errs.Wrap(errs.ErrInvalidArgument, "the plugin is not a valid WebAssembly module", err)
	}
	defer m.Close(ctx)
	return checkImports(m)
}

// module returns the compiled module with the digest, and the func that
// releases it after the run, compiling the bytes load returns once however
// many runs ask at the same time.
func (r *Runner) module(ctx context.Context, digest string, load func(context.Context) ([]byte, error)) (wazero.CompiledModule, func(), error) {
	for range 3 { // a module dropped between its compilation and its use is compiled again
		if m, release, ok := r.compiled.acquire(digest); ok {
			return m, release, nil
		}
		_, err, _ := r.compile.Do(digest, func() (any, error) {
			wasm, err := load(ctx)
			if err != nil {
				return nil, err
			}
			m, err := r.rt.CompileModule(ctx, wasm)
			if err != nil {
				return nil, errs.Wrap(errs.ErrInvalidArgument, "the plugin is not a valid WebAssembly module", err)
			}
			if err := checkImports(m); err != nil {
				_ = m.Close(ctx)
				return nil, err
			}
			r.compiled.put(ctx, digest, m)
			return nil, nil
		})
		if err != nil {
			return nil, nil, err
		}
	}
	return nil, nil, errs.Unavailablef("the plugin's module was removed while it was being loaded; try again")
}

// checkImports accepts modules that import WASI preview 1 only and export
// _start (a command, as GOOS=wasip1 builds one).
func checkImports(m wazero.CompiledModule) error {
	for _, f := range m.ImportedFunctions() {
		if mod, name, _ := f.Import(); mod != wasi_snapshot_preview1.ModuleName {
			return errs.Invalidf("the plugin imports %s.%s: only WASI preview 1 (%s) is available", mod, name, wasi_snapshot_preview1.ModuleName)
		}
	}
	if _, ok := m.ExportedFunctions()["_start"]; !ok {
		return errs.Invalidf("the plugin exports no _start function: build it as a WASI command (GOOS=wasip1 GOARCH=wasm)")
	}
	return nil
}

// Run runs the plugin on req in the sandbox and returns its response. A
// plugin that runs out of time or memory, fails, traps or writes something
// other than a CodeGeneratorResponse gives an error naming the plugin (and
// the limit, with its variable); an error the plugin reports in its
// response is returned in the response, as protoc plugins report them.
func (r *Runner) Run(ctx context.Context, p Plugin, req *pluginpb.CodeGeneratorRequest) (*pluginpb.CodeGeneratorResponse, error) {
	in, err := proto.Marshal(req)
	if err != nil {
		return nil, fmt.Errorf("encode the request for plugin %s: %w", p.Ref(), err)
	}
	select {
	case r.slots <- struct{}{}:
		defer func() { <-r.slots }()
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	m, release, err := r.module(ctx, p.WasmDigest, func(ctx context.Context) ([]byte, error) { return r.read(ctx, p) })
	if err != nil {
		return nil, err
	}
	defer release()
	out, err := r.exec(ctx, p, m, in)
	if err != nil {
		return nil, err
	}
	res := new(pluginpb.CodeGeneratorResponse)
	if err := proto.Unmarshal(out, res); err != nil {
		return nil, errs.Wrap(errs.ErrFailedPrecondition, fmt.Sprintf("plugin %s wrote an invalid CodeGeneratorResponse", p.Ref()), err)
	}
	return res, nil
}

// read loads a plugin's module from the CAS, checking its size.
func (r *Runner) read(ctx context.Context, p Plugin) ([]byte, error) {
	f, err := r.cas.Open(ctx, p.WasmDigest)
	if err != nil {
		return nil, fmt.Errorf("open plugin %s: %w", p.Ref(), err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, r.cfg.MaxSize+1))
	if err != nil {
		return nil, fmt.Errorf("read plugin %s: %w", p.Ref(), err)
	}
	if int64(len(b)) > r.cfg.MaxSize {
		return nil, errs.TooLargef("plugin %s is over the limit of %d bytes (PACKYARD_BUF_PLUGIN_MAX_SIZE)", p.Ref(), r.cfg.MaxSize)
	}
	return b, nil
}

// exec instantiates the module once, which runs _start, and returns what
// it wrote to standard output.
func (r *Runner) exec(ctx context.Context, p Plugin, m wazero.CompiledModule, in []byte) ([]byte, error) {
	runCtx, cancel := context.WithTimeout(ctx, r.cfg.Timeout)
	defer cancel()
	stdout := &capped{max: r.cfg.MaxOutput}
	stderr := &capped{max: 64 << 10, truncate: true}
	mc := wazero.NewModuleConfig().
		WithName(""). // anonymous: runs of one module do not collide
		WithArgs(programName(p.Name)).
		WithStdin(bytes.NewReader(in)).
		WithStdout(stdout).
		WithStderr(stderr)
	mod, err := r.rt.InstantiateModule(experimental.WithMemoryAllocator(runCtx, experimental.MemoryAllocatorFunc(newLinearMemory)), m, mc)
	if mod != nil {
		_ = mod.Close(ctx)
	}
	log := logging.FromContext(ctx, r.log).With(zap.String("plugin", p.Ref()))
	switch {
	case stdout.over:
		return nil, errs.Wrap(errs.ErrResourceExhausted, fmt.Sprintf("plugin %s wrote more than %d bytes (PACKYARD_BUF_PLUGIN_MAX_OUTPUT)", p.Ref(), r.cfg.MaxOutput), err)
	case err == nil:
		return stdout.buf.Bytes(), nil
	}
	log.Warn("plugin run failed", zap.Error(err), zap.ByteString("stderr", stderr.buf.Bytes()[:min(stderr.buf.Len(), 2048)]))
	var exit *sys.ExitError
	isExit := errors.As(err, &exit)
	switch {
	case ctx.Err() != nil:
		return nil, ctx.Err()
	case runCtx.Err() != nil || (isExit && exit.ExitCode() == sys.ExitCodeDeadlineExceeded):
		return nil, errs.Wrap(errs.ErrResourceExhausted, fmt.Sprintf("plugin %s ran longer than the limit of %s (PACKYARD_BUF_PLUGIN_TIMEOUT)", p.Ref(), r.cfg.Timeout), err)
	case outOfMemory(stderr.buf.String()):
		return nil, errs.Wrap(errs.ErrResourceExhausted, fmt.Sprintf("plugin %s exceeded the memory limit of %d bytes (PACKYARD_BUF_PLUGIN_MEMORY_LIMIT)", p.Ref(), r.cfg.MemoryLimit), err)
	case isExit:
		return nil, errs.Wrap(errs.ErrFailedPrecondition, fmt.Sprintf("plugin %s failed with exit code %d", p.Ref(), exit.ExitCode()), err)
	}
	return nil, errs.Wrap(errs.ErrFailedPrecondition, fmt.Sprintf("plugin %s trapped", p.Ref()), err)
}

// programName is the plugin's argv[0]: its protoc name, protoc-gen-NAME,
// as a local plugin is called (some plugins print it in what they
// generate, e.g. protoc-gen-connect-go's header).
func programName(name string) string {
	if strings.HasPrefix(name, "protoc-gen-") {
		return name
	}
	return "protoc-gen-" + name
}

// outOfMemory recognizes the messages runtimes print when an allocation
// fails because memory cannot grow past the limit (Go, Rust, C).
func outOfMemory(stderr string) bool {
	for _, s := range []string{"out of memory", "memory allocation of", "Cannot allocate memory"} {
		if strings.Contains(stderr, s) {
			return true
		}
	}
	return false
}

// capped is a buffer that keeps at most max bytes: past it, it fails the
// write (standard output) or drops the rest (standard error).
type capped struct {
	buf      bytes.Buffer
	max      int64
	truncate bool
	over     bool
}

func (c *capped) Write(p []byte) (int, error) {
	room := c.max - int64(c.buf.Len())
	if int64(len(p)) <= room {
		return c.buf.Write(p)
	}
	if c.truncate {
		c.buf.Write(p[:max(room, 0)])
		return len(p), nil
	}
	c.over = true
	return 0, errors.New("output limit reached")
}

package harness

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/fx"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/packyard/packyard/auth"
	"github.com/packyard/packyard/cmd/packyard/kernel"
	"github.com/packyard/packyard/pkg/access"
	"github.com/packyard/packyard/pkg/audit"
	"github.com/packyard/packyard/pkg/blob"
	"github.com/packyard/packyard/pkg/cache"
	"github.com/packyard/packyard/pkg/cas"
	"github.com/packyard/packyard/pkg/config"
	"github.com/packyard/packyard/pkg/metadata"
	"github.com/packyard/packyard/pkg/secretbox"
	"github.com/packyard/packyard/pkg/server"
	"github.com/packyard/packyard/pkg/sqldb"
)

// KernelOptions configure an in-process kernel.
type KernelOptions struct {
	Backend Backend           // Embedded (the default) or Services
	TLS     bool              // serve HTTPS with a throwaway CA (Kernel.CAFile)
	Env     map[string]string // extra PACKYARD_* variables, read as the daemon reads them
	// Modules are added to the application: the test's ecosystem, the way
	// cmd/packyard adds its ecosystems, e.g.
	//
	//	fx.Supply(cfg), fx.Provide(composer.New, ecosystem.As(composer.NewEcosystem)), fx.Populate(&svc)
	Modules []fx.Option
}

// Kernel is packyard's kernel built in-process by cmd/packyard/kernel's fx
// options, exactly as the daemon builds it, started, and listening on a
// free 127.0.0.1 port; it stops when the test ends. Its parts are the
// application's own, for tests that reach behind the HTTP API.
type Kernel struct {
	URL    string // http(s)://127.0.0.1:PORT
	Host   string // 127.0.0.1:PORT
	CAFile string // PEM of the CA that signed the server certificate (TLS only)
	Client *http.Client
	Env    map[string]string // the configuration it was built from

	DB      *sqldb.DB
	Meta    metadata.Store
	Blobs   blob.Store
	CAS     *cas.IndexedStore
	Cache   cache.Cache
	Locker  cache.Locker
	Auth    *auth.Service
	Authz   access.Authorizer
	Audit   *audit.Store
	Box     *secretbox.Box
	Log     *zap.Logger
	Server  *server.Server
	Handler http.Handler // Server's whole request pipeline, for benchmarks without a socket

	sweepers []cas.RefSweeper // the ecosystems' (see GC)

	t       testing.TB
	stop    sync.Once
	stopErr error
	app     *fx.App
}

// Stop stops the kernel as the daemon stops on SIGTERM (its OnStop hooks
// run: leases are given up, jobs in progress end); the test's end does
// nothing more. Stopping twice is harmless.
func (k *Kernel) Stop() error {
	k.stop.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
		defer cancel()
		k.stopErr = k.app.Stop(ctx)
	})
	return k.stopErr
}

// NewKernel builds kernel.Server from an environment map (the embedded
// defaults under a fresh data directory, or the test services) plus
// opts.Modules, starts it (start-up steps, migrations, listener) and
// returns it. Its log goes to the test's log at warning level.
func NewKernel(t testing.TB, opts KernelOptions) *Kernel {
	t.Helper()
	dir := t.TempDir()
	env, caFile := daemonEnv(t, dir, map[string]string{
		"PACKYARD_HTTP_ADDR": "127.0.0.1:0",
		"PACKYARD_DATA_DIR":  filepath.Join(dir, "data"),
	}, Options{Backend: opts.Backend, TLS: opts.TLS, Env: opts.Env})
	log := zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel))
	k := &Kernel{t: t, Env: env, CAFile: caFile, Client: httpClient(t, caFile)}
	app := fx.New(
		kernel.Server(config.Map(env)),
		fx.Options(opts.Modules...),
		fx.Decorate(func() *zap.Logger { return log }),
		fx.Populate(&k.DB, &k.Meta, &k.Blobs, &k.CAS, &k.Cache, &k.Locker, &k.Auth, &k.Authz, &k.Audit, &k.Box,
			&k.Log, &k.Server),
		fx.Invoke(func(in sweepersIn) { k.sweepers = in.Sweepers }),
	)
	require.NoError(t, app.Err(), "build the kernel")
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	require.NoError(t, app.Start(ctx), "start the kernel")
	k.app = app
	t.Cleanup(func() {
		if err := k.Stop(); err != nil {
			t.Errorf("stop the kernel: %v", err)
		}
	})
	k.Handler = k.Server.Handler()
	k.Host = k.Server.Addr().String()
	k.URL = scheme(caFile) + "://" + k.Host
	return k
}

type sweepersIn struct {
	fx.In
	Sweepers []cas.RefSweeper `group:"cas-sweepers"`
}

// GC runs what the periodic collection runs, at once: every ecosystem's
// sweep of references whose owner is gone, then the CAS GC with grace.
func (k *Kernel) GC(ctx context.Context, grace time.Duration) (cas.GCStats, error) {
	return k.CAS.Collect(ctx, grace, k.sweepers)
}

// Org creates an organization.
func (k *Kernel) Org(name string, public bool) {
	k.t.Helper()
	_, err := k.Auth.CreateOrg(context.Background(), name, public)
	require.NoError(k.t, err)
}

// CLI runs the packyard binary's admin command `packyard ARGS...` against
// the kernel's storage (its configuration), as an operator would.
func (k *Kernel) CLI(args ...string) (stdout, stderr string, err error) {
	env := os.Environ()
	for name, v := range k.Env {
		env = append(env, name+"="+v)
	}
	return runCLI(k.t, env, args...)
}

// MustCLI runs the CLI and fails the test unless it succeeds; it returns
// stdout without the trailing newline.
func (k *Kernel) MustCLI(args ...string) string {
	k.t.Helper()
	o, e, err := k.CLI(args...)
	if err != nil {
		k.t.Fatalf("packyard %s: %v\nstdout: %s\nstderr: %s", strings.Join(args, " "), err, o, e)
	}
	return strings.TrimRight(o, "\n")
}

// Token returns a new token of scope for org's bot user.
func (k *Kernel) Token(org string, scope metadata.Role) string {
	k.t.Helper()
	text, _, err := k.Auth.CreateToken(context.Background(), auth.CreateTokenRequest{Org: org, Scope: scope})
	require.NoError(k.t, err)
	return text
}

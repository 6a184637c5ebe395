package buf

import (
	"net/http"
	"testing"

	"go.uber.org/fx"

	"github.com/packyard/packyard/auth"
	"github.com/packyard/packyard/e2e/harness"
	"github.com/packyard/packyard/pkg/ecosystem"
	"github.com/packyard/packyard/pkg/metadata"
	"github.com/packyard/packyard/pkg/sqldb"
)

// env is a running registry: the real kernel (harness.NewKernel: database,
// blob store, CAS, token auth, the HTTP server on 127.0.0.1) with the buf
// ecosystem registered on it, as the daemon registers it.
type env struct {
	t      testing.TB
	k      *harness.Kernel
	db     *sqldb.DB
	meta   metadata.Store
	svc    *Service
	url    string       // the server, http(s)://127.0.0.1:PORT
	client *http.Client // for url
	admin  *auth.Service
}

// newEnv serves the registry over plain HTTP: on SQLite and the filesystem
// for dialect "sqlite", on PostgreSQL, MinIO and Redis for "postgres".
func newEnv(t testing.TB, dialect string, cfg Config) *env { return startEnv(t, dialect, cfg, false) }

// startEnv is newEnv, over HTTPS with a throwaway CA (env.k.CAFile) when useTLS.
func startEnv(t testing.TB, dialect string, cfg Config, useTLS bool) *env {
	t.Helper()
	backend := harness.Embedded
	if dialect == "postgres" {
		backend = harness.Services
	}
	var svc *Service
	k := harness.NewKernel(t, harness.KernelOptions{Backend: backend, TLS: useTLS, Modules: []fx.Option{
		fx.Supply(cfg), fx.Provide(New, ecosystem.As(NewEcosystem)), fx.Populate(&svc),
	}})
	return &env{t: t, k: k, db: k.DB, meta: k.Meta, svc: svc, url: k.URL, client: k.Client, admin: k.Auth}
}

// org creates an organization and returns a token of the given scope for it.
func (e *env) org(name string, public bool, scope metadata.Role) string {
	e.t.Helper()
	e.k.Org(name, public)
	return e.token(name, scope)
}

func (e *env) token(org string, scope metadata.Role) string { return e.k.Token(org, scope) }

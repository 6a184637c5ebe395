package composer

import (
	"archive/zip"
	"bytes"
	"io"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/fx"

	"github.com/packyard/packyard/e2e/harness"
	"github.com/packyard/packyard/pkg/ecosystem"
	"github.com/packyard/packyard/pkg/metadata"
	"github.com/packyard/packyard/pkg/secretbox"
	"github.com/packyard/packyard/storage/cache/memory"
)

// stack is the real kernel (harness.NewKernel: SQLite, filesystem blobs and
// the in-process cache, or PostgreSQL, MinIO and Redis; CAS, token auth, the
// HTTP server on 127.0.0.1) with the Composer ecosystem registered on it as
// the daemon registers it, without the background sync worker.
type stack struct {
	t      testing.TB
	k      *harness.Kernel
	meta   metadata.Store
	svc    *Service
	proxy  *Proxy
	url    string       // the server, http://127.0.0.1:PORT
	client *http.Client // for url
	h      http.Handler // the whole pipeline: auth, access log, Echo
}

type stackOpts struct {
	postgres bool
	cfg      *Config
	noKey    bool // no secret box: credentials and webhooks are refused
	// allowedNetworks is PACKYARD_OUTBOUND_ALLOWED_NETWORKS; nil allows
	// 127.0.0.0/8, where the tests' upstreams and git servers listen.
	allowedNetworks *string
	env             map[string]string // more PACKYARD_* variables
	// background runs the queued syncs and the periodic jobs, as the
	// daemon does; backend overrides postgres (e.g. a shared database).
	background bool
	backend    *harness.Backend
}

func newStack(t testing.TB, o stackOpts) *stack {
	t.Helper()
	cfg := DefaultConfig()
	cfg.SyncInterval = 0
	if o.cfg != nil {
		cfg = *o.cfg
	}
	backend := harness.Embedded
	if o.postgres {
		backend = harness.Services
	}
	var svc *Service
	var proxy *Proxy
	modules := []fx.Option{
		fx.Supply(cfg),
		fx.Provide(New, (*Service).Proxy, ecosystem.As(NewEcosystem)),
		fx.Populate(&svc, &proxy),
	}
	if o.background {
		modules = append(modules, fx.Invoke(startBackground))
	}
	if o.backend != nil {
		backend = *o.backend
	}
	if o.noKey {
		modules = append(modules, fx.Decorate(func() *secretbox.Box { return nil }))
	}
	allowed := "127.0.0.0/8"
	if o.allowedNetworks != nil {
		allowed = *o.allowedNetworks
	}
	env := map[string]string{"PACKYARD_OUTBOUND_ALLOWED_NETWORKS": allowed}
	for k, v := range o.env {
		env[k] = v
	}
	k := harness.NewKernel(t, harness.KernelOptions{Backend: backend, Modules: modules, Env: env})
	return &stack{t: t, k: k, meta: k.Meta, svc: svc, proxy: proxy, url: k.URL, client: k.Client, h: k.Handler}
}

func (s *stack) org(name string) { s.k.Org(name, false) }

func (s *stack) token(org string, scope metadata.Role) string { return s.k.Token(org, scope) }

func newMemCache() *memory.Cache { return memory.New(memory.Config{}) }

// zf is one entry of a zip built by makeZip.
type zf struct {
	name   string
	body   string
	method uint16
}

// makeZip builds a zip archive of files as given (no checks, any names).
func makeZip(t testing.TB, files ...zf) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	for _, f := range files {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: f.name, Method: f.method})
		require.NoError(t, err)
		_, err = io.WriteString(w, f.body)
		require.NoError(t, err)
	}
	require.NoError(t, zw.Close())
	return b.Bytes()
}

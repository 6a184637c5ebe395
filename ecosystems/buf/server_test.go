package buf

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/packyard/packyard/auth"
	"github.com/packyard/packyard/migrations"
	"github.com/packyard/packyard/pkg/cas"
	"github.com/packyard/packyard/pkg/errs"
	"github.com/packyard/packyard/pkg/metadata"
	"github.com/packyard/packyard/pkg/sqldb"
	"github.com/packyard/packyard/pkg/testenv"
	"github.com/packyard/packyard/storage/postgres"
	"github.com/packyard/packyard/storage/sqlite"
)

// testCAS is a content-addressed store in memory that records blobs in the
// metadata index like the kernel's CAS does.
type testCAS struct {
	meta metadata.Store
	mu   sync.Mutex
	data map[string][]byte
	puts int
}

var _ cas.Store = (*testCAS)(nil)

func (c *testCAS) Put(ctx context.Context, r io.Reader, opts ...cas.PutOption) (cas.Descriptor, error) {
	o := cas.Resolve(opts...)
	b, err := io.ReadAll(r)
	if err != nil {
		return cas.Descriptor{}, err
	}
	if o.MaxSize > 0 && int64(len(b)) > o.MaxSize {
		return cas.Descriptor{}, errs.TooLargef("blob too large")
	}
	sum := sha256.Sum256(b)
	d := cas.Descriptor{Digest: hex.EncodeToString(sum[:]), Size: int64(len(b)), Extra: map[cas.Algorithm]string{}}
	for _, a := range o.Digests {
		if a == cas.SHAKE256 {
			d.Extra[a] = hex.EncodeToString(Shake256(b))
		}
	}
	for a, want := range o.Expected {
		if d.Extra[a] != want {
			return cas.Descriptor{}, errs.Invalidf("digest mismatch")
		}
	}
	extra := map[string]string{}
	for a, v := range d.Extra {
		extra[string(a)] = v
	}
	if err := c.meta.RecordBlob(ctx, metadata.Blob{Digest: d.Digest, Size: d.Size, Extra: extra}); err != nil {
		return cas.Descriptor{}, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.data[d.Digest] = b
	c.puts++
	return d, nil
}

func (c *testCAS) Open(_ context.Context, digest string) (io.ReadSeekCloser, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	b, ok := c.data[digest]
	if !ok {
		return nil, errs.NotFoundf("blob %s", digest)
	}
	return nopCloser{bytes.NewReader(b)}, nil
}

func (c *testCAS) Stat(_ context.Context, digest string) (cas.Descriptor, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	b, ok := c.data[digest]
	if !ok {
		return cas.Descriptor{}, errs.NotFoundf("blob %s", digest)
	}
	return cas.Descriptor{Digest: digest, Size: int64(len(b))}, nil
}

type nopCloser struct{ *bytes.Reader }

func (nopCloser) Close() error { return nil }

// env is a running registry: real database, real auth kernel, HTTP server.
type env struct {
	t     testing.TB
	db    *sqldb.DB
	meta  metadata.Store
	cas   *testCAS
	svc   *Service
	srv   *httptest.Server
	admin *auth.Service
}

// openDB opens a migrated database of the given dialect.
func openDB(t testing.TB, dialect string) *sqldb.DB {
	t.Helper()
	ctx := context.Background()
	var db *sqldb.DB
	var err error
	switch dialect {
	case "sqlite":
		db, err = sqlite.Open(ctx, sqlite.Config{Path: filepath.Join(t.TempDir(), "packyard.db")})
	case "postgres":
		db, err = postgres.Open(ctx, postgres.Config{URL: testenv.PostgresURL(t)})
	}
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	_, err = migrations.Up(ctx, db)
	require.NoError(t, err)
	return db
}

func newEnv(t testing.TB, dialect string, cfg Config) *env {
	t.Helper()
	db := openDB(t, dialect)
	meta := metadata.NewSQL(db)
	c := &testCAS{meta: meta, data: map[string][]byte{}}
	log := zaptest.NewLogger(t)
	svc, err := New(Params{Log: log, Config: cfg, Meta: meta, CAS: c, Authz: &auth.Policy{Store: meta}})
	require.NoError(t, err)
	eco, err := NewEcosystem(svc)
	require.NoError(t, err)
	mux := http.NewServeMux()
	for path, h := range eco.Handlers() {
		mux.Handle(path, h)
	}
	handler := auth.Middleware(&auth.TokenAuthenticator{Store: meta}, log)(mux)
	srv := httptest.NewServer(handler)
	t.Cleanup(srv.Close)
	return &env{t: t, db: db, meta: meta, cas: c, svc: svc, srv: srv, admin: &auth.Service{Store: meta}}
}

// org creates an organization and returns a token of the given scope for it.
func (e *env) org(name string, public bool, scope metadata.Role) string {
	e.t.Helper()
	ctx := context.Background()
	_, err := e.admin.CreateOrg(ctx, name, public)
	require.NoError(e.t, err)
	return e.token(name, scope)
}

func (e *env) token(org string, scope metadata.Role) string {
	e.t.Helper()
	text, _, err := e.admin.CreateToken(context.Background(), auth.CreateTokenRequest{Org: org, Scope: scope})
	require.NoError(e.t, err)
	return text
}

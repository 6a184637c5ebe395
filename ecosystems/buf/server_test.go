package buf

import (
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/packyard/packyard/auth"
	"github.com/packyard/packyard/migrations"
	"github.com/packyard/packyard/pkg/blob"
	"github.com/packyard/packyard/pkg/cas"
	"github.com/packyard/packyard/pkg/metadata"
	"github.com/packyard/packyard/pkg/server"
	"github.com/packyard/packyard/pkg/sqldb"
	"github.com/packyard/packyard/pkg/testenv"
	"github.com/packyard/packyard/storage/filesystem"
	"github.com/packyard/packyard/storage/postgres"
	"github.com/packyard/packyard/storage/s3"
	"github.com/packyard/packyard/storage/sqlite"
)

// env is a running registry: real database, real auth kernel, HTTP server.
type env struct {
	t     testing.TB
	db    *sqldb.DB
	meta  metadata.Store
	cas   cas.Store
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

// blobStore is the filesystem next to SQLite, and MinIO next to PostgreSQL.
func blobStore(t testing.TB, dialect string) blob.Store {
	t.Helper()
	if dialect == "sqlite" {
		s, err := filesystem.New(filesystem.Config{Root: filepath.Join(t.TempDir(), "blobs")}, nil)
		require.NoError(t, err)
		return s
	}
	srv := testenv.S3Server(t)
	s, err := s3.New(context.Background(), s3.Config{Endpoint: srv.Endpoint, Bucket: srv.Bucket, AccessKey: srv.AccessKey,
		SecretKey: srv.SecretKey, Region: srv.Region}, nil)
	require.NoError(t, err)
	require.NoError(t, s.EnsureBucket(context.Background()))
	return s
}

func newEnv(t testing.TB, dialect string, cfg Config) *env {
	t.Helper()
	db := openDB(t, dialect)
	meta := metadata.NewSQL(db)
	log := zaptest.NewLogger(t)
	c := cas.New(blobStore(t, dialect), meta, cas.Options{TempDir: t.TempDir(), Logger: log})
	svc, err := New(Params{Log: log, Config: cfg, Meta: meta, CAS: c, Authz: &auth.Policy{Store: meta}})
	require.NoError(t, err)
	eco, err := NewEcosystem(svc)
	require.NoError(t, err)
	mux := http.NewServeMux()
	for path, h := range eco.Handlers(server.ConnectOptions(log, svc.cfg.MaxUploadSize)...) {
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

package composer

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/packyard/packyard/auth"
	"github.com/packyard/packyard/migrations"
	"github.com/packyard/packyard/pkg/blob"
	"github.com/packyard/packyard/pkg/cache"
	"github.com/packyard/packyard/pkg/cas"
	"github.com/packyard/packyard/pkg/ecosystem"
	"github.com/packyard/packyard/pkg/metadata"
	"github.com/packyard/packyard/pkg/secretbox"
	"github.com/packyard/packyard/pkg/server"
	"github.com/packyard/packyard/pkg/sqldb"
	"github.com/packyard/packyard/pkg/testenv"
	"github.com/packyard/packyard/storage/cache/memory"
	"github.com/packyard/packyard/storage/cache/redis"
	"github.com/packyard/packyard/storage/filesystem"
	"github.com/packyard/packyard/storage/postgres"
	"github.com/packyard/packyard/storage/s3"
	"github.com/packyard/packyard/storage/sqlite"
)

// stack is the real kernel pieces (SQLite or PostgreSQL, filesystem blobs,
// CAS, memory cache, token auth, the HTTP server) around the Composer
// ecosystem, served by an httptest server on 127.0.0.1.
type stack struct {
	t     testing.TB
	meta  metadata.Store
	svc   *Service
	proxy *Proxy
	srv   *httptest.Server
	h     http.Handler // the whole pipeline: auth, access log, Echo
	auth  *auth.Service
	cache cacheAll
}

type cacheAll interface {
	cache.Cache
	cache.Locker
}

type stackOpts struct {
	postgres bool
	cfg      *Config
	noKey    bool
}

func openDB(t testing.TB, pg bool) *sqldb.DB {
	ctx := context.Background()
	var db *sqldb.DB
	var err error
	if pg {
		db, err = postgres.Open(ctx, postgres.Config{URL: testenv.PostgresURL(t)})
	} else {
		db, err = sqlite.Open(ctx, sqlite.Config{Path: filepath.Join(t.TempDir(), "packyard.db")})
	}
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	_, err = migrations.Up(ctx, db)
	require.NoError(t, err)
	return db
}

func newStack(t testing.TB, o stackOpts) *stack {
	t.Helper()
	db := openDB(t, o.postgres)
	meta := metadata.NewSQL(db)
	var log *zap.Logger
	if tt, ok := t.(*testing.T); ok {
		log = zaptest.NewLogger(tt, zaptest.Level(zap.WarnLevel))
	} else {
		log = zap.NewNop()
	}
	// SQLite runs with the filesystem and the in-process cache; PostgreSQL
	// with MinIO and Redis, as a replicated deployment does.
	var blobs blob.Store
	var mc cacheAll
	if o.postgres {
		s3cfg := testenv.S3Server(t)
		st, err := s3.New(context.Background(), s3.Config{Endpoint: s3cfg.Endpoint, Bucket: s3cfg.Bucket, AccessKey: s3cfg.AccessKey,
			SecretKey: s3cfg.SecretKey, Region: s3cfg.Region}, log)
		require.NoError(t, err)
		require.NoError(t, st.EnsureBucket(context.Background()))
		blobs = st
		rc, err := redis.New(redis.Config{URL: testenv.RedisURL(t), KeyPrefix: testenv.RandomName("composer") + ":"}, log)
		require.NoError(t, err)
		t.Cleanup(func() { rc.Close() })
		mc = rc
	} else {
		fs, err := filesystem.New(filesystem.Config{Root: filepath.Join(t.TempDir(), "blobs")}, log)
		require.NoError(t, err)
		blobs = fs
		mc = memory.New(memory.Config{})
	}
	store := cas.New(blobs, meta, cas.Options{TempDir: t.TempDir(), Logger: log})
	cfg := DefaultConfig()
	cfg.SyncInterval = 0
	if o.cfg != nil {
		cfg = *o.cfg
	}
	var box *secretbox.Box
	var err error
	if !o.noKey {
		key, _ := base64.StdEncoding.DecodeString("MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=")
		box, err = secretbox.New(secretbox.Config{Key: key})
		require.NoError(t, err)
	}
	svc, err := New(Params{Config: cfg, Logger: log, Meta: meta, CAS: store, Cache: mc, Locker: mc, Box: box})
	require.NoError(t, err)
	eco := NewEcosystem(svc, server.BaseURL{}, log)
	srv, err := server.New(server.Params{
		Config:     server.Config{Addr: "127.0.0.1:0", MaxBodySize: 512 << 20, ReadHeaderTimeout: 10 * time.Second},
		Logger:     log,
		Authn:      auth.Middleware(auth.Chain{&auth.TokenAuthenticator{Store: meta}}, log.Named("http")),
		Authz:      &auth.Policy{Store: meta},
		Registry:   server.NewRegistry(),
		Ecosystems: []ecosystem.Ecosystem{eco},
	})
	require.NoError(t, err)
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)
	return &stack{t: t, meta: meta, svc: svc, proxy: svc.Proxy(), srv: hs, h: srv.Handler(), auth: &auth.Service{Store: meta}, cache: mc}
}

func (s *stack) org(name string) {
	s.t.Helper()
	_, err := s.auth.CreateOrg(context.Background(), name, false)
	require.NoError(s.t, err)
}

func (s *stack) token(org string, scope metadata.Role) string {
	s.t.Helper()
	text, _, err := s.auth.CreateToken(context.Background(), auth.CreateTokenRequest{Org: org, Scope: scope})
	require.NoError(s.t, err)
	return text
}

// gitRepoDir is a throwaway git repository driven by the real git binary.
type gitRepoDir struct {
	t   testing.TB
	dir string
	n   int
}

func newGitRepo(t testing.TB) *gitRepoDir {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		if testenv.Required() {
			t.Fatal("git is not installed (scripts/install-deps.sh installs it)")
		}
		t.Skip("git not installed")
	}
	g := &gitRepoDir{t: t, dir: t.TempDir()}
	g.git("init", "-q", "-b", "main")
	return g
}

func (g *gitRepoDir) git(args ...string) string {
	g.t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = g.dir
	date := fmt.Sprintf("2024-01-01T00:00:%02dZ", g.n%60)
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com", "GIT_COMMITTER_NAME=t",
		"GIT_COMMITTER_EMAIL=t@example.com", "GIT_AUTHOR_DATE="+date, "GIT_COMMITTER_DATE="+date, "GIT_CONFIG_NOSYSTEM=1", "HOME="+g.dir)
	out, err := cmd.CombinedOutput()
	require.NoError(g.t, err, "git %s: %s", strings.Join(args, " "), out)
	return strings.TrimSpace(string(out))
}

// commit writes files (path -> content; "" deletes) and commits them.
func (g *gitRepoDir) commit(files map[string]string) string {
	g.t.Helper()
	g.n++
	for p, c := range files {
		full := filepath.Join(g.dir, p)
		if c == "" {
			require.NoError(g.t, os.Remove(full))
			continue
		}
		require.NoError(g.t, os.MkdirAll(filepath.Dir(full), 0o755))
		require.NoError(g.t, os.WriteFile(full, []byte(c), 0o644))
	}
	g.git("add", "-A")
	g.git("commit", "-q", "-m", fmt.Sprintf("commit %d", g.n))
	return g.git("rev-parse", "HEAD")
}

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

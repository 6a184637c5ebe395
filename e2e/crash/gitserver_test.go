package crash

import (
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/cgi"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/packyard/packyard/e2e/harness"
)

// gitServer serves the bare repositories under root over smart HTTP (the
// real git http-backend) on 127.0.0.1. A repository put on hold keeps its
// fetches (upload-pack requests) waiting until released or until the
// client goes away; it counts the fetches held, started and answered.
type gitServer struct {
	URL  string
	root string

	held, fetches, fetched atomic.Int32

	mu    sync.Mutex
	holds map[string]chan struct{}
}

func newGitServer(t *testing.T) *gitServer {
	t.Helper()
	harness.Tool(t, "git")
	backend := "/usr/lib/git-core/git-http-backend"
	if _, err := os.Stat(backend); err != nil {
		t.Fatalf("git http-backend not found: %v", err)
	}
	g := &gitServer{root: t.TempDir(), holds: map[string]chan struct{}{}}
	h := &cgi.Handler{Path: backend, Env: []string{"GIT_PROJECT_ROOT=" + g.root, "GIT_HTTP_EXPORT_ALL=1"}}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasSuffix(r.URL.Path, "/git-upload-pack") {
			h.ServeHTTP(w, r)
			return
		}
		g.fetches.Add(1)
		repo := strings.Split(strings.TrimPrefix(r.URL.Path, "/"), "/")[0]
		g.mu.Lock()
		hold := g.holds[repo]
		g.mu.Unlock()
		if hold != nil {
			g.held.Add(1)
			select {
			case <-hold:
			case <-r.Context().Done():
			}
			g.held.Add(-1)
			if r.Context().Err() != nil {
				return
			}
		}
		h.ServeHTTP(w, r)
		g.fetched.Add(1)
	})}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() {
		g.mu.Lock()
		for name, c := range g.holds {
			close(c)
			delete(g.holds, name)
		}
		g.mu.Unlock()
		srv.Close()
	})
	g.URL = "http://" + l.Addr().String()
	return g
}

// publish makes the bare repository name.git from a work repository and
// returns its URL.
func (g *gitServer) publish(t *testing.T, name string, work *harness.Repo) string {
	t.Helper()
	out, err := exec.Command("git", "clone", "-q", "--bare", work.Dir, filepath.Join(g.root, name+".git")).CombinedOutput()
	require.NoError(t, err, string(out))
	return g.URL + "/" + name + ".git"
}

func (g *gitServer) hold(name string) {
	g.mu.Lock()
	g.holds[name+".git"] = make(chan struct{})
	g.mu.Unlock()
}

func (g *gitServer) release(name string) {
	g.mu.Lock()
	if c := g.holds[name+".git"]; c != nil {
		close(c)
		delete(g.holds, name+".git")
	}
	g.mu.Unlock()
}

// taggedRepo is a work repository of package name with tags 1.0.0 …
// 1.(n-1).0, one commit each, every commit with extra's files too.
func taggedRepo(t *testing.T, name string, n int, extra map[string]string) *harness.Repo {
	t.Helper()
	g := harness.GitRepo(t)
	for i := range n {
		files := map[string]string{
			"composer.json":                 fmt.Sprintf(`{"name": %q, "description": "tag %d", "autoload": {"psr-4": {"Acme\\Lib\\": "src/"}}}`, name, i),
			fmt.Sprintf("src/F%03d.php", i): fmt.Sprintf("<?php\nnamespace Acme\\Lib;\nclass F%03d { const V = %d; }\n", i, i),
		}
		for p, c := range extra {
			files[p] = c
		}
		g.Commit(files)
		g.Git("tag", fmt.Sprintf("1.%d.0", i))
	}
	return g
}

// incompressible is n random bytes: an archive holding them cannot be
// smaller than n.
func incompressible(n int, seed uint64) string {
	rng := rand.New(rand.NewPCG(seed, seed+1))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return string(b)
}

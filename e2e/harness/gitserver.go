package harness

import (
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// GitServer serves the bare repositories under its root over smart HTTP
// (the real git http-backend) on 127.0.0.1 and counts what it is asked:
// every request, the fetches (upload-pack requests) started and answered,
// and the bytes of their answers. While Down it answers 503. A repository
// put on hold keeps its requests waiting (Hold: every request; HoldFetches:
// only its fetches, so a client has read the refs and is mid-fetch) until
// released or until the client goes away; Held counts them.
type GitServer struct {
	URL  string
	root string

	Requests, Fetches, Fetched atomic.Int32
	PackBytes                  atomic.Int64
	Down                       atomic.Bool
	Held, PeakHeld             atomic.Int32

	mu        sync.Mutex
	holds     map[string]gitHold
	downTimes []time.Time
}

type gitHold struct {
	release     chan struct{}
	fetchesOnly bool
}

// NewGitServer starts a GitServer that stops with the test.
func NewGitServer(t testing.TB) *GitServer {
	t.Helper()
	Tool(t, "git")
	backend := "/usr/lib/git-core/git-http-backend"
	if _, err := os.Stat(backend); err != nil {
		t.Fatalf("git http-backend not found: %v", err)
	}
	g := &GitServer{root: t.TempDir(), holds: map[string]gitHold{}}
	cgiHandler := &cgi.Handler{Path: backend, Env: []string{"GIT_PROJECT_ROOT=" + g.root, "GIT_HTTP_EXPORT_ALL=1"}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		g.serve(w, r, cgiHandler)
	}))
	t.Cleanup(func() {
		g.mu.Lock()
		for name, h := range g.holds {
			close(h.release)
			delete(g.holds, name)
		}
		g.mu.Unlock()
		srv.Close()
	})
	g.URL = srv.URL
	return g
}

func (g *GitServer) serve(w http.ResponseWriter, r *http.Request, backend http.Handler) {
	g.Requests.Add(1)
	if g.Down.Load() {
		g.mu.Lock()
		g.downTimes = append(g.downTimes, time.Now())
		g.mu.Unlock()
		http.Error(w, "down", http.StatusServiceUnavailable)
		return
	}
	fetch := strings.HasSuffix(r.URL.Path, "/git-upload-pack")
	repo := strings.Split(strings.TrimPrefix(r.URL.Path, "/"), "/")[0]
	g.mu.Lock()
	hold, ok := g.holds[repo]
	g.mu.Unlock()
	if ok && (fetch || !hold.fetchesOnly) {
		n := g.Held.Add(1)
		for p := g.PeakHeld.Load(); n > p && !g.PeakHeld.CompareAndSwap(p, n); p = g.PeakHeld.Load() {
		}
		select {
		case <-hold.release:
		case <-r.Context().Done():
		}
		g.Held.Add(-1)
		if r.Context().Err() != nil {
			return
		}
	}
	if !fetch {
		backend.ServeHTTP(w, r)
		return
	}
	g.Fetches.Add(1)
	cw := &countingWriter{ResponseWriter: w}
	backend.ServeHTTP(cw, r)
	g.PackBytes.Add(cw.n)
	g.Fetched.Add(1)
}

// Publish makes (or updates) the bare repository name.git from a work
// repository and returns its URL.
func (g *GitServer) Publish(t testing.TB, name string, work *Repo) string {
	t.Helper()
	bare := filepath.Join(g.root, name+".git")
	if _, err := os.Stat(bare); err != nil {
		out, err := exec.Command("git", "clone", "-q", "--bare", work.Dir, bare).CombinedOutput()
		require.NoError(t, err, string(out))
	} else {
		work.Git("push", "-q", "--mirror", bare)
	}
	return g.URL + "/" + name + ".git"
}

// Hold keeps every request for the repository name waiting until Release.
func (g *GitServer) Hold(name string) { g.hold(name, false) }

// HoldFetches keeps only the repository's fetches waiting until Release:
// its refs are still answered.
func (g *GitServer) HoldFetches(name string) { g.hold(name, true) }

func (g *GitServer) hold(name string, fetchesOnly bool) {
	g.mu.Lock()
	g.holds[name+".git"] = gitHold{release: make(chan struct{}), fetchesOnly: fetchesOnly}
	g.mu.Unlock()
}

// Release lets the held requests of the repository name go on.
func (g *GitServer) Release(name string) {
	g.mu.Lock()
	if h, ok := g.holds[name+".git"]; ok {
		close(h.release)
		delete(g.holds, name+".git")
	}
	g.mu.Unlock()
}

// DownTimes are the times of the requests answered 503 while Down.
func (g *GitServer) DownTimes() []time.Time {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]time.Time(nil), g.downTimes...)
}

type countingWriter struct {
	http.ResponseWriter
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.ResponseWriter.Write(p)
	c.n += int64(n)
	return n, err
}

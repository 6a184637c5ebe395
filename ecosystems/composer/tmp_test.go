package composer

import (
	"bytes"
	"crypto/rand"
	"io/fs"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/packyard/packyard/e2e/harness"
	"github.com/packyard/packyard/pkg/errs"
	"github.com/packyard/packyard/pkg/metadata"
)

// spyReader reports, once half of its bytes are read, the names in dir:
// where the upload is being spooled while it arrives.
type spyReader struct {
	r     *bytes.Reader
	dir   string
	half  int64
	names []string
	seen  bool
}

func (s *spyReader) Read(p []byte) (int, error) {
	if !s.seen && s.r.Size()-int64(s.r.Len()) >= s.half {
		s.seen = true
		entries, _ := os.ReadDir(s.dir)
		for _, e := range entries {
			s.names = append(s.names, e.Name())
		}
	}
	if len(p) > 512 {
		p = p[:512] // small reads, so the spy runs mid-upload
	}
	return s.r.Read(p)
}

// Every temporary file of an upload is a spool file under
// PACKYARD_DATA_DIR/tmp, within PACKYARD_TMP_MAX_SIZE: past the cap the
// upload is refused naming it, and nothing is stored.
func TestUploadSpoolsUnderDataDir(t *testing.T) {
	s := newStack(t, stackOpts{env: map[string]string{"PACKYARD_TMP_MAX_SIZE": "64KiB"}})
	s.org("acme")
	write := s.token("acme", metadata.RoleWrite)
	tmp := s.svc.tmp
	require.Equal(t, filepath.Join(s.k.Env["PACKYARD_DATA_DIR"], "tmp"), tmp.Dir())

	// While an upload arrives, its spool file is in the spool directory.
	z := makeZip(t, zf{name: "composer.json", body: `{"name":"acme/x"}`}, zf{name: "pad", body: strings.Repeat("p", 8<<10)})
	spy := &spyReader{r: bytes.NewReader(z), dir: tmp.Dir(), half: int64(len(z) / 2)}
	_, err := s.svc.Upload(t.Context(), "acme", "1.0.0", spy)
	require.NoError(t, err)
	require.True(t, spy.seen)
	require.Len(t, spy.names, 1, "one spool file while the upload arrives: %v", spy.names)
	require.True(t, strings.HasPrefix(spy.names[0], "packyard-composer-upload-"), spy.names[0])
	left, err := os.ReadDir(tmp.Dir())
	require.NoError(t, err)
	require.Empty(t, left, "the spool file is removed after the upload")
	require.Zero(t, tmp.Used())

	// An upload larger than the cap alone: 413 naming the limit, nothing stored.
	before := blobCount(t, s.meta)
	noise := make([]byte, 96<<10)
	_, _ = rand.Read(noise)
	big := makeZip(t, zf{name: "composer.json", body: `{"name":"acme/big"}`}, zf{name: "noise", body: string(noise)})
	res, body := s.do("PUT", "/composer/acme/upload?version=1.0.0", write, bytes.NewReader(big))
	require.Equal(t, http.StatusRequestEntityTooLarge, res.StatusCode, string(body))
	require.Contains(t, string(body), "PACKYARD_TMP_MAX_SIZE")
	require.Equal(t, before, blobCount(t, s.meta), "a refused upload stores nothing")
	require.Empty(t, s.p2("acme", "acme/big", write))
	left, err = os.ReadDir(tmp.Dir())
	require.NoError(t, err)
	require.Empty(t, left)
	require.Zero(t, tmp.Used())
}

// A clone is a spool directory whose writes are charged against
// PACKYARD_TMP_MAX_SIZE as they happen: a repository larger than the cap
// stops the clone once the cap is reached (the directory never holds more
// than the cap, checked while the server is still sending), fails the sync
// naming the limit, and leaves nothing (a successful sync keeps its mirror
// until the source is removed).
func TestCloneSpoolsUnderDataDir(t *testing.T) {
	harness.Tool(t, "git")
	backend := "/usr/lib/git-core/git-http-backend"
	if _, err := os.Stat(backend); err != nil {
		t.Fatalf("git http-backend not found: %v", err)
	}
	const limit = 64 << 10
	s := newStack(t, stackOpts{env: map[string]string{"PACKYARD_TMP_MAX_SIZE": "64KiB"}})
	s.org("acme")
	ctx := t.Context()

	root := t.TempDir()
	bare := func(name string, files map[string]string) string {
		g := harness.GitRepo(t)
		g.Commit(files)
		g.Git("tag", "1.0.0")
		out, err := exec.Command("git", "clone", "-q", "--bare", g.Dir, filepath.Join(root, name+".git")).CombinedOutput()
		require.NoError(t, err, string(out))
		return name + ".git"
	}
	noise := make([]byte, 2<<20) // incompressible: the pack is as large
	_, _ = rand.Read(noise)
	small := bare("small", map[string]string{"composer.json": `{"name":"acme/small"}`})
	big := bare("big", map[string]string{"composer.json": `{"name":"acme/big"}`, "noise": string(noise)})
	backendHandler := &cgi.Handler{Path: backend, Env: []string{"GIT_PROJECT_ROOT=" + root, "GIT_HTTP_EXPORT_ALL=1"}}
	var peak atomic.Int64 // the spool's size while the pack was being sent
	measured := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasSuffix(r.URL.Path, "/git-upload-pack") || !strings.Contains(r.URL.Path, big) {
			backendHandler.ServeHTTP(w, r)
			return
		}
		m := &measuringWriter{ResponseWriter: w, after: 768 << 10, measure: func() {
			peak.Store(dirSize(s.svc.tmp.Dir()))
		}}
		backendHandler.ServeHTTP(m, r)
		m.once() // the client stopped reading before the threshold
		close(measured)
	}))
	t.Cleanup(srv.Close)

	src, _, err := s.svc.AddSource(ctx, "acme", SourceInput{URL: srv.URL + "/" + small})
	require.NoError(t, err)
	rep, err := s.svc.SyncSource(ctx, src.ID)
	require.NoError(t, err)
	require.Equal(t, "acme/small", rep.Package)

	src, _, err = s.svc.AddSource(ctx, "acme", SourceInput{URL: srv.URL + "/" + big})
	require.NoError(t, err)
	_, err = s.svc.SyncSource(ctx, src.ID)
	require.ErrorIs(t, err, errs.ErrTooLarge)
	require.Contains(t, err.Error(), "PACKYARD_TMP_MAX_SIZE")
	select {
	case <-measured:
	case <-time.After(10 * time.Second):
		t.Fatal("the pack was never requested")
	}
	require.LessOrEqual(t, peak.Load(), int64(limit), "the clone stopped at the cap while the server was still sending")

	left, err := os.ReadDir(s.svc.tmp.Dir())
	require.NoError(t, err)
	require.Len(t, left, 1, "the failed clone is removed; the small repository's mirror stays for its next sync")
	require.NoError(t, s.svc.RemoveSource(ctx, "acme", srv.URL+"/"+small))
	left, err = os.ReadDir(s.svc.tmp.Dir())
	require.NoError(t, err)
	require.Empty(t, left, "a removed source's mirror is removed")
	require.Zero(t, s.svc.tmp.Used())
}

// measuringWriter calls measure once, after more than after bytes of the
// response were sent and the client was given time to store them.
type measuringWriter struct {
	http.ResponseWriter
	after   int64
	sent    int64
	done    bool
	measure func()
}

func (m *measuringWriter) Write(p []byte) (int, error) {
	n, err := m.ResponseWriter.Write(p)
	m.sent += int64(n)
	if m.sent > m.after && !m.done {
		if f, ok := m.ResponseWriter.(http.Flusher); ok {
			f.Flush()
		}
		time.Sleep(300 * time.Millisecond) // the client reads and writes what it got
		m.once()
	}
	return n, err
}

func (m *measuringWriter) once() {
	if !m.done {
		m.done = true
		m.measure()
	}
}

// dirSize is the size of the regular files under dir (files that vanish
// while it walks are skipped).
func dirSize(dir string) int64 {
	var size int64
	_ = filepath.WalkDir(dir, func(_ string, e fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if info, err := e.Info(); err == nil && info.Mode().IsRegular() {
			size += info.Size()
		}
		return nil
	})
	return size
}

package composer

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

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

// A clone is a spool directory charged against PACKYARD_TMP_MAX_SIZE: one
// larger than the cap fails the sync naming the limit, and leaves nothing.
func TestCloneSpoolsUnderDataDir(t *testing.T) {
	harness.Tool(t, "git")
	backend := "/usr/lib/git-core/git-http-backend"
	if _, err := os.Stat(backend); err != nil {
		t.Fatalf("git http-backend not found: %v", err)
	}
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
	noise := make([]byte, 96<<10)
	_, _ = rand.Read(noise)
	small := bare("small", map[string]string{"composer.json": `{"name":"acme/small"}`})
	big := bare("big", map[string]string{"composer.json": `{"name":"acme/big"}`, "noise": hex.EncodeToString(noise)})
	srv := httptest.NewServer(&cgi.Handler{Path: backend, Env: []string{"GIT_PROJECT_ROOT=" + root, "GIT_HTTP_EXPORT_ALL=1"}})
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

	left, err := os.ReadDir(s.svc.tmp.Dir())
	require.NoError(t, err)
	require.Empty(t, left, "clones are removed")
	require.Zero(t, s.svc.tmp.Used())
}

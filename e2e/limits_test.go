package e2e

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/packyard/packyard/e2e/harness"
)

// scrape reads the exposition at url with a Bearer token and returns the
// status and the number of series lines.
func scrape(t *testing.T, url, token string) (int, int) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	n := 0
	for _, l := range strings.Split(string(b), "\n") {
		if l != "" && !strings.HasPrefix(l, "#") {
			n++
		}
	}
	return res.StatusCode, n
}

// randomPaths are request shapes with random segments over both protocols.
var randomPaths = []string{"/{r}/{r}", "/composer/{r}/packages.json", "/composer/acme/p2/{r}/{r}.json",
	"/buf.registry.module.v1.ModuleService/{r}", "/{r}.v1.Service/Method"}

func randomPath(i int) string {
	return strings.ReplaceAll(randomPaths[i%len(randomPaths)], "{r}", fmt.Sprintf("%x", uint64(i)*0x9e3779b97f4a7c15))
}

// /metrics on its own listener with a token: not on the main listener,
// refused without the token, and 500 requests to random paths on both
// protocols add no series.
func TestMetricsBoundedAndProtected(t *testing.T) {
	addr := fmt.Sprintf("127.0.0.1:%d", harness.FreePort(t))
	in := harness.Start(t, harness.Options{Env: map[string]string{
		"PACKYARD_METRICS_ADDR": addr, "PACKYARD_METRICS_TOKEN": "scrape-me",
	}})
	tok := in.Token("acme", "read")
	metricsURL := "http://" + addr + "/metrics"

	res, body := get(t, in, "/metrics", "")
	require.Equal(t, http.StatusNotFound, res.StatusCode, "not served on the main listener")
	require.NotContains(t, body, "packyard_http_requests_total")
	code, _ := scrape(t, metricsURL, "")
	require.Equal(t, http.StatusUnauthorized, code)
	code, _ = scrape(t, metricsURL, "scrape-mf")
	require.Equal(t, http.StatusUnauthorized, code)

	hit := func(i int) {
		method := http.MethodGet
		if strings.Contains(randomPaths[i%len(randomPaths)], "Service/") {
			method = http.MethodPost
		}
		req, _ := http.NewRequest(method, in.URL+randomPath(i), strings.NewReader("{}"))
		req.Header.Set("Content-Type", "application/json")
		req.SetBasicAuth("token", tok)
		res, err := in.Client.Do(req)
		require.NoError(t, err)
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
	}
	for i := range len(randomPaths) {
		hit(i)
	}
	code, before := scrape(t, metricsURL, "scrape-me")
	require.Equal(t, http.StatusOK, code)
	for i := len(randomPaths); i < len(randomPaths)+500; i++ {
		hit(i)
	}
	_, after := scrape(t, metricsURL, "scrape-me")
	require.Equal(t, before, after, "random paths add no series")
}

// A slowloris client (headers a line at a time) is disconnected after the
// read-header timeout, and a body that stops arriving after the read
// timeout, by the real binary.
func TestSlowClientsAreDisconnected(t *testing.T) {
	in := harness.Start(t, harness.Options{Env: map[string]string{
		"PACKYARD_HTTP_READ_HEADER_TIMEOUT": "1s", "PACKYARD_HTTP_READ_TIMEOUT": "1s",
	}})
	disconnectedAfter := func(first string, trickle bool) time.Duration {
		conn, err := net.Dial("tcp", in.Host)
		require.NoError(t, err)
		defer conn.Close()
		_, err = io.WriteString(conn, first)
		require.NoError(t, err)
		done := make(chan struct{})
		defer close(done)
		if trickle {
			go func() {
				for i := 0; ; i++ {
					select {
					case <-done:
						return
					case <-time.After(200 * time.Millisecond):
					}
					if _, err := fmt.Fprintf(conn, "X-Slow-%d: y\r\n", i); err != nil {
						return
					}
				}
			}()
		}
		start := time.Now()
		require.NoError(t, conn.SetReadDeadline(start.Add(10*time.Second)))
		_, err = io.Copy(io.Discard, conn)
		var ne net.Error
		require.False(t, errors.As(err, &ne) && ne.Timeout(), "still connected after 10s")
		return time.Since(start)
	}
	took := disconnectedAfter("GET /healthz HTTP/1.1\r\nHost: x\r\n", true)
	require.Greater(t, took, 800*time.Millisecond)
	require.Less(t, took, 5*time.Second)
	took = disconnectedAfter("POST /composer/acme/upload HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\nPK", false)
	require.Less(t, took, 5*time.Second)
}

// uploadZip PUTs a Composer zip as curl --upload-file does.
func uploadZip(t *testing.T, in *harness.Instance, token, org, version, zipPath string) (int, string) {
	t.Helper()
	b, err := os.ReadFile(zipPath)
	require.NoError(t, err)
	req, _ := http.NewRequest(http.MethodPut, in.URL+"/composer/"+org+"/upload?version="+version, bytes.NewReader(b))
	req.SetBasicAuth("token", token)
	res, err := in.Client.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(body)
}

// Everything under the data directory is private whatever the umask
// (directories 0700, files 0600: the database with its WAL and shared
// memory, the blobs, the temporary directory), the temporary directory is
// emptied at start, and temporary files are capped by PACKYARD_TMP_MAX_SIZE.
func TestDataDirectoryIsPrivateAndBounded(t *testing.T) {
	old := syscall.Umask(0)
	in := harness.Start(t, harness.Options{Env: map[string]string{"PACKYARD_TMP_MAX_SIZE": "256KiB"}})
	write := in.Token("acme", "write")
	code, body := uploadZip(t, in, write, "acme", "1.0.0", harness.ZipPackage(t, map[string]string{
		"composer.json": `{"name": "acme/small", "type": "library"}`, "README": "small"}))
	require.Less(t, code, 300, body)

	// What a crashed run left in tmp is gone after a restart.
	tmp := filepath.Join(in.DataDir, "tmp")
	require.NoError(t, os.WriteFile(filepath.Join(tmp, "leftover-upload"), []byte("x"), 0o644))
	require.NoError(t, os.MkdirAll(filepath.Join(tmp, "leftover-clone", ".git"), 0o755))
	in.Restart()
	syscall.Umask(old)
	entries, err := os.ReadDir(tmp)
	require.NoError(t, err)
	require.Empty(t, entries, "tmp is emptied at start")

	seen := map[string]bool{}
	require.NoError(t, filepath.WalkDir(in.DataDir, func(p string, d fs.DirEntry, err error) error {
		require.NoError(t, err)
		fi, err := d.Info()
		require.NoError(t, err)
		want := fs.FileMode(0o600)
		if d.IsDir() {
			want = 0o700
		}
		require.Equal(t, want, fi.Mode().Perm(), p)
		rel, _ := filepath.Rel(in.DataDir, p)
		seen[strings.SplitN(rel, string(filepath.Separator), 2)[0]] = true
		return nil
	}))
	for _, name := range []string{"packyard.db", "packyard.db-wal", "packyard.db-shm", "blobs", "tmp"} {
		require.True(t, seen[name], "%s was checked", name)
	}

	// An upload that needs more temporary space than the cap is refused,
	// naming the limit.
	random := make([]byte, 400<<10)
	_, _ = rand.Read(random)
	code, body = uploadZip(t, in, write, "acme", "1.0.0", harness.ZipPackage(t, map[string]string{
		"composer.json": `{"name": "acme/big", "type": "library"}`, "blob.bin": string(random)}))
	require.Equal(t, http.StatusRequestEntityTooLarge, code, body)
	require.Contains(t, body, "PACKYARD_TMP_MAX_SIZE")
	entries, err = os.ReadDir(tmp)
	require.NoError(t, err)
	require.Empty(t, entries, "no temporary file is left behind")
}

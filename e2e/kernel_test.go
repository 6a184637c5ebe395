package e2e

import (
	"crypto/tls"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/net/http2"

	"github.com/packyard/packyard/e2e/harness"
)

func get(t *testing.T, in *harness.Instance, path, token string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, in.URL+path, nil)
	require.NoError(t, err)
	if token != "" {
		req.SetBasicAuth("token", token)
	}
	res, err := in.Client.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res, string(b)
}

// The admin CLI's exact forms work against both metadata drivers, and what
// it changes is seen at once by the running server.
func TestCLIForms(t *testing.T) {
	for _, backend := range harness.Backends {
		t.Run(string(backend), func(t *testing.T) {
			in := harness.Start(t, harness.Options{Backend: backend})

			require.Equal(t, "acme", in.MustCLI("org", "create", "acme"))
			require.Equal(t, "pub", in.MustCLI("org", "create", "pub", "--public"))
			_, stderr, err := in.CLI("org", "create", "acme")
			require.Error(t, err, "creating an existing organization fails")
			require.Contains(t, stderr, `organization "acme" already exists`)

			require.Equal(t, "alice", in.MustCLI("user", "create", "alice", "--admin"))
			require.Equal(t, "bob", in.MustCLI("user", "create", "bob"))
			in.MustCLI("org", "add-member", "acme", "bob", "--role", "write")
			_, stderr, err = in.CLI("org", "add-member", "acme", "bob", "--role", "owner")
			require.Error(t, err)
			require.Contains(t, stderr, `role "owner" is not one of read, write, admin`)

			botTok := in.MustCLI("token", "create", "--org", "acme", "--scope", "read")
			require.Regexp(t, `^pky_[0-9a-f]{16}_[0-9a-f]{48}$`, botTok, "only the token is printed")
			bobTok := in.MustCLI("token", "create", "--org", "acme", "--scope", "write", "--user", "bob", "--name", "laptop", "--expires", "30d")
			_, stderr, err = in.CLI("token", "create", "--org", "acme", "--scope", "admin", "--user", "bob")
			require.Error(t, err, "a token cannot exceed its user's role")
			require.Contains(t, stderr, "does not allow a admin token")
			_, stderr, err = in.CLI("token", "create", "--org", "acme", "--scope", "read", "--expires", "soon")
			require.Error(t, err)
			require.Contains(t, stderr, "--expires")

			var list []map[string]any
			require.NoError(t, json.Unmarshal([]byte(in.MustCLI("token", "list", "--org", "acme", "--json")), &list))
			require.Len(t, list, 2)
			byUser := map[string]map[string]any{}
			for _, tk := range list {
				byUser[tk["user"].(string)] = tk
				require.NotContains(t, tk, "hash")
			}
			require.Equal(t, "read", byUser["acme-bot"]["scope"])
			require.Equal(t, "laptop", byUser["bob"]["name"])
			require.NotNil(t, byUser["bob"]["expires_at"])
			require.NotContains(t, in.MustCLI("token", "list", "--org", "acme"), bobTok[21:], "secrets are never listed")

			// The running server sees the CLI's tokens at once.
			res, body := get(t, in, "/api/v1/whoami", bobTok)
			require.Equal(t, http.StatusOK, res.StatusCode, body)
			require.Contains(t, body, `"user":"bob"`)
			res, body = get(t, in, "/api/v1/whoami", botTok)
			require.Equal(t, http.StatusOK, res.StatusCode, body)
			require.Contains(t, body, `"user":"acme-bot"`)

			// Revocation applies within a second (the server keeps tokens in
			// memory and hears of the CLI's change through the database).
			id := byUser["bob"]["id"].(string)
			require.Equal(t, "revoked "+id, in.MustCLI("token", "revoke", id))
			require.Eventually(t, func() bool { return status(t, in, "/api/v1/whoami", bobTok) == http.StatusUnauthorized },
				time.Second, 10*time.Millisecond)
			_, stderr, err = in.CLI("token", "revoke", "0000000000000000")
			require.Error(t, err)
			require.Contains(t, stderr, "not found")

			out := in.MustCLI("org", "list", "--json")
			require.Contains(t, out, `"name": "pub"`)
			require.Contains(t, in.MustCLI("org", "members", "acme"), "bob")
			require.NotEmpty(t, in.MustCLI("version"))
			require.Contains(t, in.MustCLI("migrate"), "database at version")

			_, stderr, err = in.CLI("token", "create", "--org", "nope", "--scope", "read")
			require.Error(t, err)
			require.Contains(t, stderr, `organization "nope"`)
			_, stderr, err = in.CLI("frobnicate")
			require.Error(t, err)
			require.NotEmpty(t, stderr)
		})
	}
}

// Health, readiness, metrics, request ids, credentials, h2c and TLS.
func TestServerBasics(t *testing.T) {
	in := harness.Start(t, harness.Options{Backend: harness.Embedded})
	res, body := get(t, in, "/healthz", "")
	require.Equal(t, http.StatusOK, res.StatusCode)
	require.JSONEq(t, `{"status":"ok"}`, body)
	res, body = get(t, in, "/readyz", "")
	require.Equal(t, http.StatusOK, res.StatusCode, body)
	require.Len(t, res.Header.Get("X-Request-Id"), 24)

	res, body = get(t, in, "/api/v1/whoami", "")
	require.Equal(t, http.StatusUnauthorized, res.StatusCode)
	require.Contains(t, res.Header.Get("WWW-Authenticate"), `Basic realm="packyard"`)
	require.Contains(t, body, "no credentials")
	res, _ = get(t, in, "/api/v1/whoami", "pky_0000000000000000_"+strings.Repeat("0", 48))
	require.Equal(t, http.StatusUnauthorized, res.StatusCode)

	tok := in.Token("acme", "read")
	req, _ := http.NewRequest(http.MethodGet, in.URL+"/api/v1/whoami", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("X-Request-Id", "my-trace-1")
	res, err := in.Client.Do(req)
	require.NoError(t, err)
	res.Body.Close()
	require.Equal(t, http.StatusOK, res.StatusCode)
	require.Equal(t, "my-trace-1", res.Header.Get("X-Request-Id"))

	res, body = get(t, in, "/metrics", "")
	require.Equal(t, http.StatusOK, res.StatusCode)
	require.Contains(t, body, "packyard_http_requests_total")
	require.Contains(t, body, "go_goroutines")

	// One access-log line per request, never the token.
	time.Sleep(200 * time.Millisecond)
	log := in.Log()
	require.Contains(t, log, `"request_id":"my-trace-1"`)
	require.NotContains(t, log, tok[21:])

	// h2c: unencrypted HTTP/2 with prior knowledge (gRPC clients).
	h2c := &http.Client{Transport: &http2.Transport{AllowHTTP: true,
		DialTLS: func(network, addr string, _ *tls.Config) (net.Conn, error) { return net.Dial(network, addr) }}}
	res, err = h2c.Get(in.URL + "/healthz")
	require.NoError(t, err)
	res.Body.Close()
	require.Equal(t, 2, res.ProtoMajor)
}

func TestTLS(t *testing.T) {
	in := harness.Start(t, harness.Options{Backend: harness.Embedded, TLS: true})
	require.True(t, strings.HasPrefix(in.URL, "https://"))
	tr := in.Client.Transport.(*http.Transport).Clone()
	tr.ForceAttemptHTTP2 = true
	c := &http.Client{Transport: tr}
	res, err := c.Get(in.URL + "/readyz")
	require.NoError(t, err)
	res.Body.Close()
	require.Equal(t, http.StatusOK, res.StatusCode)
	require.Equal(t, 2, res.ProtoMajor, "HTTP/2 through ALPN")
	tr11 := in.Client.Transport.(*http.Transport).Clone()
	tr11.TLSClientConfig.NextProtos = []string{"http/1.1"}
	res, err = (&http.Client{Transport: tr11}).Get(in.URL + "/healthz")
	require.NoError(t, err)
	res.Body.Close()
	require.Equal(t, 1, res.ProtoMajor, "HTTP/1.1 clients such as the buf CLI still work")
}

// Start-up refuses bad configuration with a message that names the variable.
func TestBadConfiguration(t *testing.T) {
	bin := harness.Binary(t)
	dir := t.TempDir()
	cases := []struct {
		name string
		env  []string
		want string
	}{
		{"log level", []string{"PACKYARD_LOG_LEVEL=loud"}, "PACKYARD_LOG_LEVEL"},
		{"database url scheme", []string{"PACKYARD_DATABASE_URL=mysql://x"}, "PACKYARD_DATABASE_URL"},
		{"unreachable database", []string{"PACKYARD_DATABASE_URL=postgres://postgres@127.0.0.1:1/x?connect_timeout=2"}, "PACKYARD_DATABASE_URL"},
		{"unreachable s3", []string{"PACKYARD_S3_ENDPOINT=127.0.0.1:1", "PACKYARD_S3_USE_TLS=false", "PACKYARD_S3_ACCESS_KEY=a", "PACKYARD_S3_SECRET_KEY=b"}, "PACKYARD_S3_ENDPOINT"},
		{"redis url", []string{"PACKYARD_REDIS_URL=memcached://x"}, "PACKYARD_REDIS_URL"},
		{"size", []string{"PACKYARD_HTTP_MAX_BODY_SIZE=lots"}, "PACKYARD_HTTP_MAX_BODY_SIZE"},
		{"tls half", []string{"PACKYARD_TLS_CERT_FILE=/nonexistent"}, "PACKYARD_TLS_CERT_FILE"},
		{"base url", []string{"PACKYARD_BASE_URL=not a url"}, "PACKYARD_BASE_URL"},
		{"secret file", []string{"PACKYARD_DATABASE_URL_FILE=/nonexistent/secret"}, "PACKYARD_DATABASE_URL_FILE"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command(bin, "serve")
			cmd.Env = append(os.Environ(), "PACKYARD_HTTP_ADDR=127.0.0.1:0", "PACKYARD_DATA_DIR="+filepath.Join(dir, tc.name))
			cmd.Env = append(cmd.Env, tc.env...)
			out, err := runWithTimeout(cmd, 60*time.Second)
			require.Error(t, err, "start-up must fail")
			require.Contains(t, out, tc.want)
			require.NotContains(t, out, "goroutine ", "no panic")
		})
	}
	t.Run("busy port", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		defer l.Close()
		cmd := exec.Command(bin, "serve")
		cmd.Env = append(os.Environ(), "PACKYARD_HTTP_ADDR="+l.Addr().String(), "PACKYARD_DATA_DIR="+filepath.Join(dir, "busy"))
		out, err := runWithTimeout(cmd, 60*time.Second)
		require.Error(t, err)
		require.Contains(t, out, "PACKYARD_HTTP_ADDR")
	})
}

func runWithTimeout(cmd *exec.Cmd, d time.Duration) (string, error) {
	var buf strings.Builder
	cmd.Stdout, cmd.Stderr = &buf, &buf
	if err := cmd.Start(); err != nil {
		return "", err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return buf.String(), err
	case <-time.After(d):
		_ = cmd.Process.Kill()
		<-done
		return buf.String(), nil
	}
}

// A body over PACKYARD_HTTP_MAX_BODY_SIZE is refused before any handler reads it.
func TestBodyLimit(t *testing.T) {
	in := harness.Start(t, harness.Options{Env: map[string]string{"PACKYARD_HTTP_MAX_BODY_SIZE": "1KiB"}})
	res, err := in.Client.Post(in.URL+"/composer/acme/upload", "application/zip", strings.NewReader(strings.Repeat("x", 4096)))
	require.NoError(t, err)
	res.Body.Close()
	require.Equal(t, http.StatusRequestEntityTooLarge, res.StatusCode)
}

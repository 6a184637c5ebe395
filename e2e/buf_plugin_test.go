package e2e

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/packyard/packyard/e2e/harness"
)

// TestBufPluginAdmin manages remote code generation plugins with the
// packyard binary's CLI (`packyard buf plugin add|list|remove`) and the
// admin API, on both layouts.
func TestBufPluginAdmin(t *testing.T) {
	wasmPath := harness.WasmPlugin(t, "./ecosystems/buf/plugin/testdata/misbehave")
	wasm, err := os.ReadFile(wasmPath)
	require.NoError(t, err)
	for _, backend := range harness.Backends {
		t.Run(string(backend), func(t *testing.T) {
			in := harness.Start(t, harness.Options{Backend: backend})
			admin := in.Token("acme", "admin")
			read := in.Token("acme", "read")
			in.Token("other", "read")

			add := []string{"buf", "plugin", "add", "--owner", "acme", "--name", "go", "--version", "v1.0.0", "--wasm", wasmPath,
				"--go-dep", "google.golang.org/protobuf@v1.36.12", "--go-min-version", "1.21"}
			require.Equal(t, "added acme/go:v1.0.0 revision 1", in.MustCLI(add...))
			require.Equal(t, "unchanged acme/go:v1.0.0 revision 1", in.MustCLI(add...), "the same bytes change nothing")
			_, errOut, err := in.CLI("buf", "plugin", "add", "--owner", "acme", "--name", "go", "--version", "1.0", "--wasm", wasmPath)
			require.Error(t, err)
			require.Contains(t, errOut, `plugin version "1.0" is invalid`)
			_, errOut, err = in.CLI("buf", "plugin", "add", "--owner", "acme", "--name", "go", "--version", "v1.0.0", "--wasm", "/etc/hostname")
			require.Error(t, err)
			require.Contains(t, errOut, "not a WebAssembly module")

			var listed []map[string]any
			require.NoError(t, json.Unmarshal([]byte(in.MustCLI("buf", "plugin", "list", "--owner", "acme", "--json")), &listed))
			require.Len(t, listed, 1)
			require.Equal(t, "go", listed[0]["name"])
			require.Equal(t, []any{"google.golang.org/protobuf@v1.36.12"}, listed[0]["go_deps"])
			require.Contains(t, in.MustCLI("buf", "plugin", "list"), "acme/go  v1.0.0")

			// The admin API: other bytes (a custom section) are the next revision.
			call := func(method, path, token string, body []byte) (int, map[string]any) {
				t.Helper()
				req, err := http.NewRequest(method, in.URL+path, bytes.NewReader(body))
				require.NoError(t, err)
				if token != "" {
					req.Header.Set("Authorization", "Bearer "+token)
				}
				res, err := in.Client.Do(req)
				require.NoError(t, err)
				defer res.Body.Close()
				var out map[string]any
				_ = json.NewDecoder(res.Body).Decode(&out)
				return res.StatusCode, out
			}
			other := append(append([]byte(nil), wasm...), 0, 15, 13)
			other = append(append(other, "packyard-test"...), 'x')
			status, out := call("POST", "/api/v1/buf/plugins?owner=acme&name=go&version=v1.0.0&go_dep=google.golang.org/protobuf@v1.36.12&go_min_version=1.21", admin, other)
			require.Equal(t, http.StatusCreated, status, "%v", out)
			require.Equal(t, float64(2), out["plugin"].(map[string]any)["revision"])
			status, _ = call("POST", "/api/v1/buf/plugins?owner=acme&name=go&version=v1.0.0", read, wasm)
			require.Equal(t, http.StatusForbidden, status, "adding needs an administrator")
			status, _ = call("POST", "/api/v1/buf/plugins?owner=acme&name=go&version=v1.0.0", "", wasm)
			require.Equal(t, http.StatusUnauthorized, status)
			status, out = call("GET", "/api/v1/buf/plugins?owner=acme", read, nil)
			require.Equal(t, http.StatusOK, status)
			require.Len(t, out["items"], 2)
			status, _ = call("GET", "/api/v1/buf/plugins?owner=acme", in.Token("other", "admin"), nil)
			require.Equal(t, http.StatusNotFound, status, "another organization's plugins are not even named")
			status, _ = call("DELETE", "/api/v1/buf/plugins/acme/go", read, nil)
			require.Equal(t, http.StatusForbidden, status)

			require.Equal(t, "removed 2 revision(s) of acme/go", in.MustCLI("buf", "plugin", "remove", "--owner", "acme", "--name", "go", "--version", "v1.0.0"))
			status, out = call("GET", "/api/v1/buf/plugins?owner=acme", admin, nil)
			require.Equal(t, http.StatusOK, status)
			require.Empty(t, out["items"])
			require.NotContains(t, out, "next_page_token")
			_, errOut, err = in.CLI("buf", "plugin", "remove", "--owner", "acme", "--name", "go")
			require.Error(t, err)
			require.True(t, strings.Contains(errOut, "not found"), errOut)
		})
	}
}

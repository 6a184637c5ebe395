package harness_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"
	"github.com/stretchr/testify/require"
	"go.uber.org/fx"

	"github.com/packyard/packyard/e2e/harness"
	"github.com/packyard/packyard/pkg/access"
	"github.com/packyard/packyard/pkg/ecosystem"
	"github.com/packyard/packyard/pkg/metadata"
)

// greeter is a service and probe the smallest ecosystem over it: one
// authorized route per organization.
type greeter struct{ text string }

type probe struct{ g *greeter }

func (probe) Name() string { return "probe" }

func (p probe) Register(r ecosystem.Router) error {
	g := r.Group("/probe/:org", r.Require(access.ActionRead, func(c echo.Context) access.Resource {
		return access.Resource{Org: c.Param("org"), Kind: "probe"}
	}))
	g.GET("/hello", func(c echo.Context) error { return c.String(http.StatusOK, p.g.text) })
	return nil
}

func get(t *testing.T, k *harness.Kernel, path, token string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, k.URL+path, nil)
	require.NoError(t, err)
	if token != "" {
		req.SetBasicAuth("token", token)
	}
	res, err := k.Client.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return res.StatusCode, string(b)
}

// The in-process kernel is the daemon's: migrated, ready on both backends,
// with the kernel's authentication in front of an ecosystem the test
// registers the way cmd/packyard registers its own.
func TestNewKernel(t *testing.T) {
	for _, backend := range harness.Backends {
		t.Run(string(backend), func(t *testing.T) {
			var got *greeter
			k := harness.NewKernel(t, harness.KernelOptions{Backend: backend, Modules: []fx.Option{
				fx.Supply(&greeter{text: "hello from the probe"}),
				fx.Provide(ecosystem.As(func(g *greeter) probe { return probe{g: g} })),
				fx.Populate(&got),
			}})
			require.NotNil(t, got, "the test's own pieces are populated too")
			require.True(t, strings.HasPrefix(k.URL, "http://127.0.0.1:"), k.URL)
			code, body := get(t, k, "/readyz", "")
			require.Equal(t, http.StatusOK, code, body)

			k.Org("acme", false)
			tok := k.Token("acme", metadata.RoleRead)
			code, body = get(t, k, "/api/v1/whoami", tok)
			require.Equal(t, http.StatusOK, code, body)
			require.Contains(t, body, `"user":"acme-bot"`)
			code, body = get(t, k, "/probe/acme/hello", tok)
			require.Equal(t, http.StatusOK, code, body)
			require.Equal(t, "hello from the probe", body)
			code, _ = get(t, k, "/probe/acme/hello", "")
			require.Equal(t, http.StatusUnauthorized, code)

			// The parts are the application's own.
			_, err := k.Meta.GetOrg(context.Background(), "acme")
			require.NoError(t, err)
			require.NoError(t, k.DB.Ping(context.Background()))
			require.NotNil(t, k.CAS)
			require.NotNil(t, k.Box)
			require.Equal(t, backend == harness.Services, k.Env["PACKYARD_DATABASE_URL"] != "")
		})
	}
}

// PACKYARD_* variables configure it as they configure the daemon; TLS uses
// a throwaway CA the Kernel's client trusts.
func TestNewKernelEnvAndTLS(t *testing.T) {
	k := harness.NewKernel(t, harness.KernelOptions{TLS: true, Env: map[string]string{"PACKYARD_HTTP_MAX_BODY_SIZE": "1KiB"}})
	require.True(t, strings.HasPrefix(k.URL, "https://127.0.0.1:"), k.URL)
	require.FileExists(t, k.CAFile)
	code, body := get(t, k, "/healthz", "")
	require.Equal(t, http.StatusOK, code, body)
	res, err := k.Client.Post(k.URL+"/api/v1/whoami", "text/plain", strings.NewReader(strings.Repeat("x", 4096)))
	require.NoError(t, err)
	res.Body.Close()
	require.Equal(t, http.StatusRequestEntityTooLarge, res.StatusCode)
}

package e2e

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

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

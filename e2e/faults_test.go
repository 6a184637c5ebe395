package e2e

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/packyard/packyard/e2e/harness"
)

func status(t *testing.T, in *harness.Instance, path, token string) int {
	req, _ := http.NewRequest(http.MethodGet, in.URL+path, nil)
	if token != "" {
		req.SetBasicAuth("token", token)
	}
	res, err := in.Client.Do(req)
	if err != nil {
		return 0
	}
	res.Body.Close()
	return res.StatusCode
}

// When Redis goes away /readyz answers 503 but reads keep working; when it
// returns packyard recovers by itself.
func TestRedisOutage(t *testing.T) {
	r := harness.StartRedis(t)
	in := harness.Start(t, harness.Options{Env: map[string]string{"PACKYARD_REDIS_URL": r.URL()}})
	tok := in.Token("acme", "read")
	require.Equal(t, http.StatusOK, status(t, in, "/api/v1/whoami", tok))

	r.Stop()
	require.Eventually(t, func() bool { return status(t, in, "/readyz", "") == http.StatusServiceUnavailable }, 15*time.Second, 100*time.Millisecond)
	_, body := get(t, in, "/readyz", "")
	require.Contains(t, body, "cache")
	require.Equal(t, http.StatusOK, status(t, in, "/api/v1/whoami", tok), "losing Redis never breaks reads")

	r.Start()
	require.Eventually(t, func() bool { return status(t, in, "/readyz", "") == http.StatusOK }, 20*time.Second, 200*time.Millisecond)
}

// When PostgreSQL goes away requests that need it answer 503 (never 401 or
// 404), /readyz names the database, and everything recovers by itself.
func TestDatabaseOutage(t *testing.T) {
	pg := harness.StartPostgres(t)
	in := harness.Start(t, harness.Options{Env: map[string]string{"PACKYARD_DATABASE_URL": pg.URL()}})
	tok := in.Token("acme", "read")
	require.Equal(t, http.StatusOK, status(t, in, "/api/v1/whoami", tok))

	pg.Stop()
	require.Eventually(t, func() bool { return status(t, in, "/readyz", "") == http.StatusServiceUnavailable }, 15*time.Second, 100*time.Millisecond)
	_, body := get(t, in, "/readyz", "")
	require.Contains(t, body, "database")
	res, body := get(t, in, "/api/v1/whoami", tok)
	require.Equal(t, http.StatusServiceUnavailable, res.StatusCode, body)

	pg.Start()
	require.Eventually(t, func() bool { return status(t, in, "/readyz", "") == http.StatusOK }, 30*time.Second, 200*time.Millisecond)
	require.Equal(t, http.StatusOK, status(t, in, "/api/v1/whoami", tok))
}

// Two replicas over one PostgreSQL, MinIO and Redis: a token revoked through
// the CLI stops working on both within a second.
func TestTwoReplicas(t *testing.T) {
	shared := harness.ServiceEnv(t)
	a := harness.Start(t, harness.Options{Backend: harness.Embedded, Env: shared})
	b := harness.Start(t, harness.Options{Backend: harness.Embedded, Env: shared})
	tok := a.Token("acme", "read")
	require.Equal(t, http.StatusOK, status(t, a, "/api/v1/whoami", tok))
	require.Equal(t, http.StatusOK, status(t, b, "/api/v1/whoami", tok))
	id := tok[4:20]
	b.MustCLI("token", "revoke", id)
	for _, in := range []*harness.Instance{a, b} {
		require.Eventually(t, func() bool { return status(t, in, "/api/v1/whoami", tok) == http.StatusUnauthorized },
			time.Second, 10*time.Millisecond)
	}
}

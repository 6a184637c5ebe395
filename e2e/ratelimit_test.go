package e2e

import (
	"net/http"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/packyard/packyard/e2e/harness"
)

func bearerStatus(t *testing.T, in *harness.Instance, token string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, in.URL+"/api/v1/whoami", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := in.Client.Do(req)
	require.NoError(t, err)
	res.Body.Close()
	return res
}

// Two replicas on the same PostgreSQL and Redis share the failed-sign-in
// limit of a client address: failures on one count on the other.
func TestFailedSignInLimitSharedByReplicas(t *testing.T) {
	env := harness.ServiceEnv(t)
	env["PACKYARD_RATELIMIT_AUTH_FAILURES_PER_ADDRESS"] = "3"
	env["PACKYARD_RATELIMIT_AUTH_FAILURE_WINDOW"] = "1m"
	a := harness.Start(t, harness.Options{Env: env})
	b := harness.Start(t, harness.Options{Env: env})
	good := a.Token("acme", "read")
	bad := good[:len(good)-6] + "ffffff"
	if bad == good {
		bad = good[:len(good)-6] + "eeeeee"
	}

	require.Equal(t, http.StatusOK, bearerStatus(t, b, good).StatusCode)
	require.Equal(t, http.StatusUnauthorized, bearerStatus(t, a, bad).StatusCode)
	require.Equal(t, http.StatusUnauthorized, bearerStatus(t, b, bad).StatusCode)
	require.Equal(t, http.StatusUnauthorized, bearerStatus(t, a, "pky_nonsense").StatusCode)
	for _, in := range []*harness.Instance{a, b} {
		res := bearerStatus(t, in, good)
		require.Equal(t, http.StatusTooManyRequests, res.StatusCode, "the third failure anywhere blocks the address everywhere")
		retry, err := strconv.Atoi(res.Header.Get("Retry-After"))
		require.NoError(t, err)
		require.True(t, retry > 0 && retry <= 60, retry)
		require.Equal(t, "3", res.Header.Get("RateLimit-Limit"))
		require.Equal(t, "0", res.Header.Get("RateLimit-Remaining"))
		require.Equal(t, "3;w=60", res.Header.Get("RateLimit-Policy"))
	}
	res, _ := get(t, a, "/healthz", "")
	require.Equal(t, http.StatusOK, res.StatusCode, "anonymous requests still pass")

	// Both replicas recorded their own failed sign-ins in the shared audit log.
	require.Equal(t, "3", countLines(a.MustCLI("audit", "list", "--action", "signin.failed", "--json"), `"action": "signin.failed"`))
}

func countLines(s, sub string) string {
	n := 0
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			n++
		}
	}
	return strconv.Itoa(n)
}

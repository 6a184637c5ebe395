package e2e

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/packyard/packyard/e2e/harness"
)

func bearerStatus(t *testing.T, in *harness.Instance, token string) *http.Response {
	t.Helper()
	return bearerFrom(t, in, token, "")
}

// bearerFrom calls whoami with a Bearer token; a non-empty from is sent as
// X-Forwarded-For (the client address when proxy headers are trusted).
func bearerFrom(t *testing.T, in *harness.Instance, token, from string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, in.URL+"/api/v1/whoami", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	if from != "" {
		req.Header.Set("X-Forwarded-For", from)
	}
	res, err := in.Client.Do(req)
	require.NoError(t, err)
	res.Body.Close()
	return res
}

// wrongSecret is a token text with good's id and another secret.
func wrongSecret(good, tail string) string {
	bad := good[:len(good)-len(tail)] + tail
	if bad == good {
		bad = good[:len(good)-len(tail)] + strings.Repeat("e", len(tail))
	}
	return bad
}

// Two replicas on the same PostgreSQL and Redis share the failed-sign-in
// limit of a client address: failures on one count on the other. Past the
// limit further failures get 429 everywhere; the correct token is served.
func TestFailedSignInLimitSharedByReplicas(t *testing.T) {
	env := harness.ServiceEnv(t)
	env["PACKYARD_RATELIMIT_AUTH_FAILURES_PER_ADDRESS"] = "3"
	env["PACKYARD_RATELIMIT_AUTH_FAILURE_WINDOW"] = "1m"
	a := harness.Start(t, harness.Options{Env: env})
	b := harness.Start(t, harness.Options{Env: env})
	good := a.Token("acme", "read")
	bad := wrongSecret(good, "ffffff")

	require.Equal(t, http.StatusOK, bearerStatus(t, b, good).StatusCode)
	require.Equal(t, http.StatusUnauthorized, bearerStatus(t, a, bad).StatusCode)
	require.Equal(t, http.StatusUnauthorized, bearerStatus(t, b, bad).StatusCode)
	require.Equal(t, http.StatusUnauthorized, bearerStatus(t, a, "pky_nonsense").StatusCode)
	for _, in := range []*harness.Instance{a, b} {
		res := bearerStatus(t, in, bad)
		require.Equal(t, http.StatusTooManyRequests, res.StatusCode, "the third failure anywhere throttles the address's failures everywhere")
		retry, err := strconv.Atoi(res.Header.Get("Retry-After"))
		require.NoError(t, err)
		require.True(t, retry > 0 && retry <= 60, retry)
		require.Equal(t, "3", res.Header.Get("RateLimit-Limit"))
		require.Equal(t, "0", res.Header.Get("RateLimit-Remaining"))
		require.Equal(t, "3;w=60", res.Header.Get("RateLimit-Policy"))
		require.Equal(t, http.StatusOK, bearerStatus(t, in, good).StatusCode, "a correct token is never refused for others' failures")
	}
	res, _ := get(t, a, "/healthz", "")
	require.Equal(t, http.StatusOK, res.StatusCode, "anonymous requests still pass")

	// Both replicas recorded their own failed sign-ins in the shared audit
	// log; the throttled ones are not recorded again.
	require.Equal(t, "3", countLines(a.MustCLI("audit", "list", "--action", "signin.failed", "--json"), `"action": "signin.failed"`))
}

// Ten bad secrets with a token's (public) id from one address do not lock
// the token's owner out: the correct token answers 200 from that address and
// from another, while the attacker's further failures get 429.
func TestBadSecretsDoNotLockOutTheToken(t *testing.T) {
	in := harness.Start(t, harness.Options{Env: map[string]string{"PACKYARD_TRUST_PROXY_HEADERS": "true"}})
	good := in.Token("acme", "read")
	attacker, owner := "203.0.113.7", "198.51.100.20"
	for i := range 10 {
		require.Equal(t, http.StatusUnauthorized, bearerFrom(t, in, wrongSecret(good, fmt.Sprintf("%06x", i)), attacker).StatusCode, i)
	}
	require.Equal(t, http.StatusOK, bearerFrom(t, in, good, attacker).StatusCode, "from the attacker's address")
	require.Equal(t, http.StatusOK, bearerFrom(t, in, good, owner).StatusCode, "from another address")
	res := bearerFrom(t, in, wrongSecret(good, "abcdef"), attacker)
	require.Equal(t, http.StatusTooManyRequests, res.StatusCode, "the attacker's eleventh failure")
	require.Equal(t, "10", res.Header.Get("RateLimit-Limit"))
	require.NotEmpty(t, res.Header.Get("Retry-After"))
	require.Equal(t, http.StatusUnauthorized, bearerFrom(t, in, wrongSecret(good, "abcdef"), owner).StatusCode,
		"the same id from another address is not throttled")
	require.Equal(t, http.StatusOK, bearerFrom(t, in, good, owner).StatusCode)
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

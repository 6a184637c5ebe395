package e2e

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/packyard/packyard/auth/identity/identitytest"
	"github.com/packyard/packyard/e2e/harness"
)

// signInAnswer is one error answer of the sign-in and device-flow routes.
type signInAnswer struct {
	name    string
	method  string
	path    string
	form    url.Values // POST body; nil: none
	accept  string
	status  int
	errCode string // the OAuth error, for the device flow
}

// requireRequestID checks that an error answer names its request in its
// body as its X-Request-Id header does: JSON request_id, or the sign-in
// page's request id.
func requireRequestID(t *testing.T, in *harness.Instance, a signInAnswer) {
	t.Helper()
	var body io.Reader
	if a.form != nil {
		body = strings.NewReader(a.form.Encode())
	}
	req, err := http.NewRequest(a.method, in.URL+a.path, body)
	require.NoError(t, err)
	if a.form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if a.accept != "" {
		req.Header.Set("Accept", a.accept)
	}
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	require.Equal(t, a.status, res.StatusCode, "%s: %s", a.name, raw)
	id := res.Header.Get("X-Request-Id")
	require.NotEmpty(t, id, a.name)

	if strings.HasPrefix(res.Header.Get("Content-Type"), "text/html") {
		m := regexp.MustCompile(`<code id="request-id">([^<]*)</code>`).FindSubmatch(raw)
		require.NotNil(t, m, "%s: the page names its request: %s", a.name, raw)
		require.Equal(t, id, string(m[1]), a.name)
		return
	}
	require.Equal(t, "application/json", res.Header.Get("Content-Type"), a.name)
	var m map[string]any
	require.NoError(t, json.Unmarshal(raw, &m), "%s: %s", a.name, raw)
	require.Equal(t, id, m["request_id"], "%s: the body names its request: %s", a.name, raw)
	require.NotEmpty(t, m["error"], a.name)
	if a.errCode != "" {
		require.Equal(t, a.errCode, m["error"], a.name)
		require.NotEmpty(t, m["error_description"], "%s: %s", a.name, raw)
	}
}

// Every error answer of the device flow and of the sign-in pages carries
// the request id in its body, as every other error answer of packyard's
// does: with OIDC configured, without it, and with the provider down.
func TestSignInErrorsNameTheirRequest(t *testing.T) {
	grant := "urn:ietf:params:oauth:grant-type:device_code"
	t.Run("configured", func(t *testing.T) {
		op := identitytest.Start(t)
		in := harness.Start(t, harness.Options{Env: oidcEnv(op, "")})
		for _, a := range []signInAnswer{
			{name: "unknown client", method: "POST", path: "/oauth2/device/authorization",
				form: url.Values{"client_id": {"someone-else"}}, status: http.StatusUnauthorized, errCode: "invalid_client"},
			{name: "wrong grant", method: "POST", path: "/oauth2/device/token",
				form: url.Values{"client_id": {op.ClientID}, "grant_type": {"password"}}, status: http.StatusBadRequest, errCode: "unsupported_grant_type"},
			{name: "no device code", method: "POST", path: "/oauth2/device/token",
				form: url.Values{"client_id": {op.ClientID}, "grant_type": {grant}}, status: http.StatusUnauthorized, errCode: "invalid_client"},
			{name: "pending", method: "POST", path: "/oauth2/device/token",
				form: url.Values{"client_id": {op.ClientID}, "grant_type": {grant}, "device_code": {"unknown"}}, status: http.StatusBadRequest},
			{name: "forged callback, page", method: "GET", path: "/auth/oidc/callback?state=forged&code=x", status: http.StatusUnauthorized},
			{name: "forged callback, JSON", method: "GET", path: "/auth/oidc/callback?state=forged&code=x",
				accept: "application/json", status: http.StatusUnauthorized},
		} {
			requireRequestID(t, in, a)
		}
	})
	t.Run("not configured", func(t *testing.T) {
		in := harness.Start(t, harness.Options{})
		for _, a := range []signInAnswer{
			{name: "registration", method: "POST", path: "/oauth2/device/registration", form: url.Values{},
				status: http.StatusBadRequest, errCode: "unsupported_grant_type"},
			{name: "token", method: "POST", path: "/oauth2/device/token", form: url.Values{"grant_type": {grant}},
				status: http.StatusBadRequest, errCode: "unsupported_grant_type"},
			{name: "login page", method: "GET", path: "/auth/oidc/login", status: http.StatusNotFound},
			{name: "login, JSON", method: "GET", path: "/auth/oidc/login", accept: "application/json", status: http.StatusNotFound},
		} {
			requireRequestID(t, in, a)
		}
	})
	t.Run("provider down", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		issuer := "http://" + ln.Addr().String()
		require.NoError(t, ln.Close()) // nothing answers there
		in := harness.Start(t, harness.Options{Env: map[string]string{
			"PACKYARD_OIDC_ISSUER": issuer, "PACKYARD_OIDC_CLIENT_ID": "packyard", "PACKYARD_OIDC_CLIENT_SECRET": "secret",
			"PACKYARD_OUTBOUND_ALLOWED_NETWORKS": "127.0.0.0/8"}})
		for _, a := range []signInAnswer{
			{name: "registration", method: "POST", path: "/oauth2/device/registration", form: url.Values{},
				status: http.StatusServiceUnavailable, errCode: "temporarily_unavailable"},
			{name: "login page", method: "GET", path: "/auth/oidc/login", status: http.StatusServiceUnavailable},
		} {
			requireRequestID(t, in, a)
		}
	})
}

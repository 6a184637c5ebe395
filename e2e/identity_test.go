package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/packyard/packyard/auth/identity/identitytest"
	"github.com/packyard/packyard/e2e/harness"
)

func oidcEnv(op *identitytest.Provider, rules string) map[string]string {
	return map[string]string{
		"PACKYARD_OIDC_ISSUER":        op.Issuer,
		"PACKYARD_OIDC_CLIENT_ID":     op.ClientID,
		"PACKYARD_OIDC_CLIENT_SECRET": op.ClientSecret,
		"PACKYARD_OIDC_ROLE_RULES":    rules,
		"PACKYARD_OIDC_TOKEN_TTL":     "2h",
	}
}

func whoami(t *testing.T, in *harness.Instance, token string) (int, map[string]any) {
	t.Helper()
	res, body := get(t, in, "/api/v1/whoami", token)
	var m map[string]any
	_ = json.Unmarshal([]byte(body), &m)
	return res.StatusCode, m
}

// browserSignIn runs /auth/oidc/login → provider → /auth/oidc/callback with
// a client that follows redirects and keeps cookies, asking for JSON.
func browserSignIn(t *testing.T, in *harness.Instance) (int, map[string]string) {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 30 * time.Second}
	req, _ := http.NewRequest(http.MethodGet, in.URL+"/auth/oidc/login", nil)
	req.Header.Set("Accept", "application/json")
	res, err := c.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	require.Equal(t, "/auth/oidc/callback", res.Request.URL.Path, "the redirects end at packyard's callback")
	var out map[string]string
	b, _ := io.ReadAll(res.Body)
	require.NoError(t, json.Unmarshal(b, &out), string(b))
	return res.StatusCode, out
}

// An authorization-code sign-in with PKCE against a real provider creates
// the user once, applies the claim rules, and mints a token that works on
// the API; a forged callback is refused and audited.
func TestOIDCAuthorizationCodeSignIn(t *testing.T) {
	op := identitytest.Start(t)
	env := oidcEnv(op, "email=test-user@*:acme:write; email=test-user2@*:acme:read; email=nobody@*:other:admin")
	env["PACKYARD_OIDC_LINK_BY_EMAIL"] = "true"
	in := harness.Start(t, harness.Options{Env: env})
	op.AllowRedirect(in.URL + "/auth/oidc/callback")
	in.MustCLI("org", "create", "acme")
	in.MustCLI("org", "create", "other")
	// An administrator pre-created the first user as a site administrator
	// with the e-mail address the provider verified: the sign-in links to it
	// (a name alone never links).
	in.MustCLI("user", "create", "test-user-127.0.0.1", "--admin", "--email", "test-user@zitadel.ch")

	code, out := browserSignIn(t, in)
	require.Equal(t, http.StatusOK, code, out)
	require.Equal(t, "test-user-127.0.0.1", out["user"], "the preferred_username claim, made a valid name")
	require.Regexp(t, `^pky_[0-9a-f]{16}_[0-9a-f]{48}$`, out["token"])
	exp, err := time.Parse(time.RFC3339, out["expires_at"])
	require.NoError(t, err)
	require.WithinDuration(t, time.Now().Add(2*time.Hour), exp, time.Minute, "PACKYARD_OIDC_TOKEN_TTL")
	st, who := whoami(t, in, out["token"])
	require.Equal(t, http.StatusOK, st)
	require.Equal(t, "test-user-127.0.0.1", who["user"])
	require.Contains(t, in.MustCLI("org", "members", "acme"), "test-user-127.0.0.1  write")
	require.NotContains(t, in.MustCLI("org", "members", "other"), "test-user", "no rule for other matched")
	// A site administrator's sign-in token reads the whole audit log.
	code, all := auditAPI(t, in, "", out["token"])
	require.Equal(t, http.StatusOK, code)
	require.NotEmpty(t, all)

	// A second sign-in finds the same user; a second user gets its own role.
	_, again := browserSignIn(t, in)
	require.Equal(t, "test-user-127.0.0.1", again["user"])
	require.NotEqual(t, out["token"], again["token"])
	op.LoginAs(identitytest.User2Name)
	_, second := browserSignIn(t, in)
	require.Equal(t, "test-user2", second["user"])
	code, _ = auditAPI(t, in, "", second["token"])
	require.Equal(t, http.StatusForbidden, code, "only site administrators read the whole log")
	code, _ = auditAPI(t, in, "?org=acme", second["token"])
	require.Equal(t, http.StatusForbidden, code, "a reader of acme is not its admin")
	require.Contains(t, in.MustCLI("org", "members", "acme"), "test-user2           read")
	var users []map[string]any
	require.NoError(t, json.Unmarshal([]byte(in.MustCLI("user", "list", "--json")), &users))
	require.Len(t, users, 2, "each user created once")

	// The HTML page shows the token once.
	jar, _ := cookiejar.New(nil)
	res, err := (&http.Client{Jar: jar}).Get(in.URL + "/auth/oidc/login")
	require.NoError(t, err)
	page, _ := io.ReadAll(res.Body)
	res.Body.Close()
	require.Equal(t, "text/html; charset=utf-8", res.Header.Get("Content-Type"))
	require.Contains(t, string(page), "Signed in as test-user2")
	require.Regexp(t, `pky_[0-9a-f]{16}_[0-9a-f]{48}`, string(page))

	// A callback without the browser's state cookie is refused.
	res, body := get(t, in, "/auth/oidc/callback?state=forged&code=x", "")
	require.Equal(t, http.StatusUnauthorized, res.StatusCode, body)
	require.Contains(t, body, "state does not match")

	var events []auditEvent
	require.NoError(t, json.Unmarshal([]byte(in.MustCLI("audit", "list", "--json")), &events))
	count := map[string]int{}
	for _, e := range events {
		count[e.Action]++
	}
	require.Equal(t, 4, count["signin"])
	require.Equal(t, 1, count["signin.failed"])
	require.Equal(t, 2, count["user.create"], "one by the CLI, one on a first sign-in only")
	require.Equal(t, 2, count["member.set"], "a role is set once, not on every sign-in")
	require.Equal(t, 4+0, count["token.create"])
}

func postJSON(t *testing.T, url string, body any) (*http.Response, map[string]any) {
	t.Helper()
	b, _ := json.Marshal(body)
	res, err := http.Post(url, "application/json", bytes.NewReader(b))
	require.NoError(t, err)
	defer res.Body.Close()
	var m map[string]any
	raw, _ := io.ReadAll(res.Body)
	require.NoError(t, json.Unmarshal(raw, &m), string(raw))
	return res, m
}

// The device flow endpoints, driven by golang.org/x/oauth2 as a client:
// the provider's token never reaches the client, packyard's does, and it
// survives a restart until it is revoked.
func TestDeviceFlowEndpoints(t *testing.T) {
	op := identitytest.Start(t)
	in := harness.Start(t, harness.Options{Env: oidcEnv(op, "")})

	res, reg := postJSON(t, in.URL+"/oauth2/device/registration", map[string]string{"client_name": "laptop"})
	require.Equal(t, http.StatusOK, res.StatusCode)
	require.Equal(t, "application/json", res.Header.Get("Content-Type"))
	require.Equal(t, op.ClientID, reg["client_id"])
	require.NotContains(t, reg, "client_secret", "the provider's secret stays in packyard")

	cfg := &oauth2.Config{ClientID: reg["client_id"].(string), Endpoint: oauth2.Endpoint{
		DeviceAuthURL: in.URL + "/oauth2/device/authorization", TokenURL: in.URL + "/oauth2/device/token",
		AuthStyle: oauth2.AuthStyleInParams}}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	da, err := cfg.DeviceAuth(ctx)
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(da.VerificationURIComplete, op.Issuer), da.VerificationURIComplete)
	require.Contains(t, da.VerificationURIComplete, "user_code=")
	require.EqualValues(t, identitytest.DevicePollSec, da.Interval)

	// Before approval the poll is pending.
	res, pending := postForm(t, in.URL+"/oauth2/device/token", url.Values{"client_id": {op.ClientID}, "device_code": {da.DeviceCode},
		"grant_type": {"urn:ietf:params:oauth:grant-type:device_code"}})
	require.Equal(t, http.StatusBadRequest, res.StatusCode)
	require.Equal(t, "authorization_pending", pending["error"])

	go func() {
		time.Sleep(1500 * time.Millisecond)
		_ = op.ApproveDevice(context.Background(), da.UserCode, identitytest.User2ID)
	}()
	tok, err := cfg.DeviceAccessToken(ctx, da)
	require.NoError(t, err)
	require.Regexp(t, `^pky_[0-9a-f]{16}_[0-9a-f]{48}$`, tok.AccessToken, "packyard's own token, not the provider's")
	require.Equal(t, "Bearer", tok.TokenType)
	st, who := whoami(t, in, tok.AccessToken)
	require.Equal(t, http.StatusOK, st)
	require.Equal(t, "test-user2", who["user"])

	in.Restart()
	st, _ = whoami(t, in, tok.AccessToken)
	require.Equal(t, http.StatusOK, st, "the token is persisted")
	in.MustCLI("token", "revoke", tok.AccessToken)
	require.Eventually(t, func() bool {
		st, _ := whoami(t, in, tok.AccessToken)
		return st == http.StatusUnauthorized
	}, time.Second, 10*time.Millisecond, "and revocable, within a second")

	// A wrong client id is refused.
	res, bad := postForm(t, in.URL+"/oauth2/device/authorization", url.Values{"client_id": {"someone-else"}})
	require.Equal(t, http.StatusUnauthorized, res.StatusCode)
	require.Equal(t, "invalid_client", bad["error"])
}

func postForm(t *testing.T, u string, v url.Values) (*http.Response, map[string]any) {
	t.Helper()
	res, err := http.PostForm(u, v)
	require.NoError(t, err)
	defer res.Body.Close()
	require.Equal(t, "application/json", res.Header.Get("Content-Type"))
	var m map[string]any
	raw, _ := io.ReadAll(res.Body)
	require.NoError(t, json.Unmarshal(raw, &m), string(raw))
	return res, m
}

// `buf registry login HOST` in the browser: the real buf CLI registers,
// opens the provider's page (a stub opener records it), the test approves
// the code at the provider, buf receives packyard's token, checks it with
// GetCurrentUser and writes it to netrc; `buf registry whoami` then works.
func TestBufRegistryLoginBrowser(t *testing.T) {
	op := identitytest.Start(t)
	in := harness.Start(t, harness.Options{Env: oidcEnv(op, "")})
	c := harness.Buf(t, in.Host, "")
	opened := c.StubBrowser()

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := c.Command(ctx, c.Root, "registry", "login", in.Host)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	require.NoError(t, cmd.Start())
	var userCode string
	require.Eventually(t, func() bool {
		b, err := os.ReadFile(opened)
		if err != nil {
			return false
		}
		u, err := url.Parse(strings.TrimSpace(string(b)))
		if err != nil {
			return false
		}
		userCode = u.Query().Get("user_code")
		return userCode != "" && strings.HasPrefix(u.String(), op.Issuer)
	}, 30*time.Second, 100*time.Millisecond, "buf opens the provider's verification page")
	require.NoError(t, op.ApproveDevice(ctx, userCode, identitytest.User1ID))
	require.NoError(t, cmd.Wait(), "stdout: %s\nstderr: %s", stdout.String(), stderr.String())

	n, err := os.ReadFile(c.Netrc)
	require.NoError(t, err)
	require.Regexp(t, `machine `+strings.ReplaceAll(in.Host, ".", `\.`)+`\s+login test-user-127\.0\.0\.1\s+password pky_[0-9a-f]{16}_[0-9a-f]{48}`, string(n))

	out, err := c.Command(context.Background(), c.Root, "registry", "whoami", in.Host).CombinedOutput()
	require.NoError(t, err, string(out))
	require.Contains(t, string(out), "test-user-127.0.0.1")
}

// Without OIDC, `buf registry login HOST` tells the user to use --token-stdin.
func TestBufRegistryLoginWithoutOIDC(t *testing.T) {
	in := harness.Start(t, harness.Options{})
	res, body := postJSON(t, in.URL+"/oauth2/device/registration", map[string]string{"client_name": "x"})
	require.Equal(t, http.StatusBadRequest, res.StatusCode)
	require.Contains(t, body["error_description"], "--token-stdin")

	c := harness.Buf(t, in.Host, "")
	c.StubBrowser()
	out, err := c.Command(context.Background(), c.Root, "registry", "login", in.Host).CombinedOutput()
	require.Error(t, err)
	require.Contains(t, string(out), "buf registry login "+in.Host+" --token-stdin")
}

// ciIssuer is a CI provider's token service: discovery and JWKS on
// 127.0.0.1, and JWTs signed with its RSA key.
type ciIssuer struct {
	URL    string
	signer jose.Signer
}

func startCIIssuer(t *testing.T) *ciIssuer {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	jwk := jose.JSONWebKey{Key: &key.PublicKey, KeyID: "k1", Algorithm: "RS256", Use: "sig"}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: key, KeyID: "k1"}},
		(&jose.SignerOptions{}).WithType("JWT"))
	require.NoError(t, err)
	ci := &ciIssuer{signer: signer}
	mux := http.NewServeMux()
	mux.HandleFunc("/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"issuer": ci.URL, "jwks_uri": ci.URL + "/jwks",
			"id_token_signing_alg_values_supported": []string{"RS256"}, "response_types_supported": []string{"id_token"},
			"subject_types_supported": []string{"public"}})
	})
	mux.HandleFunc("/jwks", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{jwk}})
	})
	srv := httptest.NewServer(mux) // listens on 127.0.0.1
	t.Cleanup(srv.Close)
	ci.URL = srv.URL
	return ci
}

func (ci *ciIssuer) jwt(t *testing.T, aud string, ttl time.Duration, claims map[string]any) string {
	now := time.Now()
	std := jwt.Claims{Issuer: ci.URL, Subject: fmt.Sprintf("repo:%v:ref:%v", claims["repository"], claims["ref"]),
		Audience: jwt.Audience{aud}, IssuedAt: jwt.NewNumericDate(now), NotBefore: jwt.NewNumericDate(now.Add(-time.Minute)),
		Expiry: jwt.NewNumericDate(now.Add(ttl))}
	raw, err := jwt.Signed(ci.signer).Claims(std).Claims(claims).Serialize()
	require.NoError(t, err)
	return raw
}

// A CI job's OIDC JWT is exchanged for a short-lived organization token
// when a rule accepts its repository and ref, and refused otherwise.
func TestCITokenExchange(t *testing.T) {
	ci := startCIIssuer(t)
	other := startCIIssuer(t) // same claims, untrusted key and issuer
	issuers := fmt.Sprintf(`[{"issuer": %q, "audience": "packyard", "max_ttl": "1h", "rules": [
		{"claims": {"repository": "acme/app", "ref": "refs/heads/main"}, "org": "acme", "scope": "write"},
		{"claims": {"repository": "acme/*"}, "org": "acme", "scope": "read"}]}]`, ci.URL)
	in := harness.Start(t, harness.Options{Env: map[string]string{"PACKYARD_CI_ISSUERS": issuers}})
	in.MustCLI("org", "create", "acme")

	exchange := func(jwt string) (*http.Response, map[string]any) {
		return postJSON(t, in.URL+"/api/v1/token/exchange", map[string]string{"token": jwt})
	}
	main := ci.jwt(t, "packyard", 10*time.Minute, map[string]any{"repository": "acme/app", "ref": "refs/heads/main"})
	res, out := exchange(main)
	require.Equal(t, http.StatusOK, res.StatusCode, out)
	require.Equal(t, "acme", out["org"])
	require.Equal(t, "write", out["scope"])
	exp, err := time.Parse(time.RFC3339Nano, out["expires_at"].(string))
	require.NoError(t, err)
	require.False(t, exp.After(time.Now().Add(10*time.Minute)), "never beyond the JWT's expiry")
	require.True(t, exp.After(time.Now().Add(9*time.Minute)))
	tok := out["token"].(string)
	st, who := whoami(t, in, tok)
	require.Equal(t, http.StatusOK, st)
	require.Equal(t, "write", who["scope"])
	// As a Bearer token (BUF_TOKEN) too.
	require.Equal(t, http.StatusOK, bearerStatus(t, in, tok).StatusCode)

	// A branch of the same repository only reads; the form body works too.
	res, err = http.PostForm(in.URL+"/api/v1/token/exchange", url.Values{"token": {ci.jwt(t, "packyard", time.Hour,
		map[string]any{"repository": "acme/app", "ref": "refs/heads/feature"})}})
	require.NoError(t, err)
	var branch map[string]any
	require.NoError(t, json.NewDecoder(res.Body).Decode(&branch))
	res.Body.Close()
	require.Equal(t, "read", branch["scope"])
	exp, _ = time.Parse(time.RFC3339Nano, branch["expires_at"].(string))
	require.True(t, exp.Before(time.Now().Add(61*time.Minute)), "max_ttl caps the lifetime")

	for name, tc := range map[string]struct {
		jwt    string
		status int
		msg    string
	}{
		"another repository": {ci.jwt(t, "packyard", time.Hour, map[string]any{"repository": "evil/app", "ref": "refs/heads/main"}), http.StatusForbidden, "no rule"},
		"wrong audience":     {ci.jwt(t, "someone-else", time.Hour, map[string]any{"repository": "acme/app", "ref": "refs/heads/main"}), http.StatusUnauthorized, "does not verify"},
		"expired":            {ci.jwt(t, "packyard", -time.Minute, map[string]any{"repository": "acme/app", "ref": "refs/heads/main"}), http.StatusUnauthorized, "does not verify"},
		"untrusted issuer":   {other.jwt(t, "packyard", time.Hour, map[string]any{"repository": "acme/app", "ref": "refs/heads/main"}), http.StatusUnauthorized, "not trusted"},
		"forged signature":   {main[:strings.LastIndex(main, ".")+1] + strings.Repeat("A", 342), http.StatusUnauthorized, "does not verify"},
		"not a JWT":          {"pky_x", http.StatusUnauthorized, "not a JWT"},
	} {
		t.Run(name, func(t *testing.T) {
			res, out := exchange(tc.jwt)
			require.Equal(t, tc.status, res.StatusCode, out)
			e, ok := out["error"].(map[string]any)
			require.True(t, ok, "an admin API error: %v", out)
			require.Contains(t, e["message"], tc.msg)
			require.NotEmpty(t, e["code"])
		})
	}

	var events []auditEvent
	require.NoError(t, json.Unmarshal([]byte(in.MustCLI("audit", "list", "--org", "acme", "--json")), &events))
	count := map[string]int{}
	for _, e := range events {
		count[e.Action]++
		if e.Action == "signin" {
			require.Equal(t, "ci", e.Actor["method"])
			require.Contains(t, e.Actor["user"], "repo:acme/app")
		}
	}
	require.Equal(t, 2, count["signin"])
	require.Equal(t, 2, count["token.create"])
}

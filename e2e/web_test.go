package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/packyard/packyard/auth"
	"github.com/packyard/packyard/auth/identity/identitytest"
	"github.com/packyard/packyard/e2e/harness"
	"github.com/packyard/packyard/pkg/metadata"
	"github.com/packyard/packyard/pkg/web"
)

var csrfRE = regexp.MustCompile(`name="_csrf" value="([0-9a-f]{64})"`)

// webPost sends a form to the packyard at base with the session cookie and
// extra headers, without following redirects; it returns the status.
func webPost(t *testing.T, base, path, session string, form url.Values, headers map[string]string) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, base+path, strings.NewReader(form.Encode()))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if session != "" {
		req.AddCookie(&http.Cookie{Name: web.SessionCookie, Value: session})
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := c.Do(req)
	require.NoError(t, err)
	_, _ = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return res.StatusCode
}

// webGet reads a page with a session cookie (none when "").
func webGet(t *testing.T, base, path, session string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, base+path, nil)
	require.NoError(t, err)
	if session != "" {
		req.AddCookie(&http.Cookie{Name: web.SessionCookie, Value: session})
	}
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return res.StatusCode, string(b)
}

func TestWebSignInCreateTokenShownOnce(t *testing.T) {
	k := harness.NewKernel(t, harness.KernelOptions{})
	k.Org("acme", false)
	admin := k.Token("acme", metadata.RoleAdmin)
	b := harness.NewBrowser(t)

	require.Equal(t, http.StatusUnauthorized, b.Open(k.URL+"/acme"), "a private organization asks to sign in")
	require.True(t, b.Has("[data-testid=error-signin]"))
	b.Submit("[data-testid=error-signin]")
	b.Fill("#f-token", admin)
	b.Submit("[data-testid=signin-form] button[type=submit]")
	require.Equal(t, k.URL+"/acme", b.Location(), "sign-in comes back to the page that asked")
	require.Equal(t, "acme-bot", b.Text("[data-testid=viewer]"))
	require.Contains(t, b.Text("h1"), "acme")

	b.Open(k.URL + "/acme/-/tokens")
	b.Fill("#f-name", "ci")
	b.Fill("#f-expires", "soon")
	b.Submit("[data-testid=create-token] button[type=submit]")
	require.Contains(t, b.Text("#e-expires"), "Use a duration", "the message is next to the field")
	require.Equal(t, "soon", harness.Must(b, chromedp.Value(chromedp.CSS("#f-expires"))), "what was typed is kept")
	require.Equal(t, "ci", harness.Must(b, chromedp.Value(chromedp.CSS("#f-name"))))
	require.False(t, b.Has("[data-testid=secret]"))
	b.Fill("#f-expires", "30d")
	b.Fill("#f-scope", "write")
	b.Submit("[data-testid=create-token] button[type=submit]")
	secret := strings.TrimSpace(b.Text("[data-testid=secret]"))
	require.Regexp(t, `^pky_[0-9a-f]{16}_[0-9a-f]{48}$`, secret)
	page := b.HTML()
	require.Contains(t, page, `composer config --global http-basic.`+k.Host+` token `+secret)
	require.Contains(t, page, `buf registry login `+k.Host+` --token-stdin`)
	require.Contains(t, page, `"http-basic": {`, "the auth.json snippet")

	code, _ := whoamiKernel(t, k, secret)
	require.Equal(t, http.StatusOK, code, "the new token works")

	b.Open(k.URL + "/acme/-/tokens")
	require.False(t, b.Has("[data-testid=secret]"), "the secret is shown once")
	require.NotContains(t, b.HTML(), secret)
	require.Contains(t, b.Text("[data-testid=tokens]"), "ci")
}

func whoamiKernel(t *testing.T, k *harness.Kernel, token string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, k.URL+"/api/v1/whoami", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

func TestWebRevokedTokenEndsSession(t *testing.T) {
	k := harness.NewKernel(t, harness.KernelOptions{})
	k.Org("acme", false)
	text, tok, err := k.Auth.CreateToken(context.Background(), auth.CreateTokenRequest{Org: "acme", Scope: metadata.RoleWrite})
	require.NoError(t, err)
	b := harness.NewBrowser(t)
	harness.SignIn(t, b, k.URL, text)
	require.Equal(t, http.StatusOK, b.Open(k.URL+"/acme"))

	require.NoError(t, k.Auth.RevokeToken(context.Background(), tok.ID))
	require.Eventually(t, func() bool { return b.Open(k.URL+"/acme") == http.StatusUnauthorized }, 5e9, 1e8,
		"the next page after the token's revocation asks to sign in")
	require.True(t, b.Has("[data-testid=error-signin]"))
	require.False(t, b.Has("[data-testid=viewer]"))
}

func TestWebReadOnlyViewer(t *testing.T) {
	k := harness.NewKernel(t, harness.KernelOptions{})
	k.Org("acme", false)
	ctx := context.Background()
	_, err := k.Auth.CreateUser(ctx, "reader", false)
	require.NoError(t, err)
	require.NoError(t, k.Auth.AddMember(ctx, "acme", "reader", metadata.RoleRead))
	text, _, err := k.Auth.CreateToken(ctx, auth.CreateTokenRequest{Org: "acme", Scope: metadata.RoleRead, User: "reader"})
	require.NoError(t, err)
	b := harness.NewBrowser(t)
	harness.SignIn(t, b, k.URL, text)

	require.Equal(t, http.StatusOK, b.Open(k.URL+"/acme"))
	require.False(t, b.Has(`a[href="/acme/-/tokens"]`), "no link to the tokens page")
	require.False(t, b.Has(`a[href="/acme/-/members"]`))
	require.False(t, b.Has(`a[href="/acme/-/settings"]`))
	b.Open(k.URL + "/")
	require.False(t, b.Has(`form[action="/-/orgs"]`), "no organization form for a non-administrator")
	require.Equal(t, http.StatusForbidden, b.Open(k.URL+"/acme/-/tokens"))

	// Forcing the POSTs with a valid session and CSRF token: refused by the authorizer.
	session := b.Cookie(k.URL, web.SessionCookie)
	require.NotEmpty(t, session)
	m := csrfRE.FindStringSubmatch(b.HTML())
	require.NotNil(t, m, "the page carries the session's CSRF token")
	for path, form := range map[string]url.Values{
		"/acme/-/tokens":   {"_csrf": {m[1]}, "scope": {"admin"}},
		"/acme/-/members":  {"_csrf": {m[1]}, "user": {"reader"}, "role": {"admin"}},
		"/acme/-/settings": {"_csrf": {m[1]}, "visibility": {"public"}},
		"/-/orgs":          {"_csrf": {m[1]}, "name": {"mine"}},
	} {
		require.Equal(t, http.StatusForbidden, webPost(t, k.URL, path, session, form, nil), path)
	}
	role, err := k.Meta.GetOrg(ctx, "acme")
	require.NoError(t, err)
	require.False(t, role.Public)
	ts, err := k.Auth.ListTokens(ctx, "acme")
	require.NoError(t, err)
	require.Len(t, ts, 1, "no token was created")
}

func TestWebForgedCrossSitePost(t *testing.T) {
	k := harness.NewKernel(t, harness.KernelOptions{})
	k.Org("acme", false)
	admin := k.Token("acme", metadata.RoleAdmin)
	b := harness.NewBrowser(t)
	harness.SignIn(t, b, k.URL, admin)
	session := b.Cookie(k.URL, web.SessionCookie)
	b.Open(k.URL + "/acme/-/tokens")
	m := csrfRE.FindStringSubmatch(b.HTML())
	require.NotNil(t, m)
	ctx := context.Background()
	count := func() int {
		ts, err := k.Auth.ListTokens(ctx, "acme")
		require.NoError(t, err)
		return len(ts)
	}
	before := count()

	form := func(csrf string) url.Values { return url.Values{"_csrf": {csrf}, "scope": {"admin"}} }
	require.Equal(t, http.StatusForbidden, webPost(t, k.URL, "/acme/-/tokens", session, url.Values{"scope": {"admin"}}, nil), "no token")
	require.Equal(t, http.StatusForbidden, webPost(t, k.URL, "/acme/-/tokens", session, form(strings.Repeat("0", 64)), nil), "a wrong token")
	require.Equal(t, http.StatusForbidden, webPost(t, k.URL, "/acme/-/tokens", session, form(m[1]),
		map[string]string{"Origin": "http://evil.example.com"}), "a foreign Origin")
	require.Equal(t, http.StatusForbidden, webPost(t, k.URL, "/acme/-/tokens", session, form(m[1]),
		map[string]string{"Sec-Fetch-Site": "cross-site"}), "a cross-site fetch")
	require.Equal(t, http.StatusOK, webPost(t, k.URL, "/acme/-/tokens", session, form(m[1]),
		map[string]string{"Origin": k.URL, "Sec-Fetch-Site": "same-origin"}), "the genuine form works")
	require.Equal(t, before+1, count())

	// A real cross-site form in the browser: another origin auto-submits a
	// POST to packyard; the session cookie goes along, the request is refused.
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprintf(w, `<!doctype html><html><body><main><form id="f" method="post" action="%s/acme/-/tokens">
<input name="scope" value="admin"><input name="_csrf" value="%s"></form>
<script>document.getElementById("f").submit()</script></main></body></html>`, k.URL, strings.Repeat("a", 64))
	}))
	t.Cleanup(evil.Close)
	b.Open(evil.URL)
	b.WaitNewPage()
	require.Contains(t, b.Text("[data-testid=error-message]"), "not sent from a packyard page")
	require.Equal(t, before+1, count(), "the forged POST created no token")
}

func TestWebSignOutEndsSessionServerSide(t *testing.T) {
	k := harness.NewKernel(t, harness.KernelOptions{})
	k.Org("acme", false)
	b := harness.NewBrowser(t)
	harness.SignIn(t, b, k.URL, k.Token("acme", metadata.RoleRead))
	old := b.Cookie(k.URL, web.SessionCookie)
	require.NotEmpty(t, old)
	code, _ := webGet(t, k.URL, "/acme", old)
	require.Equal(t, http.StatusOK, code)

	b.Submit(`form[action="/-/signout"] button`)
	require.True(t, b.Has("[data-testid=signin-link]"), "signed out")
	require.Empty(t, b.Cookie(k.URL, web.SessionCookie))

	b.SetCookie(k.URL, web.SessionCookie, old)
	require.Equal(t, http.StatusUnauthorized, b.Open(k.URL+"/acme"), "the old cookie replayed is signed out")
	code, _ = webGet(t, k.URL, "/acme", old)
	require.Equal(t, http.StatusUnauthorized, code)
	var n int
	require.NoError(t, k.DB.QueryRow(context.Background(), `SELECT COUNT(*) FROM web_sessions WHERE id_hash = ?`, web.HashSessionID(old)).Scan(&n))
	require.Zero(t, n, "the session is deleted server-side")
}

func TestWebAnonymousPublicAndPrivate(t *testing.T) {
	k := harness.NewKernel(t, harness.KernelOptions{})
	k.Org("pub", true)
	k.Org("priv", false)
	b := harness.NewBrowser(t)

	require.Equal(t, http.StatusOK, b.Open(k.URL+"/"))
	orgs := b.Text("[data-testid=orgs]")
	require.Contains(t, orgs, "pub")
	require.NotContains(t, orgs, "priv")
	require.Contains(t, b.HTML(), "composer config repositories.pub composer "+k.URL+"/composer/pub", "quick start")

	require.Equal(t, http.StatusOK, b.Open(k.URL+"/pub"))
	require.Contains(t, b.Text("h1"), "pub")
	require.False(t, b.Has(`a[href="/pub/-/tokens"]`))

	require.Equal(t, http.StatusUnauthorized, b.Open(k.URL+"/priv"))
	private := b.Text("[data-testid=error-message]")
	require.Equal(t, http.StatusUnauthorized, b.Open(k.URL+"/nothing-here"))
	missing := b.Text("[data-testid=error-message]")
	require.Equal(t, strings.ReplaceAll(private, "priv", "X"), strings.ReplaceAll(missing, "nothing-here", "X"),
		"a private organization reads like a missing one")
	require.Equal(t, http.StatusUnauthorized, b.Open(k.URL+"/priv/-/members"))
}

func TestWebReservedOrganizationNames(t *testing.T) {
	k := harness.NewKernel(t, harness.KernelOptions{})
	for _, name := range []string{"api", "composer", "auth", "oauth2", "gen", "metrics", "healthz", "readyz", "-", "static", "buf.registry"} {
		_, err := k.Auth.CreateOrg(context.Background(), name, false)
		require.Error(t, err, name)
		if name != "-" { // not even a valid name
			require.Contains(t, err.Error(), "reserved", name)
		}
	}
	_, err := k.Auth.CreateOrg(context.Background(), "apis", false)
	require.NoError(t, err, "a name that only begins like one is fine")
}

func TestWebOIDCSignInStartsASession(t *testing.T) {
	op := identitytest.Start(t)
	k := harness.NewKernel(t, harness.KernelOptions{Env: oidcEnv(op, "email=test-user@*:acme:write")})
	op.AllowRedirect(k.URL + "/auth/oidc/callback")
	k.Org("acme", false)
	b := harness.NewBrowser(t)

	b.Open(k.URL + "/-/signin?next=/acme")
	require.True(t, b.Has("[data-testid=signin-oidc]"), "OIDC is offered when configured")
	b.Submit("[data-testid=signin-oidc]")
	require.Equal(t, k.URL+"/acme", b.Location(), "the provider's sign-in ends at the page that asked")
	require.Contains(t, b.Text("[data-testid=viewer]"), "test-user")
	require.NotEmpty(t, b.Cookie(k.URL, web.SessionCookie))
	require.NotContains(t, b.HTML(), "pky_", "no token is shown: the session holds it")
}

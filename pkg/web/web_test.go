package web

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/labstack/echo/v4"
	"github.com/stretchr/testify/require"

	"github.com/packyard/packyard/pkg/errs"
)

func TestLocalPath(t *testing.T) {
	for in, want := range map[string]string{
		"":                      "/",
		"/acme":                 "/acme",
		"/acme?q=x&page=2":      "/acme?q=x&page=2",
		"//evil.example.com/x":  "/",
		"/\\evil.example.com":   "/",
		"https://evil.example":  "/",
		"javascript:alert(1)":   "/",
		"acme":                  "/",
		"/acme\r\nSet-Cookie:x": "/",
	} {
		require.Equal(t, want, LocalPath(in), in)
	}
	require.Equal(t, "/-/signin?next=%2Facme%3Fq%3Dx", SignInURL("/acme?q=x"))
	require.Equal(t, "/-/signin", SignInURL("/"))
}

func testSite(t *testing.T) *Site {
	t.Helper()
	s, err := New(Params{})
	require.NoError(t, err)
	return s
}

func request(method, target string, body string, headers map[string]string) (echo.Context, *httptest.ResponseRecorder) {
	req := httptest.NewRequest(method, target, strings.NewReader(body))
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	return echo.New().NewContext(req, rec), rec
}

func TestPaginate(t *testing.T) {
	c, _ := request(http.MethodGet, "/acme?q=foo&page=2&size=10", "", nil)
	p, err := Paginate(c)
	require.NoError(t, err)
	p.Total = 35
	require.Equal(t, 10, p.Offset())
	require.Equal(t, 4, p.Pages())
	require.Equal(t, "/acme?q=foo&size=10", p.Prev())
	require.Equal(t, "/acme?page=3&q=foo&size=10", p.Next())
	p.Page = 4
	require.Empty(t, p.Next())
	for _, bad := range []string{"page=0", "page=x", "size=0", "size=101", "page=-1"} {
		c, _ := request(http.MethodGet, "/acme?"+bad, "", nil)
		_, err := Paginate(c)
		require.ErrorIs(t, err, errs.ErrInvalidArgument, bad)
	}
}

func postForm(body string) echo.Context {
	c, _ := request(http.MethodPost, "/x", body, map[string]string{"Content-Type": "application/x-www-form-urlencoded"})
	_ = c.Request().ParseForm()
	return c
}

func TestParseFormIsStrict(t *testing.T) {
	f, err := ParseForm(postForm("name=+ci+&scope=read&_csrf=t"), "name", "scope")
	require.NoError(t, err)
	require.Equal(t, "ci", f.Value("name"))
	require.Empty(t, f.Value(CSRFField))
	for body, msg := range map[string]string{
		"name=a&other=b":                    "unexpected form field",
		"name=a&name=b":                     "sent 2 times",
		"name=" + strings.Repeat("x", 9000): "longer than",
		"name=%ff":                          "UTF-8",
	} {
		_, err := ParseForm(postForm(body), "name")
		require.ErrorContains(t, err, msg, body)
	}
	f = NewForm("scope", "read")
	require.False(t, f.Required("name"))
	require.Equal(t, "Required.", f.Error("name"))
	f.SetError("name", "second")
	require.Equal(t, "Required.", f.Error("name"), "the first message stays")
	require.False(t, f.Valid())
}

func TestPostsNeedTheCSRFTokenAndTheSameOrigin(t *testing.T) {
	s := testSite(t)
	form := "application/x-www-form-urlencoded"
	cookie := strings.Repeat("c", 64)
	for name, tc := range map[string]struct {
		body    string
		headers map[string]string
		ok      bool
	}{
		"matching double-submit token": {"_csrf=" + cookie, map[string]string{"Content-Type": form}, true},
		"same origin":                  {"_csrf=" + cookie, map[string]string{"Content-Type": form, "Origin": "http://example.com", "Sec-Fetch-Site": "same-origin"}, true},
		"no token":                     {"a=b", map[string]string{"Content-Type": form}, false},
		"other token":                  {"_csrf=" + strings.Repeat("d", 64), map[string]string{"Content-Type": form}, false},
		"token in the query only":      {"", map[string]string{"Content-Type": form}, false},
		"foreign origin":               {"_csrf=" + cookie, map[string]string{"Content-Type": form, "Origin": "http://evil.example.com"}, false},
		"null origin":                  {"_csrf=" + cookie, map[string]string{"Content-Type": form, "Origin": "null"}, false},
		"cross-site fetch":             {"_csrf=" + cookie, map[string]string{"Content-Type": form, "Sec-Fetch-Site": "cross-site"}, false},
		"same-site fetch":              {"_csrf=" + cookie, map[string]string{"Content-Type": form, "Sec-Fetch-Site": "same-site"}, false},
		"not a form":                   {`{"_csrf":"` + cookie + `"}`, map[string]string{"Content-Type": "application/json"}, false},
	} {
		c, _ := request(http.MethodPost, "http://example.com/x?_csrf="+cookie, tc.body, tc.headers)
		c.Request().AddCookie(&http.Cookie{Name: CSRFCookie, Value: cookie})
		err := s.checkPost(c, routeConfig{})
		if tc.ok {
			require.NoError(t, err, name)
		} else {
			require.Error(t, err, name)
		}
	}
	c, _ := request(http.MethodPost, "/x", "_csrf="+strings.Repeat("a", MaxFormBytes), map[string]string{"Content-Type": form})
	require.ErrorIs(t, s.checkPost(c, routeConfig{}), errs.ErrTooLarge)
}

func TestErrorPages(t *testing.T) {
	s := testSite(t)
	for _, tc := range []struct {
		err    error
		status int
		text   string
	}{
		{errs.Wrap(errs.ErrUnauthenticated, "sign in", nil), http.StatusUnauthorized, `href="/-/signin?next=%2Facme%2F-%2Ftokens%3Fa%3Db"`},
		{errs.PermissionDeniedf("read access only"), http.StatusForbidden, "read access only"},
		{errs.NotFoundf("no such thing"), http.StatusNotFound, "no such thing"},
		{errs.TooLargef("the form is larger than 64.0 KiB"), http.StatusRequestEntityTooLarge, "64.0 KiB"},
	} {
		c, rec := request(http.MethodGet, "/acme/-/tokens?a=b", "", nil)
		require.NoError(t, s.Error(c, tc.err))
		require.Equal(t, tc.status, rec.Code)
		require.Contains(t, rec.Body.String(), tc.text)
		require.Equal(t, "text/html; charset=utf-8", rec.Header().Get("Content-Type"))
		require.Contains(t, rec.Header().Get("Content-Security-Policy"), "frame-ancestors 'none'")
	}
}

func TestTemplatesEscapeAndShowFieldErrors(t *testing.T) {
	s := testSite(t)
	fsys := fstest.MapFS{"p.html": {Data: []byte(`{{define "content"}}<p>{{.Data}}</p><form method="post">{{template "csrf" .}}{{template "field" (field .Form "name" "Name" "text")}}</form>{{end}}`)}}
	tpl, err := ParseTemplates(fsys, "*.html")
	require.NoError(t, err)
	c, rec := request(http.MethodGet, "/p", "", nil)
	f := NewForm("name", `"><script>x</script>`)
	f.SetError("name", "Too long.")
	require.NoError(t, s.Render(c, http.StatusBadRequest, tpl, "p.html", Page{Title: "T", Data: "<b>bold</b>", Form: f}))
	body := rec.Body.String()
	require.Equal(t, http.StatusBadRequest, rec.Code)
	require.Contains(t, body, "&lt;b&gt;bold&lt;/b&gt;")
	require.NotContains(t, body, "<script>x</script>")
	require.Contains(t, body, `value="&#34;&gt;&lt;script&gt;x&lt;/script&gt;"`, "what was typed is kept, escaped")
	require.Contains(t, body, `<p class="error" id="e-name">Too long.</p>`)
	require.Contains(t, body, `aria-describedby="e-name"`)
	require.Regexp(t, `name="_csrf" value="[0-9a-f]{64}"`, body)
	require.Contains(t, rec.Header().Get("Set-Cookie"), CSRFCookie+"=")

	_, err = ParseTemplates(fsys, "missing/*.html")
	require.Error(t, err)
}

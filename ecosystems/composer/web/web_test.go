package web_test

import (
	"archive/zip"
	"bytes"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/cgi"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/fx"

	"github.com/packyard/packyard/e2e/harness"
	"github.com/packyard/packyard/ecosystems/composer"
	composerweb "github.com/packyard/packyard/ecosystems/composer/web"
	"github.com/packyard/packyard/pkg/metadata"
	kit "github.com/packyard/packyard/pkg/web"
)

// site is the kernel with the Composer ecosystem and its pages, as the
// daemon wires them (the background sync worker included).
type site struct {
	k   *harness.Kernel
	svc *composer.Service
}

func newSite(t testing.TB, env map[string]string) *site {
	t.Helper()
	var svc *composer.Service
	e := map[string]string{"PACKYARD_OUTBOUND_ALLOWED_NETWORKS": "127.0.0.0/8"}
	for k, v := range env {
		e[k] = v
	}
	k := harness.NewKernel(t, harness.KernelOptions{Env: e,
		Modules: []fx.Option{composer.Module, composerweb.Module, fx.Populate(&svc)}})
	k.Org("acme", false)
	return &site{k: k, svc: svc}
}

// zipOf builds a zip archive of name → content.
func zipOf(t testing.TB, files map[string]string) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	for name, body := range files {
		w, err := zw.Create(name)
		require.NoError(t, err)
		_, err = io.WriteString(w, body)
		require.NoError(t, err)
	}
	require.NoError(t, zw.Close())
	return b.Bytes()
}

// client is a browser-like HTTP client of the pages: a cookie jar (the CSRF
// cookie) and a token in the Authorization header.
type client struct {
	t     testing.TB
	base  string
	token string
	c     *http.Client
}

func (s *site) client(t testing.TB, token string) *client {
	jar, _ := cookiejar.New(nil)
	c := *s.k.Client
	c.Jar = jar
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &client{t: t, base: s.k.URL, token: token, c: &c}
}

func (c *client) do(method, path, contentType string, body io.Reader) (int, string) {
	c.t.Helper()
	req, err := http.NewRequest(method, c.base+path, body)
	require.NoError(c.t, err)
	req.SetBasicAuth("token", c.token)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	res, err := c.c.Do(req)
	require.NoError(c.t, err)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(c.t, err)
	if loc := res.Header.Get("Location"); loc != "" {
		return res.StatusCode, loc
	}
	return res.StatusCode, string(b)
}

var csrfRE = regexp.MustCompile(`name="_csrf" value="([0-9a-f]+)"`)

// csrf is the form token of a page.
func (c *client) csrf(path string) string {
	c.t.Helper()
	status, body := c.do("GET", path, "", nil)
	require.Equal(c.t, http.StatusOK, status, body)
	m := csrfRE.FindStringSubmatch(body)
	require.NotNil(c.t, m, "no CSRF field on %s", path)
	return m[1]
}

func (c *client) cookie(name string) string {
	u, _ := url.Parse(c.base)
	for _, ck := range c.c.Jar.Cookies(u) {
		if ck.Name == name {
			return ck.Value
		}
	}
	c.t.Fatalf("no cookie %s", name)
	return ""
}

func (c *client) post(path string, form url.Values) (int, string) {
	return c.do("POST", path, "application/x-www-form-urlencoded", strings.NewReader(form.Encode()))
}

func (c *client) upload(path, csrf, version string, zipBody []byte) (int, string) {
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	_ = mw.WriteField("_csrf", csrf)
	_ = mw.WriteField("version", version)
	fw, _ := mw.CreateFormFile("zip", "pkg.zip")
	_, _ = fw.Write(zipBody)
	_ = mw.Close()
	return c.do("POST", path, mw.FormDataContentType(), &b)
}

func TestPagesOverHTTP(t *testing.T) {
	s := newSite(t, map[string]string{"PACKYARD_COMPOSER_MAX_UPLOAD_SIZE": "64KiB"})
	admin := s.client(t, s.k.Token("acme", metadata.RoleAdmin))
	reader := s.client(t, s.k.Token("acme", metadata.RoleRead))

	// the upload form: the service's checks and messages next to the field
	csrf := admin.csrf("/acme/-/composer/upload")
	status, body := admin.upload("/acme/-/composer/upload", csrf, "", zipOf(t, map[string]string{"README.md": "no manifest"}))
	require.Equal(t, http.StatusBadRequest, status)
	require.Regexp(t, `<p class="error" id="e-zip">[^<]*composer.json`, body)
	big := make([]byte, 80<<10)
	status, body = admin.upload("/acme/-/composer/upload", csrf, "1.0.0", big)
	require.Equal(t, http.StatusRequestEntityTooLarge, status)
	require.Contains(t, body, `id="e-zip">the upload is larger than the limit of 65536 bytes`)
	require.Contains(t, body, `value="1.0.0"`, "the version typed is kept")
	pkg := zipOf(t, map[string]string{"composer.json": `{"name":"acme/widget","description":"A widget","require":{"php":">=8.1"}}`,
		"README.md": "# Widget\n\n<script>alert('readme')</script>\n\n[bad](javascript:alert(1)) <img src=x onerror=\"alert(2)\">\n"})
	status, loc := admin.upload("/acme/-/composer/upload", csrf, "1.0.0", pkg)
	require.Equal(t, http.StatusSeeOther, status, loc)
	require.Equal(t, "/acme/packages/acme/widget?version=1.0.0", loc)
	status, body = admin.upload("/acme/-/composer/upload", csrf, "1.0.0", pkg)
	require.Equal(t, http.StatusConflict, status)
	require.Contains(t, body, "already exists")

	// the package page
	status, body = reader.do("GET", "/acme/packages/acme/widget", "", nil)
	require.Equal(t, http.StatusOK, status, body)
	require.Contains(t, body, "composer require acme/widget")
	require.Contains(t, body, `&#34;url&#34;: &#34;`+s.k.URL+`/composer/acme&#34;`)
	require.Contains(t, body, "<h1>Widget</h1>")
	require.NotContains(t, body, "alert(")
	require.NotContains(t, body, "javascript:")
	require.NotContains(t, body, "onerror")
	require.Contains(t, body, `<code>php</code> &gt;=8.1`)
	require.Equal(t, 30, strings.Count(body, `<rect class="bar" data-day=`))

	// read-only: no write controls, and forcing one is refused
	status, body = reader.do("GET", "/acme/-/composer/sources", "", nil)
	require.Equal(t, http.StatusOK, status, body)
	require.NotContains(t, body, "Add a git source")
	require.NotContains(t, body, "/-/composer/upload")
	require.NotContains(t, body, `data-testid="sync-now"`)
	status, body = reader.do("GET", "/acme/-/composer/advisories", "", nil)
	require.Equal(t, http.StatusOK, status, body)
	require.NotContains(t, body, "Publish an advisory")
	rcsrf := reader.cookie(kit.CSRFCookie) // the double-submit token a forged form would carry
	status, _ = reader.post("/acme/-/composer/advisories", url.Values{"_csrf": {rcsrf}, "package": {"acme/widget"}, "versions": {"<2"}, "title": {"x"}})
	require.Equal(t, http.StatusForbidden, status)
	status, _ = reader.upload("/acme/-/composer/upload", rcsrf, "2.0.0", pkg)
	require.Equal(t, http.StatusForbidden, status)
	status, _ = reader.do("GET", "/acme/-/composer/upstreams", "", nil)
	require.Equal(t, http.StatusForbidden, status, "upstreams are listed to admins only, as over the API")
	// and without the CSRF token, even an admin's POST is refused
	status, _ = admin.post("/acme/-/composer/advisories", url.Values{"package": {"acme/widget"}, "versions": {"<2"}, "title": {"x"}})
	require.Equal(t, http.StatusForbidden, status)

	// advisories: the message of a bad constraint next to its field; a good one marks the versions
	acsrf := admin.csrf("/acme/-/composer/advisories")
	status, body = admin.post("/acme/-/composer/advisories", url.Values{"_csrf": {acsrf}, "package": {"acme/widget"}, "versions": {">=1.0,<<2"}, "title": {"Bad"}, "severity": {"high"}})
	require.Equal(t, http.StatusBadRequest, status)
	require.Regexp(t, `id="e-versions">`, body)
	require.Contains(t, body, `value="Bad"`)
	status, _ = admin.post("/acme/-/composer/advisories", url.Values{"_csrf": {acsrf}, "package": {"acme/widget"}, "versions": {"<1.1"}, "title": {"Widget leak"}, "severity": {"high"}})
	require.Equal(t, http.StatusCreated, status)
	_, body = reader.do("GET", "/acme/packages/acme/widget", "", nil)
	require.Contains(t, body, `data-testid="advisory"><strong>Widget leak</strong>`)

	// upstreams: added by an admin (checked in the background), listed, removed
	ucsrf := admin.csrf("/acme/-/composer/upstreams")
	status, body = admin.post("/acme/-/composer/upstreams", url.Values{"_csrf": {ucsrf}, "url": {"ftp://example.com/"}})
	require.Equal(t, http.StatusBadRequest, status)
	require.Contains(t, body, `id="e-url"`)
	status, body = admin.post("/acme/-/composer/upstreams", url.Values{"_csrf": {ucsrf}, "url": {"https://repo.example.com"}})
	require.Equal(t, http.StatusCreated, status, body)
	require.Contains(t, body, "<code>https://repo.example.com</code>")

	// the organization page links the Composer pages each viewer may open
	status, body = reader.do("GET", "/acme", "", nil)
	require.Equal(t, http.StatusOK, status, body)
	require.Contains(t, body, `<a href="/acme/-/composer/sources">Git sources</a>`)
	require.Contains(t, body, `<a href="/acme/-/composer/advisories">Advisories</a>`)
	require.NotContains(t, body, `/acme/-/composer/upload"`, "a reader is not offered the upload form")
	require.NotContains(t, body, `/acme/-/composer/upstreams"`, "nor the upstreams")
	require.Contains(t, body, `aria-current="page">Packages</a>`)
	_, body = admin.do("GET", "/acme", "", nil)
	require.Contains(t, body, `<a href="/acme/-/composer/upload">Upload</a>`)
	require.Contains(t, body, `<a href="/acme/-/composer/upstreams">Upstreams</a>`)

	// organization lists and counts come from the same service
	n, err := s.svc.CountPackages(t.Context(), "acme")
	require.NoError(t, err)
	require.Equal(t, 1, n)
}

// gitServer serves bare copies of repositories over smart HTTP on
// 127.0.0.1 (git http-backend), as a git host would.
func gitServer(t *testing.T) (root string, srv *httptest.Server) {
	t.Helper()
	harness.Tool(t, "git")
	backend := "/usr/lib/git-core/git-http-backend"
	if _, err := os.Stat(backend); err != nil {
		t.Fatalf("git http-backend not found: %v", err)
	}
	root = t.TempDir()
	srv = httptest.NewServer(&cgi.Handler{Path: backend, Env: []string{"GIT_PROJECT_ROOT=" + root, "GIT_HTTP_EXPORT_ALL=1"}})
	t.Cleanup(srv.Close)
	return root, srv
}

func publishBare(t *testing.T, root, name string, g *harness.Repo) {
	t.Helper()
	dst := filepath.Join(root, name+".git")
	_ = os.RemoveAll(dst)
	out, err := exec.Command("git", "clone", "-q", "--bare", g.Dir, dst).CombinedOutput()
	require.NoError(t, err, string(out))
}

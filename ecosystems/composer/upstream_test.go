package composer

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/packyard/packyard/e2e/harness"
	"github.com/packyard/packyard/ecosystems/composer/format"
	"github.com/packyard/packyard/pkg/metadata"
)

// fixtureRepo is a second Composer repository on 127.0.0.1 that serves
// minified metadata (composer/2.0 with __unset), dist zips with shasums and
// security advisories behind http-basic credentials, and counts what it is
// asked.
type fixtureRepo struct {
	t       testing.TB
	srv     *httptest.Server
	user    string
	pass    string
	lastMod time.Time

	mu       sync.Mutex
	files    map[string][]byte
	hits     map[string]int
	notMod   int
	badAuth  []string
	advAsked [][]string
	delay    time.Duration
	// catalog is what the search and list endpoints know; listFail makes
	// both answer HTTP 500.
	catalog  []fixturePackage
	listFail bool
	// redirects answers a path (after the credentials are checked) with
	// a redirect to another URL.
	redirects map[string]string
}

type fixturePackage struct {
	name, description, typ string
	virtual                bool
}

func newFixtureRepo(t testing.TB) *fixtureRepo {
	f := &fixtureRepo{t: t, user: "vendor", pass: "s3cret-upstream", lastMod: time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC),
		files: map[string][]byte{}, hits: map[string]int{}}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	u := f.srv.URL
	f.files["/packages.json"] = []byte(`{"packages":{},"metadata-url":"/p2/%package%.json",` +
		`"search":"/search.json?q=%query%&type=%type%","list":"` + u + `/list.json",` +
		`"security-advisories":{"metadata":false,"api-url":"` + u + `/api/security-advisories/"}}`)

	zipLog2 := makeZip(t, zf{name: "log-2/composer.json", body: `{"name":"pub/log"}`}, zf{name: "log-2/src/Log.php", body: "<?php namespace Pub\\Log; class Log { const V = '2.0.0'; }"})
	zipLog1 := makeZip(t, zf{name: "log-1/composer.json", body: `{"name":"pub/log"}`}, zf{name: "log-1/src/Log.php", body: "<?php namespace Pub\\Log; class Log { const V = '1.0.0'; }"})
	zipUtil := makeZip(t, zf{name: "util/src/Util.php", body: "<?php namespace Pub\\Util; class Util {}"})
	zipSecret := makeZip(t, zf{name: "secret/src/Evil.php", body: "<?php // the public impostor"})
	f.files["/dists/log-2.zip"], f.files["/dists/log-1.zip"], f.files["/dists/util.zip"], f.files["/dists/secret.zip"] = zipLog2, zipLog1, zipUtil, zipSecret

	// Minified by hand: 1.0.0 drops 2.0.0's require with __unset and
	// inherits its autoload.
	f.files["/p2/pub/log.json"] = []byte(`{"minified":"composer/2.0","packages":{"pub/log":[` +
		`{"name":"pub/log","description":"Logging","version":"2.0.0","version_normalized":"2.0.0.0","type":"library",` +
		`"require":{"pub/util":"^1.0"},"autoload":{"psr-4":{"Pub\\Log\\":"src/"}},` +
		`"dist":{"type":"zip","url":"` + u + `/dists/log-2.zip","reference":"2222222222222222222222222222222222222222","shasum":"` + sha1hex(zipLog2) + `"},` +
		`"notification-url":"` + u + `/downloads/","time":"2024-02-01T00:00:00+00:00"},` +
		`{"version":"1.0.0","version_normalized":"1.0.0.0","require":"__unset",` +
		`"dist":{"type":"zip","url":"` + u + `/dists/log-1.zip","reference":"v1.0.0","shasum":"` + sha1hex(zipLog1) + `"},"time":"2024-01-01T00:00:00+00:00"}` +
		`]}}`)
	f.files["/p2/pub/util.json"] = []byte(`{"minified":"composer/2.0","packages":{"pub/util":[` +
		`{"name":"pub/util","version":"1.0.0","version_normalized":"1.0.0.0","autoload":{"psr-4":{"Pub\\Util\\":"src/"}},` +
		`"dist":{"type":"zip","url":"` + u + `/dists/util.zip","reference":"1111111111111111111111111111111111111111","shasum":"` + sha1hex(zipUtil) + `"}}]}}`)
	// The same name as a private package, with a higher version.
	f.files["/p2/acme/secret.json"] = []byte(`{"minified":"composer/2.0","packages":{"acme/secret":[` +
		`{"name":"acme/secret","version":"9.9.9","version_normalized":"9.9.9.0",` +
		`"dist":{"type":"zip","url":"` + u + `/dists/secret.zip","reference":"9999999999999999999999999999999999999999","shasum":"` + sha1hex(zipSecret) + `"}}]}}`)
	f.catalog = []fixturePackage{
		{name: "pub/log", description: "Logging for everyone", typ: "library"},
		{name: "pub/util", description: "Utilities", typ: "library"},
		{name: "Acme/Secret", description: "The public impostor of a log library", typ: "library"},
		{name: "pub/log-virtual", description: "A virtual log package", typ: "library", virtual: true},
		{name: "acme/tools", description: "Public tools under a private vendor", typ: "library"},
		{name: "pub/skeleton", description: "A log application skeleton", typ: "project"},
	}
	return f
}

// listing answers the search and list endpoints from the catalog: search
// matches every word of q in the name or description (and the type when
// given), list matches the filter's "*" wildcards.
func (f *fixtureRepo) listing(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	fail, catalog := f.listFail, f.catalog
	f.mu.Unlock()
	if fail {
		http.Error(w, "search is down", http.StatusInternalServerError)
		return
	}
	q := r.URL.Query()
	w.Header().Set("Content-Type", "application/json")
	if r.URL.Path == "/list.json" {
		re := regexp.MustCompile("(?i)^" + strings.ReplaceAll(regexp.QuoteMeta(q.Get("filter")), `\*`, ".*") + "$")
		names := []string{}
		for _, p := range catalog {
			if re.MatchString(p.name) {
				names = append(names, p.name)
			}
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"packageNames": names})
		return
	}
	results := []map[string]any{}
	for _, p := range catalog {
		match := q.Get("type") == "" || q.Get("type") == p.typ
		for _, term := range strings.Fields(strings.ToLower(q.Get("q"))) {
			match = match && (strings.Contains(strings.ToLower(p.name), term) || strings.Contains(strings.ToLower(p.description), term))
		}
		if match {
			res := map[string]any{"name": p.name, "description": p.description, "url": "https://user:pw@public.example/packages/" + p.name}
			if p.virtual {
				res["virtual"] = true
			}
			results = append(results, res)
		}
	}
	_ = json.NewEncoder(w).Encode(map[string]any{"results": results, "total": len(results)})
}

func (f *fixtureRepo) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.hits[r.URL.Path]++
	user, pass, ok := r.BasicAuth()
	if !ok || user != f.user || pass != f.pass {
		f.badAuth = append(f.badAuth, r.Method+" "+r.URL.Path+" "+r.Header.Get("Authorization"))
		f.mu.Unlock()
		w.Header().Set("WWW-Authenticate", `Basic realm="fixture"`)
		http.Error(w, "credentials required", http.StatusUnauthorized)
		return
	}
	delay := f.delay
	body, found := f.files[r.URL.Path]
	redirect := f.redirects[r.URL.Path]
	f.mu.Unlock()
	if redirect != "" {
		http.Redirect(w, r, redirect, http.StatusFound)
		return
	}
	time.Sleep(delay)
	if r.URL.Path == "/api/security-advisories/" && r.Method == http.MethodPost {
		_ = r.ParseForm()
		names := r.PostForm["packages[]"]
		f.mu.Lock()
		f.advAsked = append(f.advAsked, names)
		f.mu.Unlock()
		adv := map[string]any{}
		for _, n := range names {
			if n == "pub/log" {
				adv[n] = []any{map[string]any{"advisoryId": "UPSTREAM-2024-1", "packageName": "pub/log", "remoteId": "up-1",
					"title": "Log injection in pub/log", "link": "https://advisories.example/up-1", "cve": "CVE-2024-11111",
					"affectedVersions": ">=1.0.0,<1.5.0", "source": "fixture", "sources": []any{map[string]string{"name": "fixture", "remoteId": "up-1"}},
					"reportedAt": "2024-02-02 10:00:00", "composerRepository": f.srv.URL, "severity": "high"}}
			}
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"advisories": adv})
		return
	}
	if r.URL.Path == "/search.json" || r.URL.Path == "/list.json" {
		f.listing(w, r)
		return
	}
	if !found {
		http.NotFound(w, r)
		return
	}
	if strings.HasSuffix(r.URL.Path, ".json") {
		w.Header().Set("Last-Modified", f.lastMod.Format(http.TimeFormat))
		if ims, err := http.ParseTime(r.Header.Get("If-Modified-Since")); err == nil && !f.lastMod.After(ims) {
			f.mu.Lock()
			f.notMod++
			f.mu.Unlock()
			w.WriteHeader(http.StatusNotModified)
			return
		}
		w.Header().Set("Content-Type", "application/json")
	}
	_, _ = w.Write(body)
}

func (f *fixtureRepo) count(path string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.hits[path]
}

func (f *fixtureRepo) total() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, c := range f.hits {
		n += c
	}
	return n
}

// input adds the fixture as the operator does: its packages.json is
// fetched before the call returns, so it serves at once.
func (f *fixtureRepo) input() UpstreamInput {
	return UpstreamInput{URL: f.srv.URL, Username: f.user, Password: f.pass, Operator: true}
}

func upstreamStack(t *testing.T, pg bool, maxAge time.Duration) *stack {
	cfg := DefaultConfig()
	cfg.SyncInterval = 0
	cfg.Upstream.MaxAge = maxAge
	cfg.Upstream.Timeout = 10 * time.Second
	cfg.Upstream.RateLimit, cfg.Upstream.Burst = 1000, 1000
	return newStack(t, stackOpts{postgres: pg, cfg: &cfg})
}

func TestProxiedMetadataIsExpandedAndRewritten(t *testing.T) {
	f := newFixtureRepo(t)
	body, err := buildProxied("acme", "pub/log", f.files["/p2/pub/log.json"])
	require.NoError(t, err)
	var d p2doc
	require.NoError(t, json.Unmarshal(body, &d))
	require.Equal(t, "composer/2.0", d.Minified)
	vs := format.Expand(d.Packages["pub/log"])
	require.Len(t, vs, 2)
	require.NotNil(t, vs[0].Get("require"))
	require.Nil(t, vs[1].Get("require"), "the __unset of the upstream is kept")
	require.JSONEq(t, `{"psr-4":{"Pub\\Log\\":"src/"}}`, string(vs[1].Get("autoload")), "inherited from 2.0.0 as Composer expands it")
	require.Nil(t, vs[0].Get("notification-url"), "downloads are reported to packyard, not the upstream")
	for i, v := range vs {
		var dist map[string]string
		require.NoError(t, json.Unmarshal(v.Get("dist"), &dist))
		out := string(format.ExpandBase(format.MustJSON(dist["url"]), "http://reg"))
		require.True(t, strings.HasPrefix(out, `"http://reg/composer/acme/mirror/pub/log/`), out)
		require.True(t, strings.HasPrefix(dist["upstream-url"], f.srv.URL+"/dists/log-"), "original URL kept (%d)", i)
	}
	var dist map[string]string
	require.NoError(t, json.Unmarshal(vs[1].Get("dist"), &dist))
	require.NotContains(t, dist["url"], "v1.0.0.zip", "a reference with dots is hashed into a URL-safe key")
}

func TestValidateConstraint(t *testing.T) {
	for _, c := range []string{">=1.0,<1.2.3", "<2.0", "^1.2 || ^2.0", "1.0.0 - 1.5.0", ">=1.0.0,<1.5.0|>=2.0,<2.0.4", "*", "1.2.*", "~1.2", "< 2.0"} {
		require.NoError(t, ValidateConstraint(c), c)
	}
	require.NoError(t, ValidateConstraint("dev-main || >=1.0-beta,<1.4@dev"), "branches and stability flags, as Composer reads them")
	for _, c := range []string{"", "latest", ">=1.0,,", "1.0; rm -rf", "|", "~>1.0", ">=1.0 <>", strings.Repeat("1|", 501)} {
		require.Error(t, ValidateConstraint(c), c)
	}
}

// TestUpstreamWithRealComposer: the real composer client installs public
// packages through packyard from a minified upstream, keeps installing
// from the mirror while the upstream is down, never takes a private name
// from the upstream, and `composer audit` reports an upstream advisory and
// a private one.
func TestUpstreamWithRealComposer(t *testing.T) {
	backends(t, func(t *testing.T, pg bool) {
		f := newFixtureRepo(t)
		s := upstreamStack(t, pg, time.Millisecond) // revalidate on every request
		s.org("acme")
		read := s.token("acme", metadata.RoleRead)
		ctx := t.Context()
		u, _ := url.Parse(s.url)
		repoURL := s.url + "/composer/acme"

		_, err := s.svc.Upload(ctx, "acme", "1.0.0", bytes.NewReader(makeZip(t,
			zf{name: "composer.json", body: `{"name":"acme/secret","autoload":{"psr-4":{"Acme\\Secret\\":"src/"}}}`},
			zf{name: "src/Real.php", body: "<?php // the private one"})))
		require.NoError(t, err)

		// The CLI forms, exactly as documented.
		pwFile := filepath.Join(t.TempDir(), "pw")
		require.NoError(t, os.WriteFile(pwFile, []byte(f.pass+"\n"), 0o600))
		out, err := runCLI(s, "add-upstream", "--org", "acme", "--url", f.srv.URL, "--username", f.user, "--password-file", pwFile, "--priority", "5")
		require.NoError(t, err, out)
		out, err = runCLI(s, "list-upstreams", "--org", "acme", "--json")
		require.NoError(t, err, out)
		var ups []Upstream
		require.NoError(t, json.Unmarshal([]byte(out), &ups))
		require.Len(t, ups, 1)
		require.Equal(t, f.srv.URL, ups[0].URL)
		require.Equal(t, 5, ups[0].Priority)
		require.True(t, ups[0].Credential)
		require.NotContains(t, out, f.pass, "the upstream password is never shown")

		// packages.json lists no names while upstreams are on, and
		// advertises advisories.
		res, body := s.do("GET", "/composer/acme/packages.json", read, nil)
		require.Equal(t, http.StatusOK, res.StatusCode)
		var root map[string]any
		require.NoError(t, json.Unmarshal(body, &root))
		require.NotContains(t, root, "available-packages")
		require.NotContains(t, root, "available-package-patterns")
		require.Equal(t, repoURL+"/security-advisories", root["security-advisories"].(map[string]any)["api-url"])

		// Install through the proxy: ^1.0 gets 1.0.0 without 2.0.0's
		// require (expanded correctly), the private acme/secret wins over
		// the upstream's 9.9.9.
		ce := harness.Composer(t, u.Host, read)
		dir := harness.ComposerProject(t, repoURL, map[string]string{"pub/log": "^1.0", "acme/secret": "*"})
		out = ce.Must(dir, "update", "-vvv")
		lock := harness.LockedVersions(t, dir)
		require.Equal(t, "1.0.0", lock["pub/log"]["version"])
		require.NotContains(t, lock, "pub/util", "1.0.0 does not inherit 2.0.0's require")
		require.Equal(t, "1.0.0", lock["acme/secret"]["version"], "the private package, not the upstream's 9.9.9")
		src, err := os.ReadFile(filepath.Join(dir, "vendor/acme/secret/src/Real.php"))
		require.NoError(t, err)
		require.Contains(t, string(src), "the private one")
		require.Zero(t, f.count("/p2/acme/secret.json"), "a private name is never asked of an upstream")
		logDist := lock["pub/log"]["dist"].(map[string]any)
		require.True(t, strings.HasPrefix(logDist["url"].(string), repoURL+"/mirror/pub/log/"), logDist["url"])
		require.Equal(t, 1, f.count("/dists/log-1.zip"))
		require.Contains(t, out, "[200] "+repoURL+"/p2/pub/log.json")
		// Proxied documents keep their Last-Modified while the upstream's
		// copy is unchanged: a second update gets 304s.
		out = ce.Must(dir, "update", "-vvv")
		require.Contains(t, out, "[304] "+repoURL+"/p2/pub/log.json")

		// ^2.0 pulls pub/util through the same proxy; the second upstream
		// fetch of pub/log is a revalidation answered 304.
		dir2 := harness.ComposerProject(t, repoURL, map[string]string{"pub/log": "^2.0"})
		ce.Must(dir2, "update")
		lock2 := harness.LockedVersions(t, dir2)
		require.Equal(t, "2.0.0", lock2["pub/log"]["version"])
		require.Equal(t, "1.0.0", lock2["pub/util"]["version"])
		php := execPHP(t, dir2, `require "vendor/autoload.php"; echo \Pub\Log\Log::V;`)
		require.Equal(t, "2.0.0", php)
		f.mu.Lock()
		require.Positive(t, f.notMod, "upstream metadata revalidated with If-Modified-Since")
		require.Empty(t, f.badAuth, "every upstream request carried the upstream's credentials, none the client's")
		f.mu.Unlock()

		// Advisories: one from the upstream, one published privately.
		out, err = runCLI(s, "add-advisory", "--org", "acme", "--package", "acme/secret", "--versions", "<2.0", "--title", "Secret leaks its secrets",
			"--cve", "CVE-2024-22222", "--link", "https://acme.example/sa/1")
		require.NoError(t, err, out)
		_, err = runCLI(s, "add-advisory", "--org", "acme", "--package", "acme/secret", "--versions", "latest", "--title", "x")
		require.ErrorContains(t, err, "not a version")
		out, err = ce.Run(dir, "audit", "--format", "json")
		require.Error(t, err, "audit exits non-zero when advisories are found:\n%s", out)
		var audit struct {
			Advisories map[string][]map[string]any `json:"advisories"`
		}
		require.NoError(t, json.Unmarshal([]byte(out[strings.Index(out, "{"):]), &audit), out)
		require.Equal(t, "Log injection in pub/log", audit.Advisories["pub/log"][0]["title"])
		require.Equal(t, "CVE-2024-11111", audit.Advisories["pub/log"][0]["cve"])
		require.Equal(t, "Secret leaks its secrets", audit.Advisories["acme/secret"][0]["title"])
		require.Equal(t, "CVE-2024-22222", audit.Advisories["acme/secret"][0]["cve"])
		require.Equal(t, "https://acme.example/sa/1", audit.Advisories["acme/secret"][0]["link"])
		f.mu.Lock()
		for _, asked := range f.advAsked {
			require.NotContains(t, asked, "acme/secret", "private names are never sent upstream")
		}
		f.mu.Unlock()

		// The upstream goes down: a fresh composer (empty cache) installs
		// from the lock file and resolves again, from packyard alone.
		before := f.total()
		f.srv.Close()
		require.NoError(t, os.RemoveAll(filepath.Join(dir2, "vendor")))
		ce2 := harness.Composer(t, u.Host, read)
		ce2.Must(dir2, "install")
		require.Equal(t, "2.0.0", execPHP(t, dir2, `require "vendor/autoload.php"; echo \Pub\Log\Log::V;`))
		dir3 := harness.ComposerProject(t, repoURL, map[string]string{"pub/log": "^2.0"})
		ce3 := harness.Composer(t, u.Host, read)
		ce3.Must(dir3, "update")
		require.Equal(t, "2.0.0", harness.LockedVersions(t, dir3)["pub/log"]["version"])
		require.Equal(t, before, f.total(), "nothing reached the stopped upstream")
		out, err = ce3.Run(dir, "audit", "--format", "json") // pub/log 1.0.0 is affected
		require.Error(t, err)
		require.Contains(t, out, "Log injection in pub/log", "the last good upstream advisories are served during the outage")
	})
}

func runIn(dir, name string, args ...string) (string, error) {
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func execPHP(t *testing.T, dir, code string) string {
	t.Helper()
	out, err := runIn(dir, "php", "-r", code)
	require.NoError(t, err, out)
	return out
}

// TestUpstreamConcurrentFetch: 100 concurrent requests for an uncached
// package make one upstream request, and one archive download.
func TestUpstreamConcurrentFetch(t *testing.T) {
	backends(t, func(t *testing.T, pg bool) {
		f := newFixtureRepo(t)
		f.delay = 50 * time.Millisecond
		s := upstreamStack(t, pg, time.Hour)
		s.org("acme")
		read := s.token("acme", metadata.RoleRead)
		_, err := s.proxy.AddUpstream(t.Context(), "acme", f.input())
		require.NoError(t, err)

		get := func(path string) []int {
			codes := make([]int, 100)
			var wg sync.WaitGroup
			for i := range codes {
				wg.Add(1)
				go func() {
					defer wg.Done()
					req, _ := http.NewRequest("GET", s.url+path, nil)
					req.SetBasicAuth("token", read)
					res, err := s.client.Do(req)
					if err != nil {
						return
					}
					res.Body.Close()
					codes[i] = res.StatusCode
				}()
			}
			wg.Wait()
			return codes
		}
		for _, c := range get("/composer/acme/p2/pub/log.json") {
			require.Equal(t, http.StatusOK, c)
		}
		require.Equal(t, 1, f.count("/p2/pub/log.json"))

		p2 := s.p2("acme", "pub/log", read)
		dist := p2["2.0.0"]["dist"].(map[string]any)
		mu, _ := url.Parse(dist["url"].(string))
		for _, c := range get(mu.Path) {
			require.Equal(t, http.StatusOK, c)
		}
		require.Equal(t, 1, f.count("/dists/log-2.zip"))
	})
}

func TestUpstreamRules(t *testing.T) {
	f := newFixtureRepo(t)
	s := upstreamStack(t, false, time.Hour)
	s.org("acme")
	ctx := t.Context()
	read := s.token("acme", metadata.RoleRead)
	admin := s.token("acme", metadata.RoleAdmin)

	// Refused: bad URLs, a wrong password (nothing stored), credentials in the URL.
	for _, in := range []UpstreamInput{
		{URL: "ftp://x"}, {URL: "http://u:p@127.0.0.1/"}, {URL: f.srv.URL, Username: f.user, Password: "wrong"},
		{URL: f.srv.URL, Username: f.user}, {URL: f.srv.URL + "/nowhere", Username: f.user, Password: f.pass},
	} {
		in.Operator = true
		_, err := s.proxy.AddUpstream(ctx, "acme", in)
		require.Error(t, err, in.URL)
	}
	ups, err := s.proxy.Upstreams(ctx, "acme")
	require.NoError(t, err)
	require.Empty(t, ups)

	// The public repository switch uses the configured URL.
	_, err = runCLI(s, "add-upstream", "--org", "acme", "--packagist", "--url", f.srv.URL)
	require.ErrorContains(t, err, "none of the others can be")
	s.proxy.cfg.Upstream.PublicURL = f.srv.URL
	_, err = runCLI(s, "add-upstream", "--org", "acme", "--packagist")
	require.ErrorContains(t, err, "HTTP 401", "the fixture needs credentials")

	// Over the API, admin only; the password never comes back.
	reqBody := fmt.Sprintf(`{"url":%q,"username":%q,"password":%q}`, f.srv.URL, f.user, f.pass)
	res, _ := s.do("POST", "/composer/acme/api/upstreams", read, strings.NewReader(reqBody))
	require.Equal(t, http.StatusForbidden, res.StatusCode)
	res, body := s.do("POST", "/composer/acme/api/upstreams", admin, strings.NewReader(reqBody))
	require.Equal(t, http.StatusCreated, res.StatusCode, string(body))
	require.NotContains(t, string(body), f.pass)
	require.Contains(t, string(body), `"status":"checking"`)
	s.proxy.checks.wg.Wait() // its packages.json is fetched in the background
	var sealed []byte
	require.NoError(t, s.meta.DB().QueryRow(ctx, `SELECT credential FROM composer_upstreams`).Scan(&sealed))
	require.NotContains(t, string(sealed), f.pass, "stored sealed")

	// Served metadata never carries the upstream's credentials or host.
	res, body = s.do("GET", "/composer/acme/p2/pub/log.json", read, nil)
	require.Equal(t, http.StatusOK, res.StatusCode, string(body))
	require.NotContains(t, string(body), f.pass)
	require.NotContains(t, string(body), base64.StdEncoding.EncodeToString([]byte(f.user+":"+f.pass)))
	lm := res.Header.Get("Last-Modified")
	res, _ = s.do("GET", "/composer/acme/p2/pub/log.json", read, nil, "If-Modified-Since", lm)
	require.Equal(t, http.StatusNotModified, res.StatusCode)
	res, _ = s.do("GET", "/composer/acme/p2/pub/nothing.json", read, nil)
	require.Equal(t, http.StatusNotFound, res.StatusCode)

	// Eager mirroring of a package, then of a lock file.
	out, err := runCLI(s, "mirror", "--org", "acme", "--package", "pub/log")
	require.NoError(t, err, out)
	require.Contains(t, out, "pub/log 2.0.0: mirrored")
	require.Contains(t, out, "pub/log 1.0.0: mirrored")
	require.Equal(t, 1, f.count("/dists/log-1.zip"))
	lock := filepath.Join(t.TempDir(), "composer.lock")
	require.NoError(t, os.WriteFile(lock, []byte(`{"packages":[{"name":"pub/util","version":"1.0.0","dist":{"type":"zip","url":"x","reference":"1111111111111111111111111111111111111111"}}],"packages-dev":[]}`), 0o644))
	out, err = runCLI(s, "mirror", "--org", "acme", "--lock", lock)
	require.NoError(t, err, out)
	require.Contains(t, out, "pub/util 1.0.0: mirrored")
	require.Equal(t, 1, f.count("/dists/util.zip"))

	// A pretty version names that version only; a normalized version two
	// versions share (branches 1.x and v1.x) names both.
	f.mu.Lock()
	one := `{"type":"zip","url":"` + f.srv.URL + `/dists/log-1.zip","shasum":"` + sha1hex(f.files["/dists/log-1.zip"]) + `","reference":`
	f.files["/p2/pub/two~dev.json"] = []byte(`{"packages":{"pub/two":[{"name":"pub/two","version":"1.x-dev","dist":` + one + `"r1"}},` +
		`{"name":"pub/two","version":"v1.x-dev","dist":` + one + `"r2"}}]}}`)
	f.mu.Unlock()
	for asked, want := range map[string][]string{"v1.x-dev": {"v1.x-dev"}, "1.x-dev": {"1.x-dev"}, "1.9999999.9999999.9999999-dev": {"1.x-dev", "v1.x-dev"}} {
		res, err := s.proxy.MirrorPackage(ctx, "acme", "pub/two", asked)
		require.NoError(t, err, asked)
		var got []string
		for _, r := range res {
			got = append(got, r.Version)
		}
		require.ElementsMatch(t, want, got, asked)
	}

	// A private name yields nothing from the upstream, even with no version left.
	_, err = s.svc.Upload(ctx, "acme", "1.0.0", bytes.NewReader(makeZip(t, zf{name: "composer.json", body: `{"name":"acme/secret"}`})))
	require.NoError(t, err)
	require.NoError(t, s.svc.DeleteVersion(ctx, "acme", "acme/secret", "1.0.0"))
	res, _ = s.do("GET", "/composer/acme/p2/acme/secret.json", read, nil)
	require.Equal(t, http.StatusNotFound, res.StatusCode)
	_, err = s.proxy.MirrorPackage(ctx, "acme", "acme/secret", "")
	require.ErrorContains(t, err, "private package")
	require.Zero(t, f.count("/p2/acme/secret.json"))

	// A dist whose bytes do not match the upstream's shasum is refused.
	f.mu.Lock()
	f.files["/dists/log-2.zip"] = []byte("tampered")
	f.mu.Unlock()
	f.mu.Lock()
	f.files["/p2/pub/evil.json"] = []byte(`{"packages":{"pub/evil":[{"name":"pub/evil","version":"1.0.0","dist":{"type":"zip","url":"` + f.srv.URL + `/dists/log-2.zip","reference":"abc","shasum":"` + strings.Repeat("0", 40) + `"}}]}}`)
	f.mu.Unlock()
	out, err = runCLI(s, "mirror", "--org", "acme", "--package", "pub/evil")
	require.Error(t, err)
	require.Contains(t, out, "failed")

	// Removal.
	out, err = runCLI(s, "remove-upstream", "--org", "acme", "--url", f.srv.URL)
	require.NoError(t, err, out)
	res, _ = s.do("GET", "/composer/acme/p2/pub/log.json", read, nil)
	require.Equal(t, http.StatusNotFound, res.StatusCode)
}

// TestUpstreamSearchAndList: `composer search` (the real client) and the
// list endpoint find the organization's packages and its upstreams', in
// priority order, never a public entry under a private name; a failing
// upstream leaves the private results; a repeated search is answered
// without the upstreams.
func TestUpstreamSearchAndList(t *testing.T) {
	backends(t, func(t *testing.T, pg bool) {
		f := newFixtureRepo(t)
		quiet := newFixtureRepo(t) // advertises no search or list endpoint
		quiet.files["/packages.json"] = []byte(`{"packages":{},"metadata-url":"/p2/%package%.json"}`)
		s := upstreamStack(t, pg, time.Millisecond) // upstream packages.json revalidated on every use
		s.org("acme")
		read := s.token("acme", metadata.RoleRead)
		ctx := t.Context()
		for _, m := range []string{
			`{"name":"acme/secret","description":"Secret log keeper"}`,
			`{"name":"acme/logbook","description":"Team notes"}`,
			`{"name":"acme/app","description":"The log app","type":"project"}`,
		} {
			_, err := s.svc.Upload(ctx, "acme", "1.0.0", bytes.NewReader(makeZip(t, zf{name: "composer.json", body: m})))
			require.NoError(t, err)
		}
		// Before upstreams: private results only, and type is respected.
		res, body := s.do("GET", "/composer/acme/search.json?q=log", read, nil)
		require.Equal(t, http.StatusOK, res.StatusCode, string(body))
		require.Equal(t, []string{"acme/app", "acme/logbook", "acme/secret"}, searchNames(t, body))
		res, body = s.do("GET", "/composer/acme/search.json?q=log&type=project", read, nil)
		require.Equal(t, http.StatusOK, res.StatusCode, string(body))
		require.Equal(t, []string{"acme/app"}, searchNames(t, body))
		res, _ = s.do("GET", "/composer/acme/search.json?q=log&type=bad%20type", read, nil)
		require.Equal(t, http.StatusBadRequest, res.StatusCode)

		in := quiet.input()
		one := 1
		in.Priority = &one
		_, err := s.proxy.AddUpstream(ctx, "acme", in)
		require.NoError(t, err)
		_, err = s.proxy.AddUpstream(ctx, "acme", f.input())
		require.NoError(t, err)

		// The real client: private first, then the upstream's, the
		// shadowed public acme/secret and the virtual package left out.
		u, _ := url.Parse(s.url)
		ce := harness.Composer(t, u.Host, read)
		dir := harness.ComposerProject(t, s.url+"/composer/acme", map[string]string{})
		out := ce.Must(dir, "search", "--format", "json", "log")
		var found []map[string]any
		require.NoError(t, json.Unmarshal([]byte(out[strings.Index(out, "["):]), &found), out)
		var names []string
		for _, r := range found {
			names = append(names, r["name"].(string))
			require.NotContains(t, r["description"], "impostor", "a public package never shows under a private name")
		}
		require.Equal(t, []string{"acme/app", "acme/logbook", "acme/secret", "pub/log", "pub/skeleton"}, names)
		require.Equal(t, 1, f.count("/search.json"))
		require.Zero(t, quiet.count("/search.json"), "an upstream without a search endpoint is not searched")
		// Again: answered from packyard's cache, not the upstream.
		out2 := ce.Must(dir, "search", "--format", "json", "log")
		require.Equal(t, out, out2)
		require.Equal(t, 1, f.count("/search.json"), "a repeated search does not reach the upstream")

		// The type reaches the upstream and filters the private packages.
		res, body = s.do("GET", "/composer/acme/search.json?q=log&type=project", read, nil)
		require.Equal(t, http.StatusOK, res.StatusCode, string(body))
		require.Equal(t, []string{"acme/app", "pub/skeleton"}, searchNames(t, body))
		require.NotContains(t, string(body), "user:pw", "user information of upstream URLs is dropped")
		require.Equal(t, 2, f.count("/search.json"), "another query is another upstream search")

		// list.json merges too, with filter or vendor.
		for _, q := range []string{"filter=acme/*", "vendor=acme"} {
			res, body = s.do("GET", "/composer/acme/list.json?"+q, read, nil)
			require.Equal(t, http.StatusOK, res.StatusCode, string(body))
			require.JSONEq(t, `{"packageNames":["acme/app","acme/logbook","acme/secret","acme/tools"]}`, string(body), q)
		}
		res, body = s.do("GET", "/composer/acme/list.json?filter=pub/l*", read, nil)
		require.Equal(t, http.StatusOK, res.StatusCode, string(body))
		require.JSONEq(t, `{"packageNames":["pub/log","pub/log-virtual"]}`, string(body))
		lists := f.count("/list.json")
		require.Equal(t, 2, lists, "filter=acme/* and vendor=acme are one query")
		res, body = s.do("GET", "/composer/acme/list.json", read, nil)
		require.Equal(t, http.StatusOK, res.StatusCode, string(body))
		require.JSONEq(t, `{"packageNames":["acme/app","acme/logbook","acme/secret"]}`, string(body), "every name: the organization's own")
		require.Equal(t, lists, f.count("/list.json"))

		// A failing upstream: private results still answer.
		f.mu.Lock()
		f.listFail = true
		f.mu.Unlock()
		out = ce.Must(dir, "search", "--format", "json", "team")
		require.Contains(t, out, "acme/logbook")
		require.Equal(t, 3, f.count("/search.json"), "the upstream was asked and failed")
		res, body = s.do("GET", "/composer/acme/list.json?filter=acme/log*", read, nil)
		require.Equal(t, http.StatusOK, res.StatusCode, string(body))
		require.JSONEq(t, `{"packageNames":["acme/logbook"]}`, string(body))

		// A new private package changes the repository: the cached
		// upstream results are not reused, and its name now shadows the
		// upstream's.
		f.mu.Lock()
		f.listFail = false
		f.mu.Unlock()
		_, err = s.svc.Upload(ctx, "acme", "1.0.0", bytes.NewReader(makeZip(t, zf{name: "composer.json", body: `{"name":"pub/skeleton","description":"Ours"}`})))
		require.NoError(t, err)
		res, body = s.do("GET", "/composer/acme/search.json?q=log", read, nil)
		require.Equal(t, http.StatusOK, res.StatusCode, string(body))
		require.Equal(t, []string{"acme/app", "acme/logbook", "acme/secret", "pub/log"}, searchNames(t, body))
		require.Equal(t, 4, f.count("/search.json"))
		f.mu.Lock()
		require.Empty(t, f.badAuth, "every upstream request carried the upstream's credentials, none the client's")
		f.mu.Unlock()
	})
}

func searchNames(t *testing.T, body []byte) []string {
	t.Helper()
	var doc struct {
		Results []SearchResult `json:"results"`
	}
	require.NoError(t, json.Unmarshal(body, &doc), string(body))
	names := []string{}
	for _, r := range doc.Results {
		names = append(names, r.Name)
	}
	return names
}

func TestParseUpstreamListings(t *testing.T) {
	hits, err := parseUpstreamSearch([]byte(`{"results":[{"name":"A/B","description":"x","url":"https://u:p@h.example/a/b?t=1"},
		{"name":"a/b","description":"again"},{"name":"c/d","virtual":true},{"name":"bad name"},{"name":"e/f","url":"javascript:alert(1)"}]}`))
	require.NoError(t, err)
	require.Equal(t, []SearchResult{{Name: "a/b", Description: "x", URL: "https://h.example/a/b?t=1"}, {Name: "e/f"}}, hits)
	_, err = parseUpstreamSearch([]byte(`[]`))
	require.Error(t, err)
	hits, err = parseUpstreamList([]byte(`{"packageNames":["x/y","X/Y","..",""]}`))
	require.NoError(t, err)
	require.Equal(t, []SearchResult{{Name: "x/y"}}, hits)
	_, err = parseUpstreamList([]byte(`{"results":[]}`))
	require.Error(t, err)
	require.Equal(t, "ab", truncate("abé", 3))
}

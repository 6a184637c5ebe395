package composer

import (
	"bytes"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/packyard/packyard/pkg/metadata"
)

// TestHeadWhereverGet: HEAD answers as GET does (status and headers, no
// body) on every Composer read route, mirrored archives included.
func TestHeadWhereverGet(t *testing.T) {
	f := newFixtureRepo(t)
	s := upstreamStack(t, false, 0)
	s.org("acme")
	read := s.token("acme", metadata.RoleRead)
	admin := s.token("acme", metadata.RoleAdmin)
	_, err := s.svc.Upload(t.Context(), "acme", "1.0.0", bytes.NewReader(makeZip(t, zf{name: "composer.json", body: `{"name":"acme/lib"}`})))
	require.NoError(t, err)
	_, err = s.proxy.AddUpstream(t.Context(), "acme", f.input())
	require.NoError(t, err)
	dist, _ := url.Parse(s.p2("acme", "acme/lib", read)["1.0.0"]["dist"].(map[string]any)["url"].(string))
	mirror, _ := url.Parse(s.p2("acme", "pub/log", read)["2.0.0"]["dist"].(map[string]any)["url"].(string))
	for _, path := range []string{
		"/composer/acme/packages.json", "/composer/acme/p2/acme/lib.json", "/composer/acme/p2/pub/log.json",
		dist.Path, mirror.Path, "/composer/acme/search.json?q=lib", "/composer/acme/list.json",
		"/composer/acme/security-advisories?packages[]=pub/log", "/composer/acme/api/packages",
		"/composer/acme/api/sources", "/composer/acme/api/advisories", "/composer/acme/api/upstreams",
	} {
		tok := read
		if strings.Contains(path, "/api/upstreams") {
			tok = admin
		}
		get, _ := s.do("GET", path, tok, nil)
		require.Equal(t, http.StatusOK, get.StatusCode, path)
		head, body := s.do("HEAD", path, tok, nil)
		require.Equal(t, http.StatusOK, head.StatusCode, path)
		require.Empty(t, body, path)
		require.Equal(t, get.Header.Get("Content-Type"), head.Header.Get("Content-Type"), path)
	}
	res, _ := s.do("HEAD", "/composer/acme/dists/acme/lib/0000000000000000000000000000000000000000.zip", read, nil)
	require.Equal(t, http.StatusNotFound, res.StatusCode)
}

// TestDownloadsCountOnlyReaders: only callers that may read the repository
// change the counts; the others are refused as for an absent organization.
func TestDownloadsCountOnlyReaders(t *testing.T) {
	s := newStack(t, stackOpts{})
	s.org("acme")
	s.org("other")
	read := s.token("acme", metadata.RoleRead)
	otherRead := s.token("other", metadata.RoleRead)
	_, err := s.svc.Upload(t.Context(), "acme", "1.0.0", bytes.NewReader(makeZip(t, zf{name: "composer.json", body: `{"name":"acme/lib"}`})))
	require.NoError(t, err)
	report := `{"downloads":[{"name":"acme/lib","version":"1.0.0.0"}]}`
	count := func() int64 {
		ps, err := s.svc.ListPackages(t.Context(), "acme")
		require.NoError(t, err)
		return ps[0].Versions[0].Downloads
	}
	for _, org := range []string{"acme", "nosuchorg"} {
		for _, tok := range []string{"", otherRead} {
			res, body := s.do("POST", "/composer/"+org+"/downloads", tok, strings.NewReader(report))
			require.NotEqual(t, http.StatusOK, res.StatusCode, "%s: %s", org, body)
		}
	}
	require.Zero(t, count(), "callers who cannot read the repository do not count")
	res, _ := s.do("POST", "/composer/acme/downloads", read, strings.NewReader(report))
	require.Equal(t, http.StatusOK, res.StatusCode)
	require.Equal(t, int64(1), count())
}

package composer

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/packyard/packyard/pkg/metadata"
)

func TestAcceptsGzip(t *testing.T) {
	for header, want := range map[string]bool{
		"":                        false,
		"gzip":                    true,
		"GZIP":                    true,
		"deflate, gzip":           true,
		"br;q=1.0, gzip;q=0.8":    true,
		"x-gzip":                  true,
		"*":                       true,
		"gzip;q=0":                false,
		"gzip; q=0.000":           false,
		"identity":                false,
		"deflate, br":             false,
		"gzipped":                 false,
		"*;q=0, identity":         false,
		"br, gzip;q=0, identity":  false,
		"gzip;level=1;q=0.5":      true,
		"gzip;q=nonsense, br":     true, // an unreadable weight is not a refusal
		" gzip ; q=0 , x-gzip":    true,
		"deflate;q=0.5,gzip;q=0.": false,
	} {
		require.Equal(t, want, acceptsGzip(header), "%q", header)
	}
}

func TestConditionalRequests(t *testing.T) {
	mod := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	r := newReady(Doc{Body: []byte(`{"packages":{"a/b":[]},"padding":"` + strings.Repeat("x", 400) + `"}`), ModTime: mod}, "http://h")
	require.NotNil(t, r.Gzip)
	require.NotEqual(t, r.ETag, r.GzipETag)
	for _, c := range []struct {
		hdr  []string
		want bool
	}{
		{nil, false},
		{[]string{"If-None-Match", r.ETag}, true},
		{[]string{"If-None-Match", r.GzipETag}, true},
		{[]string{"If-None-Match", "W/" + r.ETag}, true},
		{[]string{"If-None-Match", `"other", ` + r.ETag}, true},
		{[]string{"If-None-Match", "*"}, true},
		{[]string{"If-None-Match", `"other"`}, false},
		// If-None-Match overrides If-Modified-Since.
		{[]string{"If-None-Match", `"other"`, "If-Modified-Since", mod.Format(http.TimeFormat)}, false},
		{[]string{"If-Modified-Since", mod.Format(http.TimeFormat)}, true},
		{[]string{"If-Modified-Since", mod.Add(time.Hour).Format(http.TimeFormat)}, true},
		{[]string{"If-Modified-Since", mod.Add(-time.Second).Format(http.TimeFormat)}, false},
		{[]string{"If-Modified-Since", "yesterday"}, false},
	} {
		req := httptest.NewRequest("GET", "/", nil)
		for i := 0; i+1 < len(c.hdr); i += 2 {
			req.Header.Set(c.hdr[i], c.hdr[i+1])
		}
		require.Equal(t, c.want, notModified(req, r), "%q", c.hdr)
	}
}

func TestWriteReady(t *testing.T) {
	body := `{"packages":{"a/b":[{"dist":{"url":"` + strings.Repeat("x", 500) + `"}}]}}`
	r := newReady(Doc{Body: []byte(body), ModTime: time.Unix(1700000000, 0)}, "http://h")
	serve := func(method string, hdr ...string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(method, "/", nil)
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		rec := httptest.NewRecorder()
		writeReady(rec, req, r)
		return rec
	}
	plain := serve("GET")
	require.Equal(t, http.StatusOK, plain.Code)
	require.Equal(t, body, plain.Body.String())
	require.Empty(t, plain.Header().Get("Content-Encoding"))
	require.Equal(t, r.ETag, plain.Header().Get("ETag"))
	require.Equal(t, "Accept-Encoding", plain.Header().Get("Vary"))
	require.Equal(t, "application/json", plain.Header().Get("Content-Type"))
	require.Equal(t, "private, no-cache", plain.Header().Get("Cache-Control"))
	require.Equal(t, fmt.Sprint(len(body)), plain.Header().Get("Content-Length"))

	gz := serve("GET", "Accept-Encoding", "gzip")
	require.Equal(t, "gzip", gz.Header().Get("Content-Encoding"))
	require.Equal(t, r.GzipETag, gz.Header().Get("ETag"))
	require.Equal(t, body, gunzip(t, gz.Body.Bytes()))
	require.Less(t, gz.Body.Len(), len(body))

	head := serve("HEAD", "Accept-Encoding", "gzip")
	require.Equal(t, http.StatusOK, head.Code)
	require.Empty(t, head.Body.Bytes())
	require.Equal(t, gz.Header().Get("Content-Length"), head.Header().Get("Content-Length"))

	nm := serve("GET", "If-None-Match", r.ETag, "Accept-Encoding", "gzip")
	require.Equal(t, http.StatusNotModified, nm.Code)
	require.Empty(t, nm.Body.Bytes())
	require.Equal(t, r.GzipETag, nm.Header().Get("ETag"))
	require.Equal(t, r.LastModified, nm.Header().Get("Last-Modified"))
	require.Empty(t, nm.Header().Get("Content-Encoding"))

	// A small document is not worth compressing: it is sent as it is.
	small := newReady(Doc{Body: []byte(`{"packages":{}}`)}, "http://h")
	require.Nil(t, small.Gzip)
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("GET", "/", nil)
	req.Header.Set("Accept-Encoding", "gzip")
	writeReady(rec, req, small)
	require.Empty(t, rec.Header().Get("Content-Encoding"))
	require.Equal(t, `{"packages":{}}`, rec.Body.String())
}

func gunzip(t *testing.T, b []byte) string {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(b))
	require.NoError(t, err)
	out, err := io.ReadAll(zr)
	require.NoError(t, err)
	return string(out)
}

// TestReadyCacheBudget: the cache keeps one version per document and stays
// within its byte budget however many documents (or Host headers) come.
func TestReadyCacheBudget(t *testing.T) {
	c := newReadyCache(64 << 10)
	d := Doc{Body: []byte(strings.Repeat(`{"a":"b"}`, 200))}
	k := readyKey{org: "o", doc: "p2/a/b.json", base: "http://h"}
	c.put(k, atGeneration(1), d)
	require.NotNil(t, c.get(k, atGeneration(1)))
	c.put(k, atGeneration(2), d)
	require.Nil(t, c.get(k, atGeneration(1)), "an older generation's document is replaced")
	require.NotNil(t, c.get(k, atGeneration(2)))
	for i := range 1000 {
		c.put(readyKey{org: "o", doc: "p2/a/b.json", base: fmt.Sprintf("http://h%d", i)}, atGeneration(2), d)
		require.LessOrEqual(t, c.bytes.Load(), c.max)
	}
	var n int64
	c.entries.Range(func(_, v any) bool { n += v.(readyEntry).ready.size; return true })
	require.Equal(t, n, c.bytes.Load(), "the byte count is the entries' sizes")

	// A proxied document is known by its bytes.
	p := Doc{Body: []byte(`{"packages":{"x/y":[]}}`), ModTime: time.Unix(5, 0)}
	require.Equal(t, c.fingerprint(p), c.fingerprint(Doc{Body: bytes.Clone(p.Body), ModTime: p.ModTime}))
	require.NotEqual(t, c.fingerprint(p), c.fingerprint(Doc{Body: []byte(`{"packages":{"x/z":[]}}`), ModTime: p.ModTime}))
	require.NotEqual(t, c.fingerprint(p), c.fingerprint(Doc{Body: p.Body, ModTime: time.Unix(6, 0)}))
}

// TestServedDocuments: packages.json and p2 documents carry an ETag and a
// gzip variant, answer 304 to either ETag and to If-Modified-Since, follow
// every change of the repository, and carry the base URL each client
// reaches packyard at.
func TestServedDocuments(t *testing.T) {
	s := newStack(t, stackOpts{})
	s.org("acme")
	tok := s.token("acme", metadata.RoleRead)
	upload := func(version string) {
		desc := strings.Repeat("a long description ", 30)
		_, err := s.svc.Upload(t.Context(), "acme", version, bytes.NewReader(makeZip(t,
			zf{name: "composer.json", body: fmt.Sprintf(`{"name":"acme/lib","description":%q}`, desc)})))
		require.NoError(t, err)
	}
	upload("1.0.0")
	for _, path := range []string{"/composer/acme/p2/acme/lib.json", "/composer/acme/packages.json"} {
		plain, body := s.do("GET", path, tok, nil, "Accept-Encoding", "identity")
		require.Equal(t, http.StatusOK, plain.StatusCode)
		etag := plain.Header.Get("ETag")
		require.NotEmpty(t, etag, path)
		require.Equal(t, "Accept-Encoding", plain.Header.Get("Vary"))
		if strings.Contains(path, "p2") {
			gz, zipped := s.do("GET", path, tok, nil, "Accept-Encoding", "gzip")
			require.Equal(t, "gzip", gz.Header.Get("Content-Encoding"), path)
			require.Equal(t, string(body), gunzip(t, zipped))
			nm, _ := s.do("GET", path, tok, nil, "Accept-Encoding", "gzip", "If-None-Match", gz.Header.Get("ETag"))
			require.Equal(t, http.StatusNotModified, nm.StatusCode)
		}
		nm, empty := s.do("GET", path, tok, nil, "If-None-Match", etag)
		require.Equal(t, http.StatusNotModified, nm.StatusCode, path)
		require.Empty(t, empty)
		ims, _ := s.do("GET", path, tok, nil, "If-Modified-Since", plain.Header.Get("Last-Modified"))
		require.Equal(t, http.StatusNotModified, ims.StatusCode, path)
		// Without a read token there is no document and no ETag.
		anon, _ := s.do("GET", path, "", nil, "If-None-Match", etag)
		require.Equal(t, http.StatusUnauthorized, anon.StatusCode)
		require.Empty(t, anon.Header.Get("ETag"))
	}
	_, before := s.do("GET", "/composer/acme/p2/acme/lib.json", tok, nil)
	old, _ := s.do("GET", "/composer/acme/p2/acme/lib.json", tok, nil, "Accept-Encoding", "identity")
	time.Sleep(10 * time.Millisecond)
	upload("1.1.0")
	res, after := s.do("GET", "/composer/acme/p2/acme/lib.json", tok, nil, "If-None-Match", old.Header.Get("ETag"))
	require.Equal(t, http.StatusOK, res.StatusCode, "a new version changes the document")
	require.NotEqual(t, old.Header.Get("ETag"), res.Header.Get("ETag"))
	require.NotContains(t, string(before), `"1.1.0"`)
	require.Contains(t, string(after), `"1.1.0"`)

	// Each base URL gets its own links (PACKYARD_BASE_URL unset: from the Host header).
	hosts := []string{"one.example.com", "two.example.com"}
	for i, host := range hosts {
		req, err := http.NewRequest("GET", s.url+"/composer/acme/p2/acme/lib.json", nil)
		require.NoError(t, err)
		req.Host = host
		req.SetBasicAuth("token", tok)
		res, err := s.client.Do(req)
		require.NoError(t, err)
		b, err := io.ReadAll(res.Body)
		res.Body.Close()
		require.NoError(t, err)
		require.Contains(t, string(b), `"http://`+host+`/composer/acme/dists/acme/lib/`)
		require.NotContains(t, string(b), hosts[1-i], "only one host's links: %s", b)
	}
}

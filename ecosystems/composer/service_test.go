package composer

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/packyard/packyard/ecosystems/composer/format"
	"github.com/packyard/packyard/pkg/errs"
	"github.com/packyard/packyard/pkg/metadata"
)

func backends(t *testing.T, fn func(t *testing.T, pg bool)) {
	t.Run("sqlite", func(t *testing.T) { fn(t, false) })
	t.Run("postgres+minio+redis", func(t *testing.T) { fn(t, true) })
}

func (s *stack) do(method, path, token string, body io.Reader, hdr ...string) (*http.Response, []byte) {
	s.t.Helper()
	req, err := http.NewRequest(method, s.url+path, body)
	require.NoError(s.t, err)
	if token != "" {
		req.SetBasicAuth("token", token)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := s.client.Do(req)
	require.NoError(s.t, err)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(s.t, err)
	return res, b
}

type p2doc struct {
	Packages map[string][]format.Object `json:"packages"`
	Minified string                     `json:"minified"`
}

func (s *stack) p2(org, name, token string) map[string]map[string]any {
	s.t.Helper()
	out := map[string]map[string]any{}
	for _, suffix := range []string{".json", "~dev.json"} {
		res, body := s.do("GET", "/composer/"+org+"/p2/"+name+suffix, token, nil)
		if res.StatusCode == http.StatusNotFound {
			continue
		}
		require.Equal(s.t, http.StatusOK, res.StatusCode, string(body))
		var d p2doc
		require.NoError(s.t, json.Unmarshal(body, &d))
		for _, v := range format.Expand(d.Packages[name]) {
			b, _ := json.Marshal(v)
			var m map[string]any
			require.NoError(s.t, json.Unmarshal(b, &m))
			out[m["version"].(string)] = m
		}
	}
	return out
}

func blobCount(t *testing.T, meta metadata.Store) int {
	var n int
	require.NoError(t, meta.DB().QueryRow(context.Background(), `SELECT COUNT(*) FROM blobs`).Scan(&n))
	return n
}

func TestUploadOverHTTP(t *testing.T) {
	backends(t, func(t *testing.T, pg bool) {
		s := newStack(t, stackOpts{postgres: pg})
		s.org("acme")
		s.org("other")
		write, read, otherTok := s.token("acme", metadata.RoleWrite), s.token("acme", metadata.RoleRead), s.token("other", metadata.RoleAdmin)

		z := makeZip(t, zf{name: "composer.json", body: `{"name":"acme/lib","description":"A library","require":{"php":">=8.1"},"autoload":{"psr-4":{"Acme\\Lib\\":"src/"}}}`},
			zf{name: "src/Lib.php", body: "<?php namespace Acme\\Lib; class Lib {}"})
		res, body := s.do("PUT", "/composer/acme/upload?version=1.2.3", write, bytes.NewReader(z))
		require.Equal(t, http.StatusCreated, res.StatusCode, string(body))
		sum := sha1.Sum(z)
		require.Contains(t, string(body), hex.EncodeToString(sum[:]))

		// Immutable.
		res, body = s.do("PUT", "/composer/acme/upload?version=1.2.3", write, bytes.NewReader(z))
		require.Equal(t, http.StatusConflict, res.StatusCode)
		require.Contains(t, string(body), "versions are immutable")
		res, _ = s.do("PUT", "/composer/acme/upload?version=v1.2.3", write, bytes.NewReader(z))
		require.Equal(t, http.StatusConflict, res.StatusCode, "same normalized version")

		// Auth.
		res, _ = s.do("PUT", "/composer/acme/upload?version=2.0.0", read, bytes.NewReader(z))
		require.Equal(t, http.StatusForbidden, res.StatusCode, "a read token cannot publish")
		res, _ = s.do("GET", "/composer/acme/packages.json", "", nil)
		require.Equal(t, http.StatusUnauthorized, res.StatusCode)
		require.Contains(t, res.Header.Get("WWW-Authenticate"), "Basic")
		res, _ = s.do("GET", "/composer/acme/packages.json", otherTok, nil)
		require.Equal(t, http.StatusNotFound, res.StatusCode, "another organization's token sees nothing")
		res, _ = s.do("GET", "/composer/acme/p2/acme/lib.json", otherTok, nil)
		require.Equal(t, http.StatusNotFound, res.StatusCode)
		res, _ = s.do("GET", "/composer/acme/packages.json", "bogus-token", nil)
		require.Equal(t, http.StatusUnauthorized, res.StatusCode)

		// packages.json
		res, body = s.do("GET", "/composer/acme/packages.json", read, nil, "User-Agent", "Composer/2.5.5")
		require.Equal(t, http.StatusOK, res.StatusCode)
		var root map[string]any
		require.NoError(t, json.Unmarshal(body, &root))
		require.Equal(t, s.url+"/composer/acme/p2/%package%.json", root["metadata-url"])
		require.Equal(t, []any{"acme/lib"}, root["available-packages"])
		require.Contains(t, res.Header.Get("Cache-Control"), "private")
		lm := res.Header.Get("Last-Modified")
		require.NotEmpty(t, lm)
		res, body = s.do("GET", "/composer/acme/packages.json", read, nil, "If-Modified-Since", lm)
		require.Equal(t, http.StatusNotModified, res.StatusCode)
		require.Empty(t, body)
		res, _ = s.do("GET", "/composer/acme/packages.json", read, nil, "User-Agent", "Composer/1.10.1 (Linux)")
		require.Equal(t, http.StatusNotAcceptable, res.StatusCode)

		// p2
		vs := s.p2("acme", "acme/lib", read)
		require.Len(t, vs, 1)
		v := vs["1.2.3"]
		require.Equal(t, "1.2.3.0", v["version_normalized"])
		require.Equal(t, map[string]any{"php": ">=8.1"}, v["require"])
		dist := v["dist"].(map[string]any)
		require.Equal(t, hex.EncodeToString(sum[:]), dist["shasum"])
		require.True(t, strings.HasPrefix(dist["url"].(string), s.url+"/composer/acme/dists/acme/lib/"), dist["url"])
		res, _ = s.do("GET", "/composer/acme/p2/acme/nope.json", read, nil)
		require.Equal(t, http.StatusNotFound, res.StatusCode)

		// dist
		res, body = s.do("GET", strings.TrimPrefix(dist["url"].(string), s.url), read, nil)
		require.Equal(t, http.StatusOK, res.StatusCode)
		require.Equal(t, z, body)

		// notify-batch
		res, _ = s.do("POST", "/composer/acme/downloads", read, strings.NewReader(`{"downloads":[{"name":"acme/lib","version":"1.2.3.0"},{"name":"acme/none","version":"1.0.0.0"}]}`))
		require.Equal(t, http.StatusOK, res.StatusCode)
		ps, err := s.svc.ListPackages(t.Context(), "acme")
		require.NoError(t, err)
		require.Equal(t, int64(1), ps[0].Versions[0].Downloads)

		// search and list
		res, body = s.do("GET", "/composer/acme/search.json?q=librar", read, nil)
		require.Equal(t, http.StatusOK, res.StatusCode)
		require.Contains(t, string(body), `"name":"acme/lib"`)
		res, body = s.do("GET", "/composer/acme/search.json?q=zzz", read, nil)
		require.NotContains(t, string(body), "acme/lib")
		res, body = s.do("GET", "/composer/acme/list.json?filter=acme/*", read, nil)
		require.JSONEq(t, `{"packageNames":["acme/lib"]}`, string(body))

		// Version from composer.json; a mismatch is refused.
		z2 := makeZip(t, zf{name: "pkg/", body: ""}, zf{name: "pkg/composer.json", body: `{"name":"other-vendor/tool","version":"0.1.0"}`})
		res, body = s.do("PUT", "/composer/acme/upload", write, bytes.NewReader(z2))
		require.Equal(t, http.StatusCreated, res.StatusCode, string(body))
		res, body = s.do("PUT", "/composer/acme/upload?version=0.2.0", write, bytes.NewReader(z2))
		require.Equal(t, http.StatusBadRequest, res.StatusCode)
		require.Contains(t, string(body), "does not match")

		// Bad archives: 4xx, nothing stored.
		before := blobCount(t, s.meta)
		for name, tc := range map[string]struct {
			zip    []byte
			status int
			msg    string
		}{
			"no manifest": {makeZip(t, zf{name: "README", body: "x"}), 400, "composer.json not found"},
			"bad json":    {makeZip(t, zf{name: "composer.json", body: "{"}), 400, "composer.json"},
			"no name":     {makeZip(t, zf{name: "composer.json", body: `{"version":"1.0.0"}`}), 400, `no \"name\"`},
			"zip slip":    {makeZip(t, zf{name: "composer.json", body: `{"name":"a/b"}`}, zf{name: "../evil", body: "x"}), 400, "unsafe path"},
			"not a zip":   {[]byte("hello"), 400, "not a valid zip"},
			"bomb":        {makeZip(t, zf{name: "composer.json", body: `{"name":"a/b"}`}, zf{name: "z", body: strings.Repeat("\x00", 16<<20), method: zip.Deflate}), 413, "compression ratio"},
			"no version":  {makeZip(t, zf{name: "composer.json", body: `{"name":"a/b"}`}), 400, "no version"},
			"bad version": {makeZip(t, zf{name: "composer.json", body: `{"name":"a/b","version":"banana"}`}), 400, "not a valid Composer version"},
			"empty":       {nil, 400, "empty"},
		} {
			res, body := s.do("PUT", "/composer/acme/upload", write, bytes.NewReader(tc.zip))
			require.Equal(t, tc.status, res.StatusCode, "%s: %s", name, body)
			require.Contains(t, string(body), tc.msg, name)
		}
		require.Equal(t, before, blobCount(t, s.meta), "refused uploads store nothing")

		// Size limit.
		small := DefaultConfig()
		small.MaxUploadSize = 1024
		s2 := newStack(t, stackOpts{postgres: pg, cfg: &small})
		s2.org("acme")
		big := makeZip(t, zf{name: "composer.json", body: `{"name":"a/b","version":"1.0.0"}`}, zf{name: "x", body: strings.Repeat("random-ish data ", 400)})
		res, body = s2.do("PUT", "/composer/acme/upload", s2.token("acme", metadata.RoleWrite), bytes.NewReader(big))
		require.Equal(t, http.StatusRequestEntityTooLarge, res.StatusCode, string(body))

		// Admin delete, then the version can be published again.
		require.ErrorIs(t, s.svc.DeleteVersion(t.Context(), "acme", "acme/lib", "1.2.4"), errs.ErrNotFound)
		res, _ = s.do("DELETE", "/composer/acme/api/packages/acme/lib/versions/1.2.3", write, nil)
		require.Equal(t, http.StatusForbidden, res.StatusCode, "only admins delete")
		res, body = s.do("DELETE", "/composer/acme/api/packages/acme/lib/versions/1.2.3", s.token("acme", metadata.RoleAdmin), nil)
		require.Equal(t, http.StatusNoContent, res.StatusCode, string(body))
		require.Empty(t, s.p2("acme", "acme/lib", read))
		res, _ = s.do("GET", strings.TrimPrefix(dist["url"].(string), s.url), read, nil)
		require.Equal(t, http.StatusOK, res.StatusCode, "the archive stays for lock files")
		res, _ = s.do("PUT", "/composer/acme/upload?version=1.2.3", write, bytes.NewReader(z))
		require.Equal(t, http.StatusCreated, res.StatusCode)
	})
}

// TestDocumentsInvalidatedAcrossProcesses: a second Service over the same
// database with its own cache (another replica, or the CLI) changes the
// repository; the first one serves the change at once.
func TestDocumentsInvalidatedAcrossProcesses(t *testing.T) {
	s := newStack(t, stackOpts{})
	s.org("acme")
	read := s.token("acme", metadata.RoleRead)
	up := func(svc *Service, v string) {
		_, err := svc.Upload(t.Context(), "acme", v, bytes.NewReader(makeZip(t, zf{name: "composer.json", body: `{"name":"acme/x"}`})))
		require.NoError(t, err)
	}
	up(s.svc, "1.0.0")
	require.Len(t, s.p2("acme", "acme/x", read), 1)
	res, _ := s.do("GET", "/composer/acme/p2/acme/x.json", read, nil)
	lm1 := res.Header.Get("Last-Modified")

	other, err := New(Params{Config: s.svc.cfg, Meta: s.meta, CAS: s.svc.cas, Cache: newMemCache(), Locker: newMemCache(), Box: s.svc.box, Spool: s.svc.tmp})
	require.NoError(t, err)
	up(other, "1.1.0")
	require.Len(t, s.p2("acme", "acme/x", read), 2, "the first process sees the second's change")
	res, _ = s.do("GET", "/composer/acme/p2/acme/x.json", read, nil, "If-Modified-Since", lm1)
	require.Equal(t, http.StatusOK, res.StatusCode, "a change moves Last-Modified even within the same second")
	lm2 := res.Header.Get("Last-Modified")
	require.NotEqual(t, lm1, lm2)
	t1, _ := http.ParseTime(lm1)
	t2, _ := http.ParseTime(lm2)
	require.True(t, t2.After(t1))
	time.Sleep(10 * time.Millisecond)
	res, _ = s.do("GET", "/composer/acme/p2/acme/x.json", read, nil)
	require.Equal(t, lm2, res.Header.Get("Last-Modified"), "stable while nothing changes")
}

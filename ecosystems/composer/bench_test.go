package composer

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/packyard/packyard/e2e/harness"
	"github.com/packyard/packyard/pkg/metadata"
)

// Benchmarks run requests through the whole HTTP pipeline (token auth,
// access log, Echo, the handlers) against SQLite + filesystem + the
// in-process cache, and report requests per second and p99 latency.
//
//	go test -run XXX -bench . -benchtime 2000x ./ecosystems/composer/

func benchRequests(b *testing.B, h http.Handler, newReq func() *http.Request, wantStatus int) {
	b.Helper()
	lat := make([]time.Duration, 0, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		req := newReq()
		rec := httptest.NewRecorder()
		t0 := time.Now()
		h.ServeHTTP(rec, req)
		lat = append(lat, time.Since(t0))
		if rec.Code != wantStatus {
			b.Fatalf("status %d, want %d: %s", rec.Code, wantStatus, rec.Body.String())
		}
	}
	elapsed := time.Since(start)
	b.StopTimer()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "req/s")
	b.ReportMetric(float64(lat[(len(lat)*99)/100].Microseconds()), "p99-µs")
}

func benchStack(b *testing.B) (*stack, string) {
	s := newStack(b, stackOpts{})
	s.org("acme")
	return s, s.token("acme", metadata.RoleRead)
}

func authed(method, path, token string, hdr ...string) func() *http.Request {
	return func() *http.Request {
		r := httptest.NewRequest(method, path, nil)
		r.SetBasicAuth("token", token)
		for i := 0; i+1 < len(hdr); i += 2 {
			r.Header.Set(hdr[i], hdr[i+1])
		}
		return r
	}
}

func benchUpload(b testing.TB, s *stack, name, version string, payload int) {
	z := makeZip(b, zf{name: "composer.json", body: fmt.Sprintf(`{"name":%q,"require":{"php":">=8.1"}}`, name)},
		zf{name: "data.bin", body: strings.Repeat("0123456789abcdef", payload/16)})
	_, err := s.svc.Upload(context.Background(), "acme", version, bytes.NewReader(z))
	require.NoError(b, err)
}

func BenchmarkPackagesJSON(b *testing.B) {
	s, tok := benchStack(b)
	benchUpload(b, s, "acme/a", "1.0.0", 16)
	benchRequests(b, s.h, authed("GET", "/composer/acme/packages.json", tok), http.StatusOK)
}

func BenchmarkP2Cached(b *testing.B) {
	s, tok := benchStack(b)
	for i := 0; i < 20; i++ {
		benchUpload(b, s, "acme/a", fmt.Sprintf("1.%d.0", i), 16)
	}
	benchRequests(b, s.h, authed("GET", "/composer/acme/p2/acme/a.json", tok), http.StatusOK)
}

func BenchmarkP2NotModified(b *testing.B) {
	s, tok := benchStack(b)
	benchUpload(b, s, "acme/a", "1.0.0", 16)
	rec := httptest.NewRecorder()
	s.h.ServeHTTP(rec, authed("GET", "/composer/acme/p2/acme/a.json", tok)())
	lm := rec.Header().Get("Last-Modified")
	benchRequests(b, s.h, authed("GET", "/composer/acme/p2/acme/a.json", tok, "If-Modified-Since", lm), http.StatusNotModified)
}

func BenchmarkDist(b *testing.B) {
	s, tok := benchStack(b)
	const size = 4 << 20
	benchUpload(b, s, "acme/big", "1.0.0", size)
	vs := s.p2("acme", "acme/big", tok)
	path := strings.TrimPrefix(vs["1.0.0"]["dist"].(map[string]any)["url"].(string), s.url)
	b.SetBytes(size)
	benchRequests(b, s.h, authed("GET", path, tok), http.StatusOK)
}

// benchUpstream is an upstream repository that answers a minified p2
// document for any pub/* name, counting the requests it gets.
func benchUpstream(b *testing.B) (*httptest.Server, *atomic.Int64) {
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		if r.URL.Path == "/packages.json" {
			_, _ = w.Write([]byte(`{"packages":{},"metadata-url":"/p2/%package%.json"}`))
			return
		}
		name := strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/p2/"), ".json")
		var vs []string
		for i := 20; i > 0; i-- {
			v := fmt.Sprintf(`{"version":"1.%d.0","version_normalized":"1.%d.0.0","dist":{"type":"zip","url":"http://%s/%s-%d.zip","reference":"%040d","shasum":""}}`,
				i, i, r.Host, name, i, i)
			if i == 20 {
				v = `{"name":"` + name + `","require":{"php":">=8.1"},"autoload":{"psr-4":{"Pub\\":"src/"}},` + v[1:]
			}
			vs = append(vs, v)
		}
		w.Header().Set("Last-Modified", "Fri, 01 Mar 2024 12:00:00 GMT")
		_, _ = w.Write([]byte(`{"minified":"composer/2.0","packages":{"` + name + `":[` + strings.Join(vs, ",") + `]}}`))
	}))
	b.Cleanup(srv.Close)
	return srv, &n
}

func benchUpstreamStack(b *testing.B) (*stack, string, *atomic.Int64) {
	cfg := DefaultConfig()
	cfg.SyncInterval = 0
	cfg.Upstream.RateLimit, cfg.Upstream.Burst = 1e6, 1e6
	s := newStack(b, stackOpts{cfg: &cfg})
	s.org("acme")
	up, n := benchUpstream(b)
	_, err := s.proxy.AddUpstream(context.Background(), "acme", UpstreamInput{URL: up.URL})
	require.NoError(b, err)
	return s, s.token("acme", metadata.RoleRead), n
}

// BenchmarkProxiedP2Uncached: every request is for a package packyard has
// not seen, so it is fetched from the upstream, expanded, rewritten and
// minified again.
func BenchmarkProxiedP2Uncached(b *testing.B) {
	s, tok, _ := benchUpstreamStack(b)
	i := 0
	benchRequests(b, s.h, func() *http.Request {
		i++
		return authed("GET", fmt.Sprintf("/composer/acme/p2/pub/p%d.json", i), tok)()
	}, http.StatusOK)
}

// BenchmarkProxiedP2Cached: the same upstream package, fresh in the cache.
func BenchmarkProxiedP2Cached(b *testing.B) {
	s, tok, _ := benchUpstreamStack(b)
	rec := httptest.NewRecorder()
	s.h.ServeHTTP(rec, authed("GET", "/composer/acme/p2/pub/cached.json", tok)())
	require.Equal(b, http.StatusOK, rec.Code)
	benchRequests(b, s.h, authed("GET", "/composer/acme/p2/pub/cached.json", tok), http.StatusOK)
}

// BenchmarkUpstreamRequestsUnderConcurrency: each op is 100 concurrent
// requests for a new package; upstream-req/op is what reached the upstream.
func BenchmarkUpstreamRequestsUnderConcurrency(b *testing.B) {
	s, tok, n := benchUpstreamStack(b)
	before := n.Load()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		var wg sync.WaitGroup
		for j := 0; j < 100; j++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				rec := httptest.NewRecorder()
				s.h.ServeHTTP(rec, authed("GET", fmt.Sprintf("/composer/acme/p2/pub/c%d.json", i), tok)())
				if rec.Code != http.StatusOK {
					b.Errorf("status %d", rec.Code)
				}
			}()
		}
		wg.Wait()
	}
	b.StopTimer()
	b.ReportMetric(float64(n.Load()-before)/float64(b.N), "upstream-req/op")
}

// BenchmarkGitSync100Tags syncs a repository of 100 tags (100 commits)
// served over smart HTTP by git http-backend: cold (a new source in a new
// organization: the whole fetch, every archive built) and unchanged (a
// re-sync of a synced source: one ref listing, nothing fetched or written).
func BenchmarkGitSync100Tags(b *testing.B) {
	s := newStack(b, stackOpts{})
	gs := harness.NewGitServer(b)
	work := harness.GitRepo(b)
	for i := range 100 {
		work.Commit(map[string]string{
			"composer.json":                 `{"name":"acme/hundred","autoload":{"psr-4":{"Acme\\Hundred\\":"src/"}}}`,
			fmt.Sprintf("src/F%03d.php", i): fmt.Sprintf("<?php class F%03d { const V = %d; }", i, i),
		})
		work.Git("tag", fmt.Sprintf("1.%d.0", i))
	}
	url := gs.Publish(b, "hundred", work)
	ctx := b.Context()
	orgs := 0
	b.Run("cold", func(b *testing.B) {
		for b.Loop() {
			b.StopTimer()
			orgs++
			org := fmt.Sprintf("cold%d", orgs)
			s.org(org)
			src, _, err := s.svc.AddSource(ctx, org, SourceInput{URL: url})
			require.NoError(b, err)
			b.StartTimer()
			rep, err := s.svc.SyncSource(ctx, src.ID)
			require.NoError(b, err)
			require.Equal(b, 101, rep.Changed)
		}
	})
	// The testing package may call a sub-benchmark's function more than
	// once (with -count, or to size a run): the synced source is set up by
	// the first call only, and every call re-syncs it.
	var warm string
	b.Run("unchanged", func(b *testing.B) {
		if warm == "" {
			s.org("warm")
			src, _, err := s.svc.AddSource(ctx, "warm", SourceInput{URL: url})
			require.NoError(b, err)
			_, err = s.svc.SyncSource(ctx, src.ID)
			require.NoError(b, err)
			warm = src.ID
		}
		uploads := gs.Fetches.Load()
		for b.Loop() {
			rep, err := s.svc.SyncSource(ctx, warm)
			require.NoError(b, err)
			require.Zero(b, rep.Changed)
		}
		require.Equal(b, uploads, gs.Fetches.Load(), "nothing fetched")
	})
}

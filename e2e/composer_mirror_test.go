package e2e

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/packyard/packyard/e2e/harness"
)

// TestComposerMirrorOneUpstreamRequestAcrossReplicas: two packyard
// processes share PostgreSQL, MinIO and Redis; 100 concurrent requests for
// an uncached upstream package, spread over both, make one upstream request.
func TestComposerMirrorOneUpstreamRequestAcrossReplicas(t *testing.T) {
	var mu sync.Mutex
	hits := map[string]int{}
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		hits[r.URL.Path]++
		mu.Unlock()
		switch r.URL.Path {
		case "/packages.json":
			_, _ = w.Write([]byte(`{"packages":{},"metadata-url":"/p2/%package%.json"}`))
		case "/p2/pub/log.json":
			time.Sleep(200 * time.Millisecond) // a slow upstream: every client arrives before it answers
			_, _ = w.Write([]byte(`{"minified":"composer/2.0","packages":{"pub/log":[{"name":"pub/log","version":"1.0.0",` +
				`"dist":{"type":"zip","url":"http://` + r.Host + `/log.zip","reference":"1111111111111111111111111111111111111111","shasum":""}}]}}`))
		default:
			http.NotFound(w, r)
		}
	}))
	defer upstream.Close()

	env := harness.ServiceEnv(t)
	env["PACKYARD_OUTBOUND_ALLOWED_NETWORKS"] = "127.0.0.0/8"
	a := harness.Start(t, harness.Options{Backend: harness.Services, Env: env})
	b := harness.Start(t, harness.Options{Backend: harness.Services, Env: env})
	tok := a.Token("acme", "read")
	out := a.MustCLI("composer", "add-upstream", "--org", "acme", "--url", upstream.URL)
	require.Contains(t, out, "added upstream "+upstream.URL)
	var ups []map[string]any
	require.NoError(t, json.Unmarshal([]byte(b.MustCLI("composer", "list-upstreams", "--org", "acme", "--json")), &ups))
	require.Len(t, ups, 1)

	codes := make([]int, 100)
	bodies := make([]string, 100)
	var wg sync.WaitGroup
	for i := range codes {
		in := a
		if i%2 == 1 {
			in = b
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest(http.MethodGet, in.URL+"/composer/acme/p2/pub/log.json", nil)
			req.SetBasicAuth("token", tok)
			res, err := in.Client.Do(req)
			if err != nil {
				bodies[i] = err.Error()
				return
			}
			defer res.Body.Close()
			var sb strings.Builder
			buf := make([]byte, 4096)
			for {
				n, err := res.Body.Read(buf)
				sb.Write(buf[:n])
				if err != nil {
					break
				}
			}
			codes[i], bodies[i] = res.StatusCode, sb.String()
		}()
	}
	wg.Wait()
	for i, c := range codes {
		require.Equal(t, http.StatusOK, c, bodies[i])
		require.Contains(t, bodies[i], "/composer/acme/mirror/pub/log/1111111111111111111111111111111111111111.zip")
	}
	mu.Lock()
	defer mu.Unlock()
	require.Equal(t, 1, hits["/p2/pub/log.json"], "one upstream request for 100 clients on two replicas")
}

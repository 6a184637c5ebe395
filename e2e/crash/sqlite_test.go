package crash

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/packyard/packyard/e2e/harness"
)

// Writers in many organizations at once on SQLite all finish: 20
// organizations × 10 concurrent uploads and 20 × 2 concurrent buf pushes,
// every one answered 2xx (never a 503 because a write waited for the
// database), and every one present afterwards.
func TestSQLiteConcurrentWriters(t *testing.T) {
	const orgs, perOrg, pushesPerOrg = 20, 10, 2
	rng := rand.New(rand.NewPCG(seed(t), 2))
	in := harness.Start(t, harness.Options{Backend: harness.Embedded})
	hc := &http.Client{Timeout: 2 * time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: orgs * perOrg}}
	tokens := make([]string, orgs)
	for o := range orgs {
		tokens[o] = in.Token(fmt.Sprintf("org%02d", o), "write")
	}
	ctx := context.Background()
	for o := range orgs {
		require.NoError(t, newBufClients(hc, in.URL, tokens[o]).createModule(ctx, fmt.Sprintf("org%02d", o), "mod0"))
	}

	type result struct {
		what    string
		status  int
		body    string
		elapsed time.Duration
	}
	var mu sync.Mutex
	var results []result
	var wg sync.WaitGroup
	start := time.Now()
	for o := range orgs {
		name := fmt.Sprintf("org%02d", o)
		for i := range perOrg {
			pkg, version := fmt.Sprintf("%s/pkg%d", name, i%3), fmt.Sprintf("1.0.%d", i)
			u := upload{pkg: pkg, version: version, zip: packageZip(pkg, version, rng)}
			wg.Go(func() {
				t0 := time.Now()
				status, _, body := sendUpload(ctx, hc, in.URL, name, tokens[o], u)
				mu.Lock()
				results = append(results, result{"upload " + pkg + " " + version, status, body, time.Since(t0)})
				mu.Unlock()
			})
		}
		for j := range pushesPerOrg {
			p := push{owner: name, module: "mod0", labels: []string{"main", fmt.Sprintf("p%d", j)},
				files: map[string]string{"mod0/v1/mod0.proto": fmt.Sprintf("syntax = \"proto3\";\npackage mod0.v1;\n// %d\nmessage M { string id = 1; }\n", j)}}
			bc := newBufClients(hc, in.URL, tokens[o])
			wg.Go(func() {
				t0 := time.Now()
				_, err := bc.send(ctx, p)
				status, body := http.StatusOK, ""
				if err != nil {
					status, body = 0, err.Error()
				}
				mu.Lock()
				results = append(results, result{fmt.Sprintf("push %s/mod0 %d", name, j), status, body, time.Since(t0)})
				mu.Unlock()
			})
		}
	}
	wg.Wait()
	total := time.Since(start)

	var failed []string
	var lat []time.Duration
	for _, r := range results {
		lat = append(lat, r.elapsed)
		if r.status/100 != 2 {
			failed = append(failed, fmt.Sprintf("%s: %d %s", r.what, r.status, r.body))
		}
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	t.Logf("%d concurrent writes in %d organizations: %d succeeded, %d failed in %s; latency median %s, p99 %s, max %s",
		len(results), orgs, len(results)-len(failed), len(failed), total.Round(time.Millisecond),
		lat[len(lat)/2].Round(time.Millisecond), lat[len(lat)*99/100].Round(time.Millisecond), lat[len(lat)-1].Round(time.Millisecond))
	require.Empty(t, failed)

	for o := range orgs {
		name := fmt.Sprintf("org%02d", o)
		for k := range 3 {
			vs, status, err := p2Versions(ctx, hc, in.URL, name, tokens[o], fmt.Sprintf("%s/pkg%d", name, k))
			require.NoError(t, err)
			require.Equal(t, http.StatusOK, status)
			for i := k; i < perOrg; i += 3 {
				require.Contains(t, vs, fmt.Sprintf("1.0.%d", i))
			}
		}
	}
}

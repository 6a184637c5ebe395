// Command load is packyard's small HTTP load generator for the benchmark
// harness (scripts/bench.sh): it sends GET requests (or POSTs of one body,
// e.g. a Connect call) to one URL from several
// workers for a bounded time (or a number of requests) and prints
// throughput and latency percentiles as one table row. Every "{rand}" in the
// URL becomes fresh random hex on each request. It only targets loopback
// addresses.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	var (
		name     = flag.String("name", "", "row label")
		target   = flag.String("url", "", "URL to GET (loopback only)")
		token    = flag.String("token", "", "token sent as the HTTP Basic password")
		ims      = flag.String("if-modified-since", "", "send If-Modified-Since (use \"now\" for the current time)")
		workers  = flag.Int("c", 16, "concurrent workers")
		duration = flag.Duration("d", 5*time.Second, "how long to run (at most 60s)")
		expect   = flag.Int("expect", 200, "expected status code (0: any)")
		total    = flag.Int64("n", 0, "stop after this many requests (0: run for -d)")
		header   = flag.Bool("header", false, "print the table header and exit")
		inm      = flag.String("if-none-match", "", "send If-None-Match")
		gz       = flag.Bool("gzip", false, "send Accept-Encoding: gzip (bodies are counted as sent, not decompressed)")
		raw      = flag.Bool("raw", false, "print \"req/s p50-ms p99-ms errors requests\" alone, for scripts")
		bodyFile = flag.String("body", "", "POST this file's bytes instead of a GET")
		ctype    = flag.String("content-type", "application/proto", "Content-Type of a -body")
	)
	flag.Parse()
	if *header {
		fmt.Printf("%-34s %9s %10s %9s %9s %9s %9s %7s\n", "benchmark", "requests", "req/s", "p50 ms", "p99 ms", "max ms", "MB/s", "errors")
		return
	}
	u, err := url.Parse(strings.ReplaceAll(*target, "{rand}", "r"))
	if err != nil || u.Host == "" {
		fail("-url: %q is not an absolute URL", *target)
	}
	if ip := net.ParseIP(u.Hostname()); (ip == nil || !ip.IsLoopback()) && u.Hostname() != "localhost" {
		fail("-url: %s is not a loopback address", u.Hostname())
	}
	if *duration > time.Minute {
		*duration = time.Minute
	}
	var body *string
	if *bodyFile != "" {
		b, err := os.ReadFile(*bodyFile)
		if err != nil {
			fail("-body: %v", err)
		}
		body = new(string(b))
	}
	newRequest := func(ctx context.Context) *http.Request {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, randomized(*target), nil)
		if body != nil {
			req, _ = http.NewRequestWithContext(ctx, http.MethodPost, randomized(*target), strings.NewReader(*body))
			req.Header.Set("Content-Type", *ctype)
		}
		if *token != "" {
			req.SetBasicAuth("token", *token)
		}
		if *inm != "" {
			req.Header.Set("If-None-Match", *inm)
		}
		if *gz {
			req.Header.Set("Accept-Encoding", "gzip")
		}
		switch *ims {
		case "":
		case "now":
			req.Header.Set("If-Modified-Since", time.Now().UTC().Format(http.TimeFormat))
		default:
			req.Header.Set("If-Modified-Since", *ims)
		}
		return req
	}
	// Compression only when asked for (-gzip), and never decoded here.
	tr := &http.Transport{MaxIdleConnsPerHost: *workers, MaxConnsPerHost: *workers, DisableCompression: true}
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	ctx, cancel := context.WithTimeout(context.Background(), *duration)
	defer cancel()

	var (
		mu        sync.Mutex
		latencies []time.Duration
		bytes     atomic.Int64
		errors    atomic.Int64
		sent      atomic.Int64
		wg        sync.WaitGroup
	)
	start := time.Now()
	for range *workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			local := make([]time.Duration, 0, 4096)
			for ctx.Err() == nil && (*total == 0 || sent.Add(1) <= *total) {
				t0 := time.Now()
				res, err := client.Do(newRequest(ctx))
				if err != nil {
					if ctx.Err() == nil {
						errors.Add(1)
					}
					continue
				}
				n, _ := io.Copy(io.Discard, res.Body)
				res.Body.Close()
				if *expect != 0 && res.StatusCode != *expect {
					errors.Add(1)
					continue
				}
				bytes.Add(n)
				local = append(local, time.Since(t0))
			}
			mu.Lock()
			latencies = append(latencies, local...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	elapsed := time.Since(start).Seconds()
	sort.Slice(latencies, func(i, j int) bool { return latencies[i] < latencies[j] })
	pct := func(p float64) float64 {
		if len(latencies) == 0 {
			return 0
		}
		return float64(latencies[int(p*float64(len(latencies)-1))].Microseconds()) / 1000
	}
	if *raw {
		fmt.Printf("%.0f %.2f %.2f %d %d\n", float64(len(latencies))/elapsed, pct(0.5), pct(0.99), errors.Load(), len(latencies))
		return
	}
	label := *name
	if label == "" {
		label = u.Path
	}
	fmt.Printf("%-34s %9d %10.0f %9.2f %9.2f %9.2f %9.1f %7d\n", label, len(latencies), float64(len(latencies))/elapsed,
		pct(0.5), pct(0.99), pct(1), float64(bytes.Load())/elapsed/1e6, errors.Load())
}

// randomized replaces every "{rand}" in target with 16 random hex digits.
func randomized(target string) string {
	for strings.Contains(target, "{rand}") {
		var b [8]byte
		_, _ = rand.Read(b[:])
		target = strings.Replace(target, "{rand}", hex.EncodeToString(b[:]), 1)
	}
	return target
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "load: "+format+"\n", args...)
	os.Exit(2)
}

package replicas

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/packyard/packyard/e2e/harness"
)

// BenchmarkReplicaVisibility measures the time from a Composer upload through
// one replica (acknowledged) until each of the two others serves the new
// version in its p2 document, one upload per iteration; it reports the
// median and the 99th percentile over every observation (two a write).
func BenchmarkReplicaVisibility(b *testing.B) {
	c := newCluster(b, harness.Binary(b), 3, 3)
	write, read := seed(b, c)
	var obs []time.Duration
	b.ResetTimer()
	for i := range b.N {
		version := fmt.Sprintf("5.%d.0", i)
		upload(b, c.replicas[i%3].url, write, version, map[string]string{"composer.json": `{"name": "acme/bench"}`})
		start := time.Now()
		for j := 1; j < 3; j++ {
			r := c.replicas[(i+j)%3]
			for {
				status, body := get(b, r.url+"/composer/acme/p2/acme/bench.json", read)
				if status == http.StatusOK && strings.Contains(body, `"`+version+`"`) {
					break
				}
				if time.Since(start) > 10*time.Second {
					b.Fatalf("%s never served %s", r.name, version)
				}
				time.Sleep(time.Millisecond)
			}
			obs = append(obs, time.Since(start))
		}
	}
	b.StopTimer()
	slices.Sort(obs)
	b.ReportMetric(ms(obs[len(obs)/2]), "p50-ms")
	b.ReportMetric(ms(obs[(len(obs)*99)/100]), "p99-ms")
	b.ReportMetric(ms(obs[len(obs)-1]), "max-ms")
}

// BenchmarkReplicaThroughput loads Composer p2 and buf Download through nginx
// with bench/load, once in front of the three replicas and once in front of
// one of them (the same nginx configuration): requests per second and
// latency percentiles. Each iteration is one run of PACKYARD_BENCH_DURATION
// (5s) per row; run it with -benchtime=1x.
func BenchmarkReplicaThroughput(b *testing.B) {
	c := newCluster(b, harness.Binary(b), 3, 3)
	one := startNginx(b, harness.FreePort(b), []string{c.replicas[0].host})
	write, read := seed(b, c)
	load := buildLoad(b)
	duration := os.Getenv("PACKYARD_BENCH_DURATION")
	if duration == "" {
		duration = "5s"
	}
	// A commit to download: a module of 50 files pushed with buf.
	files := map[string]string{"buf.yaml": "version: v1\nname: HOST/acme/big\n"}
	for i := range 50 {
		files[fmt.Sprintf("big/v1/m%d.proto", i)] = fmt.Sprintf("syntax = \"proto3\";\npackage big.v1;\nmessage M%d { string id = 1; repeated string tags = 2; }\n", i)
	}
	bc := harness.Buf(b, c.lb.host, "")
	bc.Token = write
	commit := commitRE.FindString(bc.Run(bc.Workspace(files), "push", "--create"))
	require.NotEmpty(b, commit)
	body := filepath.Join(b.TempDir(), "download.bin")
	req, err := exec.Command("python3", filepath.Join(repoRoot(b), "bench/bufreq/bufreq.py"), "download", commit).Output()
	require.NoError(b, err)
	require.NoError(b, os.WriteFile(body, req, 0o644))

	for _, row := range []struct{ name, path string }{
		{"p2", "/composer/acme/p2/acme/util.json"},
		{"download", "/buf.registry.module.v1.DownloadService/Download"},
	} {
		for _, lb := range []struct {
			name string
			n    *nginx
		}{{"3-replicas", c.lb}, {"1-replica", one}} {
			b.Run(row.name+"/"+lb.name, func(b *testing.B) {
				args := []string{"-raw", "-d", duration, "-c", "32", "-token", read, "-url", lb.n.url + row.path}
				if row.name == "download" {
					args = append(args, "-body", body, "-gzip")
				}
				for range b.N {
					out, err := exec.Command(load, args...).CombinedOutput()
					require.NoError(b, err, "%s", out)
					f := strings.Fields(string(out)) // req/s p50-ms p99-ms errors requests
					require.Len(b, f, 5, "%s", out)
					for i, unit := range []string{"req/s", "p50-ms", "p99-ms", "errors"} {
						v, err := strconv.ParseFloat(f[i], 64)
						require.NoError(b, err)
						b.ReportMetric(v, unit)
					}
				}
			})
		}
	}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func repoRoot(t testing.TB) string {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	require.NoError(t, err)
	return filepath.Dir(strings.TrimSpace(string(out)))
}

// buildLoad builds bench/load, the benchmark harness's load generator.
func buildLoad(t testing.TB) string {
	bin := filepath.Join(t.TempDir(), "load")
	cmd := exec.Command("go", "build", "-o", bin, "./bench/load")
	cmd.Dir = repoRoot(t)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	return bin
}

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

// BenchmarkReplicas starts three replicas behind nginx (and a second nginx
// in front of the first replica alone) and measures, each sub-benchmark
// iteration being one whole measurement (run with -benchtime=1x):
//   - visibility: the time from a Composer upload through one replica
//     (acknowledged) until each of the two others serves the new version in
//     its p2 document, over PACKYARD_BENCH_WRITES (200) uploads through the
//     replicas in turn: median, 99th percentile and maximum;
//   - p2 and download: Composer p2 and buf Download through nginx with
//     bench/load (32 clients, PACKYARD_BENCH_DURATION, 5s), nginx in front of
//     the three replicas and in front of one (the same configuration).
func BenchmarkReplicas(b *testing.B) {
	c := newCluster(b, harness.Binary(b), 3, 3, nil)
	one := startNginx(b, harness.FreePort(b), []string{c.replicas[0].host})
	write, read := seed(b, c)
	writes, err := strconv.Atoi(envOr("PACKYARD_BENCH_WRITES", "200"))
	require.NoError(b, err, "PACKYARD_BENCH_WRITES")
	b.Run("visibility", func(b *testing.B) {
		for n := range b.N {
			obs := visibilityRound(b, c, write, read, n, writes)
			b.ReportMetric(ms(obs[len(obs)/2]), "p50-ms")
			b.ReportMetric(ms(obs[(len(obs)*99)/100]), "p99-ms")
			b.ReportMetric(ms(obs[len(obs)-1]), "max-ms")
		}
	})

	load := buildLoad(b)
	body := downloadRequest(b, c, write)
	for _, row := range []struct{ name, path string }{
		{"p2", "/composer/acme/p2/acme/util.json"},
		{"download", "/buf.registry.module.v1.DownloadService/Download"},
	} {
		for _, lb := range []struct {
			name string
			n    *nginx
		}{{"3-replicas", c.lb}, {"1-replica", one}} {
			b.Run(row.name+"/"+lb.name, func(b *testing.B) {
				args := []string{"-raw", "-d", envOr("PACKYARD_BENCH_DURATION", "5s"), "-c", "32", "-token", read, "-url", lb.n.url + row.path}
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

// visibilityRound uploads writes versions through the replicas in turn and
// returns, sorted, how long each other replica took to serve each one.
func visibilityRound(b *testing.B, c *cluster, write, read string, round, writes int) []time.Duration {
	var obs []time.Duration
	for i := range writes {
		version := fmt.Sprintf("5.%d.%d", round, i)
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
	slices.Sort(obs)
	return obs
}

// downloadRequest pushes a module of 50 files with buf and writes the
// DownloadService/Download request of its commit (bench/bufreq) to a file.
func downloadRequest(b *testing.B, c *cluster, write string) string {
	files := map[string]string{"buf.yaml": "version: v1\nname: HOST/acme/big\n"}
	for i := range 50 {
		files[fmt.Sprintf("big/v1/m%d.proto", i)] = fmt.Sprintf("syntax = \"proto3\";\npackage big.v1;\nmessage M%d { string id = 1; repeated string tags = 2; }\n", i)
	}
	bc := harness.Buf(b, c.lb.host, "")
	bc.Token = write
	commit := commitRE.FindString(bc.Run(bc.Workspace(files), "push", "--create"))
	require.NotEmpty(b, commit)
	req, err := exec.Command("python3", filepath.Join(repoRoot(b), "bench/bufreq/bufreq.py"), "download", commit).Output()
	require.NoError(b, err)
	body := filepath.Join(b.TempDir(), "download.bin")
	require.NoError(b, os.WriteFile(body, req, 0o644))
	return body
}

func envOr(k, d string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return d
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

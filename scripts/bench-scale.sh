#!/usr/bin/env bash
# Cost growth with the size of the store, on SQLite and on PostgreSQL: a
# Composer p2 request in a repository of 10 packages and in one of 100,000
# (5 versions each), and a buf Download of a 100-file module in a registry
# of 10 modules and in one of 10,000. Each pair is seeded once (bulk inserts
# of the rows uploads would leave for Composer, batched pushes for buf) and
# then asked in alternating order, one request of each per round; each row
# prints both medians and large/small, their ratio (the target: at most 1.20).
# The "(miss)" rows of p2 bump both repositories' generations before each
# round, so that every request loads and prepares its document again.
#
# Usage: bash scripts/bench-scale.sh      (or: bash scripts/bench.sh --scale)
set -euo pipefail
cd "$(dirname "$0")/.."
{ # read whole before it runs: an edit of this file during a run cannot change the run
bash scripts/install-deps.sh
export PATH="$(go env GOPATH)/bin:$PATH"

STATE=$(mktemp -d /tmp/packyard-bench-scale-XXXXXX)
cleanup() {
  bash scripts/services.sh stop "$STATE" || true
  rm -rf "$STATE"
}
trap cleanup EXIT INT TERM
eval "$(bash scripts/services.sh start "$STATE")"
export PACKYARD_TEST_REQUIRE_SERVICES=1 PACKYARD_BENCH_100K=1

echo "== Cost growth: latency with a small and a large store, interleaved rounds, medians (load average: $(cut -d' ' -f1-3 /proc/loadavg))"
report() {
  awk '/^Benchmark/ {
         name = $1; sub(/^Benchmark/, "", name); sub(/-[0-9]+$/, "", name)
         for (i = 3; i < NF; i += 2) m[$(i + 1)] = $i
         printf "%-46s %6d rounds   small p50 %9.1f µs   large p50 %9.1f µs   large/small %.2fx\n",
           name, $2, m["small-p50-µs"], m["large-p50-µs"], m["large/small"]
         if ("cold-large/small" in m)
           printf "%-46s %6d rounds   small p50 %9.1f µs   large p50 %9.1f µs   large/small %.2fx\n",
             name " (miss)", 200, m["cold-small-p50-µs"], m["cold-large-p50-µs"], m["cold-large/small"]
         delete m
       }
       /seeded in/ { sub(/^[ \t]+[a-z_]+\.go:[0-9]+: /, ""); print "    " $0 }
       /^(FAIL|--- FAIL|panic)/ { print; failed = 1 }
       END { exit failed }'
}
go test -run '^$' -bench 'BenchmarkP2Scale/.*/packages=100000' -benchtime 3000x -timeout 60m ./ecosystems/composer 2>&1 |
  tee "$STATE/p2.txt" | report
go test -run '^$' -bench 'BenchmarkDownloadScale' -benchtime 500x -timeout 60m ./ecosystems/buf 2>&1 |
  tee "$STATE/download.txt" | report
echo "(load average after: $(cut -d' ' -f1-3 /proc/loadavg))"
exit
}

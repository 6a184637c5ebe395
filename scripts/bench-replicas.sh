#!/usr/bin/env bash
# The three-replica part of the benchmark harness (alone:
# bash scripts/bench.sh --replicas): three packyard replicas over the local
# PostgreSQL, MinIO and Redis behind nginx (e2e/replicas):
#   - time from a Composer upload through one replica until each other
#     replica serves it (median, p99 and max over PACKYARD_BENCH_WRITES
#     uploads, 200 by default, two observations each);
#   - Composer p2 and buf Download through nginx with bench/load, nginx in
#     front of the three replicas and in front of one of them (32 clients,
#     PACKYARD_BENCH_DURATION each, 5s by default).
# Compare the two throughput rows on one machine only: the replicas share its
# cores, so three replicas on a small machine show nginx's cost more than
# any scaling.
#
# Usage: bash scripts/bench-replicas.sh
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
export PATH="$(go env GOPATH)/bin:$PATH:/usr/sbin"

STATE=$(mktemp -d /tmp/packyard-bench-replicas-XXXXXX)
cleanup() {
  bash scripts/services.sh stop "$STATE" || true
  rm -rf "$STATE"
}
trap cleanup EXIT INT TERM
eval "$(bash scripts/services.sh start "$STATE")"
export PACKYARD_TEST_REQUIRE_SERVICES=1

fmt_bench() {
  awk '/^Benchmark/ { sub("-[0-9]+$", "", $1); printf "%-52s", $1; for (i = 3; i < NF; i += 2) printf " %10s %s", $i, $(i + 1); print "" }
       /^(FAIL|--- FAIL|panic)/ { print }'
}
echo "== Three replicas behind nginx: time until a write is served by the others (${PACKYARD_BENCH_WRITES:-200} uploads);"
echo "   Composer p2 and buf Download through nginx in front of three replicas and of one (32 clients, ${PACKYARD_BENCH_DURATION:-5s} a row)"
go test -run '^$' -bench '^BenchmarkReplicas$' -benchtime 1x -count=1 -timeout 30m \
  ./e2e/replicas/ 2>&1 | tee "$STATE/bench.txt" | fmt_bench

#!/usr/bin/env bash
# packyard's benchmark harness (never part of the test run):
#   1. Go benchmarks of the kernel drivers and ecosystem code, against the
#      same local PostgreSQL, MinIO and Redis the tests use;
#   2. HTTP load against a running packyard (embedded defaults) with the
#      bench/load program: requests per second and latency percentiles,
#      then buf pushes and Connect calls (scripts/bench-buf.sh) against this
#      tree and a baseline build of main, with this tree's ratio to it;
#   3. Composer documents side by side with a minimal Go server and nginx
#      (scripts/bench-composer.sh);
#   4. three replicas behind nginx: time until a write on one is served by
#      the others, and throughput against one replica (scripts/bench-replicas.sh).
#
# Cost growth (alone, never part of the whole run): --scale seeds a p2
# repository of 10 packages and one of 100,000, and a buf registry of 10
# modules and one of 10,000, on SQLite and on PostgreSQL, then asks each
# pair in alternating order and prints the median latencies and their ratio.
#
# Usage: bash scripts/bench.sh [go-bench-regexp]     (default: .)
#        bash scripts/bench.sh --composer            (section 3 alone)
#        bash scripts/bench.sh --replicas            (section 4 alone)
#        bash scripts/bench.sh --buf                 (the buf part of section 2 alone)
#        bash scripts/bench.sh --scale               (cost growth with the store's size)
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${1:-}" = --composer ]; then
  exec bash scripts/bench-composer.sh
fi
if [ "${1:-}" = --replicas ]; then
  exec bash scripts/bench-replicas.sh
fi
if [ "${1:-}" = --scale ]; then
  exec bash scripts/bench-scale.sh
fi

# build_base STATE: builds PACKYARD_BENCH_BASE_REF (main by default) into
# STATE/packyard-base, from a copy of that ref's tree.
build_base() {
  local ref=${PACKYARD_BENCH_BASE_REF:-main}
  git rev-parse -q --verify "$ref^{commit}" >/dev/null || return 0
  mkdir -p "$1/base-src"
  git archive "$ref" | tar -x -C "$1/base-src"
  (cd "$1/base-src" && go build -o "$1/packyard-base" ./cmd/packyard)
  rm -rf "$1/base-src"
}

if [ "${1:-}" = --buf ]; then
  STATE=$(mktemp -d /tmp/packyard-bench-buf-XXXXXX)
  trap 'rm -rf "$STATE"' EXIT INT TERM
  go build -o "$STATE/packyard" ./cmd/packyard
  go build -o "$STATE/load" ./bench/load
  build_base "$STATE"
  BASE_BIN=()
  [ -x "$STATE/packyard-base" ] && BASE_BIN=("$STATE/packyard-base")
  bash scripts/bench-buf.sh "$STATE" "$STATE/load" "$STATE/packyard" "${BASE_BIN[@]}"
  exit
fi
bash scripts/install-deps.sh
export PATH="$(go env GOPATH)/bin:$PATH"

STATE=$(mktemp -d /tmp/packyard-bench-XXXXXX)
PID=""
cleanup() {
  [ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null || true
  bash scripts/services.sh stop "$STATE" || true
  rm -rf "$STATE"
}
trap cleanup EXIT INT TERM
eval "$(bash scripts/services.sh start "$STATE")"
export PACKYARD_TEST_REQUIRE_SERVICES=1

echo "== Go benchmarks (ns/op per operation; MB/s where bytes move)"
go test -run "^$" -bench "${1:-.}" -benchmem -benchtime=2s -count=1 \
  ./storage/... ./pkg/... ./ecosystems/... 2>&1 | tee "$STATE/go-bench.txt" | \
  awk '/^pkg:/ { sub("github.com/packyard/packyard/", "", $2); printf "\n[%s]\n", $2 }
       /^Benchmark/ { printf "%-70s %14s %s %s %s\n", $1, $3, $4, $5, $6 }
       /^(FAIL|--- FAIL)/ { print }' ||
  echo "(some Go benchmarks failed; see above)"

echo
echo "== HTTP load against a running packyard (embedded defaults, 16 workers, 5 s each)"
go build -o "$STATE/packyard" ./cmd/packyard
go build -o "$STATE/load" ./bench/load
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
export PACKYARD_HTTP_ADDR="127.0.0.1:$PORT" PACKYARD_DATA_DIR="$STATE/data" PACKYARD_LOG_LEVEL=warn
"$STATE/packyard" serve 2>"$STATE/packyard.log" &
PID=$!
for _ in $(seq 100); do curl -fsS "http://127.0.0.1:$PORT/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
"$STATE/packyard" org create bench >/dev/null
TOKEN=$("$STATE/packyard" token create --org bench --scope read)
BASE="http://127.0.0.1:$PORT"
"$STATE/load" -header
"$STATE/load" -name "healthz (no auth)" -url "$BASE/healthz"
"$STATE/load" -name "whoami (token auth)" -url "$BASE/api/v1/whoami" -token "$TOKEN"

# Composer: one uploaded package (a 1 MiB dist), then its metadata and dist over HTTP with a read token.
WTOKEN=$("$STATE/packyard" token create --org bench --scope write)
mkdir -p "$STATE/pkg/src"
cat >"$STATE/pkg/composer.json" <<'JSON'
{"name": "bench/pkg", "autoload": {"psr-4": {"Bench\\": "src/"}}}
JSON
head -c 1048576 /dev/urandom | base64 >"$STATE/pkg/src/blob.txt"
(cd "$STATE/pkg" && python3 -c 'import shutil; shutil.make_archive("../pkg", "zip", ".")')
curl -fsS --user "token:$WTOKEN" --upload-file "$STATE/pkg.zip" "$BASE/composer/bench/upload?version=1.0.0" >/dev/null
DIST=$(curl -fsS --user "token:$TOKEN" "$BASE/composer/bench/p2/bench/pkg.json" | python3 -c 'import json,sys; print(json.load(sys.stdin)["packages"]["bench/pkg"][0]["dist"]["url"])')
"$STATE/load" -name "composer packages.json" -url "$BASE/composer/bench/packages.json" -token "$TOKEN"
"$STATE/load" -name "composer p2 (cached)" -url "$BASE/composer/bench/p2/bench/pkg.json" -token "$TOKEN"
"$STATE/load" -name "composer p2 304" -url "$BASE/composer/bench/p2/bench/pkg.json" -token "$TOKEN" -if-modified-since now -expect 304
"$STATE/load" -name "composer dist (1 MiB zip)" -url "$DIST" -token "$TOKEN" -c 4

# buf: Connect calls over HTTP against this tree and, in the same run, a build of
# the baseline (PACKYARD_BENCH_BASE_REF, main by default) made in a temporary worktree.
echo
BASE_REF=${PACKYARD_BENCH_BASE_REF:-main}
echo "== buf over HTTP: this tree and $BASE_REF (interleaved rounds, medians; 16 clients)"
build_base "$STATE"
BASE_BIN=()
[ -x "$STATE/packyard-base" ] && BASE_BIN=("$STATE/packyard-base")
bash scripts/bench-buf.sh "$STATE" "$STATE/load" "$STATE/packyard" "${BASE_BIN[@]}"

# /metrics stays bounded: 10,000 requests to random paths (2,000 of each shape) add no series.
echo
echo "== /metrics exposition after 10,000 requests to random paths"
metrics_size() {
  curl -fsS "$BASE/metrics" >"$STATE/metrics.txt"
  printf '%s bytes, %s series' "$(wc -c <"$STATE/metrics.txt")" "$(grep -vc '^#' "$STATE/metrics.txt")"
}
BEFORE=$(metrics_size)
"$STATE/load" -header
for P in "/{rand}/{rand}" "/composer/{rand}/packages.json" "/composer/bench/p2/{rand}/{rand}.json" \
         "/buf.registry.module.v1.ModuleService/{rand}" "/{rand}.v1.Service/Method"; do
  "$STATE/load" -name "random $P" -url "$BASE$P" -token "$TOKEN" -n 2000 -d 60s -expect 0
done
echo "/metrics before: $BEFORE"
echo "/metrics after:  $(metrics_size)"

echo
bash scripts/bench-composer.sh

echo
bash scripts/bench-replicas.sh

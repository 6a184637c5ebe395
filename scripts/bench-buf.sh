#!/usr/bin/env bash
# The buf part of the benchmark harness (run by scripts/bench.sh, which
# builds bench/load; alone: bash scripts/bench.sh --buf): each packyard
# binary given gets a fresh server, and the servers are loaded over HTTP with
# Connect calls in the protobuf encoding (bench/bufreq writes them), in
# interleaved rounds (one server, then the other, for each figure of each
# round), so that a machine loaded by something else slows both alike:
#   - first push of a 1,000-file module, then an identical re-push, with curl;
#   - Download of that module's commit, 16 clients accepting gzip, with the
#     server's largest resident memory while it answers them;
#   - GetCommits by label and GetGraph of a 20-commit chain, 16 clients.
# Each figure is the median of the rounds; with two binaries (this tree's,
# then a baseline's) it is followed by this tree's ratio to the baseline.
#
# Usage: scripts/bench-buf.sh STATE_DIR LOAD_BIN PACKYARD_BIN [BASELINE_BIN]
# Environment: PACKYARD_BENCH_ROUNDS (3), PACKYARD_BENCH_DURATION (3s),
# PACKYARD_BENCH_BUF_STACK: embedded (SQLite + filesystem, the default) or
# postgres (PostgreSQL + MinIO: those of PACKYARD_TEST_PG_URL and
# PACKYARD_TEST_S3_* when set, else started here with scripts/services.sh);
# PACKYARD_BENCH_BUF_ONLY=push measures only the pushes (first and again),
# without the Download, GetCommits and GetGraph loads.
set -euo pipefail
cd "$(dirname "$0")/.."
{ # read whole before it runs
STATE=$1 LOAD=$2
shift 2
REQ="python3 bench/bufreq/bufreq.py"
ROUNDS=${PACKYARD_BENCH_ROUNDS:-3}
DURATION=${PACKYARD_BENCH_DURATION:-3s}
STACK=${PACKYARD_BENCH_BUF_STACK:-embedded}
ONLY=${PACKYARD_BENCH_BUF_ONLY:-}
case "$ONLY" in
  "" | push) ;;
  *) echo "PACKYARD_BENCH_BUF_ONLY=$ONLY: expected push or nothing" >&2; exit 2 ;;
esac
PIDS=()
SERVICES=""
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null || true; done
  [ -z "$SERVICES" ] || bash scripts/services.sh stop "$SERVICES" || true
}
trap cleanup EXIT INT TERM

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

if [ "$STACK" = postgres ] && [ -z "${PACKYARD_TEST_PG_URL:-}" ]; then
  SERVICES="$STATE/buf-services"
  eval "$(bash scripts/services.sh start "$SERVICES")"
fi

# call NAME PROCEDURE BODY_FILE: one Connect call to server NAME, the response to stdout.
call() {
  curl -fsS --user "token:$(cat "$STATE/buf-$1/token")" -H 'Content-Type: application/proto' \
    --data-binary "@$3" "$(cat "$STATE/buf-$1/url")/$2"
}

# push_ms NAME BODY_FILE: the milliseconds of one upload to server NAME.
push_ms() {
  curl -fsS -o /dev/null -w '%{time_total}\n' --user "token:$(cat "$STATE/buf-$1/token")" -H 'Content-Type: application/proto' \
    --data-binary "@$2" "$(cat "$STATE/buf-$1/url")/buf.registry.module.v1.UploadService/Upload" | awk '{ printf "%.0f\n", $1 * 1000 }'
}

# start NAME BIN: starts BIN with its own data (and, on postgres, its own
# database and key prefix), an organization, modules and the request bodies.
start() {
  local name=$1 bin=$2 dir="$STATE/buf-$1" port
  mkdir -p "$dir"
  port=$(free_port)
  local env=(PACKYARD_HTTP_ADDR="127.0.0.1:$port" PACKYARD_DATA_DIR="$dir/data" PACKYARD_LOG_LEVEL=warn)
  if [ "$STACK" = postgres ]; then
    local db="bufbench_${name}_$$"
    psql_cmd "$PACKYARD_TEST_PG_URL" -c "CREATE DATABASE $db" >/dev/null
    env+=(PACKYARD_DATABASE_URL="${PACKYARD_TEST_PG_URL/\/postgres\?//$db?}"
      PACKYARD_S3_ENDPOINT="$PACKYARD_TEST_S3_ENDPOINT" PACKYARD_S3_ACCESS_KEY="$PACKYARD_TEST_S3_ACCESS_KEY"
      PACKYARD_S3_SECRET_KEY="$PACKYARD_TEST_S3_SECRET_KEY" PACKYARD_S3_USE_TLS=false PACKYARD_S3_BUCKET=bufbench
      PACKYARD_S3_PREFIX="$db/")
  fi
  env "${env[@]}" "$bin" serve 2>"$dir/packyard.log" &
  PIDS+=($!)
  echo $! >"$dir/pid"
  echo "http://127.0.0.1:$port" >"$dir/url"
  for _ in $(seq 100); do curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
  env "${env[@]}" "$bin" org create bufbench >/dev/null
  env "${env[@]}" "$bin" token create --org bufbench --scope write >"$dir/token"

  local mods="big" i
  for i in $(seq "$ROUNDS"); do mods="$mods first$i"; done
  for i in $(seq 0 19); do mods="$mods c$i"; done
  # shellcheck disable=SC2086
  $REQ create bufbench $mods >"$dir/create.bin"
  call "$name" buf.registry.module.v1.ModuleService/CreateModules "$dir/create.bin" >/dev/null
  $REQ chain bufbench c 20 >"$dir/chain.bin"
  call "$name" buf.registry.module.v1.UploadService/Upload "$dir/chain.bin" | $REQ commit-id >"$dir/graph-commit"
  for i in $(seq "$ROUNDS"); do $REQ upload bufbench "first$i" 1000 "round $i" >"$dir/first$i.bin"; done
}

# prepare NAME: the module read by the load, and the bodies of the calls.
prepare() {
  local dir="$STATE/buf-$1" commit
  $REQ upload bufbench big 1000 big >"$dir/big.bin"
  commit=$(call "$1" buf.registry.module.v1.UploadService/Upload "$dir/big.bin" | $REQ commit-id)
  $REQ download "$commit" >"$dir/download.bin"
  $REQ commits bufbench big main >"$dir/commits.bin"
  $REQ graph "$(cat "$dir/graph-commit")" >"$dir/graph.bin"
}

# psql_cmd URL ARGS...: psql, as the tests' cluster expects.
psql_cmd() {
  local psql=psql
  command -v psql >/dev/null 2>&1 || psql=/usr/lib/postgresql/15/bin/psql
  "$psql" "$@"
}

# peak_rss PID: samples PID's resident memory until the file $STATE/buf-stop
# appears, then prints the largest (MB).
peak_rss() {
  local peak=0 v
  while [ ! -f "$STATE/buf-stop" ]; do
    v=$(awk '$1=="VmRSS:" { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0)
    [ "${v:-0}" -gt "$peak" ] && peak=$v
    sleep 0.05
  done
  echo $((peak / 1024))
}

SERVERS=(this)
start this "$1"
if [ $# -gt 1 ]; then
  SERVERS+=(baseline)
  start baseline "$2"
fi
results="$STATE/buf-results.txt"
: >"$results"
for i in $(seq "$ROUNDS"); do
  for s in "${SERVERS[@]}"; do echo "$s push_first_ms $(push_ms "$s" "$STATE/buf-$s/first$i.bin")" >>"$results"; done
done
for i in $(seq "$ROUNDS"); do
  for s in "${SERVERS[@]}"; do echo "$s push_again_ms $(push_ms "$s" "$STATE/buf-$s/first1.bin")" >>"$results"; done
done
[ "$ONLY" = push ] || for s in "${SERVERS[@]}"; do prepare "$s"; done
[ "$ONLY" = push ] || for i in $(seq "$ROUNDS"); do
  for proc in DownloadService/Download:download CommitService/GetCommits:commits GraphService/GetGraph:graph; do
    file=${proc#*:}
    for s in "${SERVERS[@]}"; do
      dir="$STATE/buf-$s"
      rm -f "$STATE/buf-stop"
      peak_rss "$(cat "$dir/pid")" >"$dir/rss" &
      sampler=$!
      out=$("$LOAD" -raw -url "$(cat "$dir/url")/buf.registry.module.v1.${proc%:*}" -token "$(cat "$dir/token")" \
        -body "$dir/$file.bin" -gzip -c 16 -d "$DURATION")
      touch "$STATE/buf-stop"
      wait "$sampler"
      read -r rps p50 _ errors _ <<<"$out"
      [ "$errors" = 0 ] || echo "buf $file on $s: $errors errors" >&2
      echo "$s ${file}_rps $rps" >>"$results"
      echo "$s ${file}_p50_ms $p50" >>"$results"
      [ "$file" = download ] && echo "$s download_peak_rss_mb $(cat "$dir/rss")" >>"$results"
    done
  done
done

python3 - "$results" "$STACK" "$ROUNDS" <<'PY'
import statistics, sys
path, stack, rounds = sys.argv[1], sys.argv[2], sys.argv[3]
vals, keys = {}, []
for line in open(path):
    srv, key, v = line.split()
    if key not in keys:
        keys.append(key)
    vals.setdefault((srv, key), []).append(float(v))
print("%-24s %12s %12s %8s   (%s; medians of %s interleaved rounds)" % ("buf", "this", "baseline", "ratio", stack, rounds))
for k in keys:
    t = statistics.median(vals[("this", k)])
    b = vals.get(("baseline", k))
    b = statistics.median(b) if b else None
    r = ""
    if b and t:
        # Higher is better for rates, lower for times and memory: the ratio says how many times better.
        r = "%.2fx" % (t / b if k.endswith("_rps") else b / t)
    fmt = lambda x: "-" if x is None else ("%.2f" % x if k.endswith("_ms") and x < 10 else "%.0f" % x)
    print("%-24s %12s %12s %8s" % (k, fmt(t), fmt(b), r))
PY
exit
}

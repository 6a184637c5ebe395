#!/usr/bin/env bash
# The buf part of the benchmark harness (run by scripts/bench.sh, which
# builds bench/load): for each packyard binary given, a fresh server on the
# embedded defaults is loaded over HTTP with Connect calls in the protobuf
# encoding (bench/bufreq writes them):
#   - push of a 1,000-file module (median of 3 first pushes, then of 3
#     identical re-pushes), with curl;
#   - Download of that module's commit, 16 clients;
#   - GetCommits by label and GetGraph of a 20-commit chain, 16 clients.
# With two binaries (this tree's, then a baseline's), each figure is followed
# by this tree's ratio to the baseline.
#
# Usage: scripts/bench-buf.sh STATE_DIR LOAD_BIN PACKYARD_BIN [BASELINE_BIN]
set -euo pipefail
cd "$(dirname "$0")/.."
STATE=$1 LOAD=$2
shift 2
REQ="python3 bench/bufreq/bufreq.py"
ROUNDS=3

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

# call PROCEDURE BODY_FILE: one Connect call, the response to stdout.
call() {
  curl -fsS --user "token:$TOKEN" -H 'Content-Type: application/proto' --data-binary "@$2" "$BASE/$1"
}

# push_ms BODY_FILE: the milliseconds of one upload.
push_ms() {
  curl -fsS -o /dev/null -w '%{time_total}\n' --user "token:$TOKEN" -H 'Content-Type: application/proto' \
    --data-binary "@$1" "$BASE/buf.registry.module.v1.UploadService/Upload" | awk '{ printf "%.0f\n", $1 * 1000 }'
}

# run_one NAME BIN: starts BIN, prints "NAME key value" lines, stops it.
run_one() {
  local name=$1 bin=$2 dir="$STATE/buf-$1" port pid
  mkdir -p "$dir"
  port=$(free_port)
  BASE="http://127.0.0.1:$port"
  export PACKYARD_HTTP_ADDR="127.0.0.1:$port" PACKYARD_DATA_DIR="$dir/data" PACKYARD_LOG_LEVEL=warn
  "$bin" serve 2>"$dir/packyard.log" &
  pid=$!
  for _ in $(seq 100); do curl -fsS "$BASE/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
  "$bin" org create bufbench >/dev/null
  TOKEN=$("$bin" token create --org bufbench --scope write)

  local mods="big" i
  for i in $(seq $ROUNDS); do mods="$mods first$i"; done
  for i in $(seq 0 19); do mods="$mods c$i"; done
  # shellcheck disable=SC2086
  $REQ create bufbench $mods >"$dir/create.bin"
  call buf.registry.module.v1.ModuleService/CreateModules "$dir/create.bin" >/dev/null
  $REQ chain bufbench c 20 >"$dir/chain.bin"
  local graph_commit
  graph_commit=$(call buf.registry.module.v1.UploadService/Upload "$dir/chain.bin" | $REQ commit-id)

  for i in $(seq $ROUNDS); do
    $REQ upload bufbench "first$i" 1000 "round $i" >"$dir/first$i.bin"
    push_ms "$dir/first$i.bin"
  done | median | sed "s/^/$name push_first_ms /"
  for i in $(seq $ROUNDS); do push_ms "$dir/first1.bin"; done | median | sed "s/^/$name push_again_ms /"

  $REQ upload bufbench big 1000 big >"$dir/big.bin"
  local commit
  commit=$(call buf.registry.module.v1.UploadService/Upload "$dir/big.bin" | $REQ commit-id)
  $REQ download "$commit" >"$dir/download.bin"
  $REQ commits bufbench big main >"$dir/commits.bin"
  $REQ graph "$graph_commit" >"$dir/graph.bin"
  local proc file
  for proc in DownloadService/Download:download CommitService/GetCommits:commits GraphService/GetGraph:graph; do
    file=${proc#*:}
    "$LOAD" -name "$name $file" -url "$BASE/buf.registry.module.v1.${proc%:*}" -token "$TOKEN" \
      -body "$dir/$file.bin" -gzip -d 5s >"$dir/$file.txt"
    awk -v n="$name" -v f="$file" '{ printf "%s %s_rps %.0f\n%s %s_p50_ms %s\n", n, f, $(NF-5), n, f, $(NF-4) }' "$dir/$file.txt"
  done
  kill "$pid"
  wait "$pid" 2>/dev/null || true
}

results="$STATE/buf-results.txt"
: >"$results"
run_one this "$1" >>"$results"
if [ $# -gt 1 ]; then
  run_one baseline "$2" >>"$results"
fi
awk '
  { v[$1 " " $2] = $3; if (!seen[$2]++) keys[++n] = $2 }
  END {
    printf "%-28s %12s %12s %8s\n", "buf (16 clients, 5 s)", "this", "baseline", "ratio"
    for (i = 1; i <= n; i++) {
      k = keys[i]; t = v["this " k]; b = v["baseline " k]
      r = ""
      if (b != "" && b + 0 > 0 && t + 0 > 0) {
        # Higher is better for rates, lower for times: the ratio says how many times better.
        r = (k ~ /_rps$/) ? sprintf("%.2fx", t / b) : sprintf("%.2fx", b / t)
      }
      printf "%-28s %12s %12s %8s\n", k, t, (b == "" ? "-" : b), r
    }
  }' "$results"

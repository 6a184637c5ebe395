#!/usr/bin/env bash
# Composer's read path side by side with its baselines, in one run on one
# machine: packyard (embedded defaults), a minimal Go server (bench/static:
# net/http, the same HTTP Basic check, the same bytes in memory) and nginx
# (the same bytes from disk, auth_basic, gzip_static) answer the same
# documents under the same load (bench/load); each row is the median of
# several interleaved rounds, with packyard's ratio to each baseline.
# Optionally a packyard built from another git ref (PACKYARD_BENCH_BASE_REF,
# e.g. main) is measured in the same rounds. Also prints packyard's resident
# memory, idle and after the load, and times a Composer install of a
# project of 40 dependencies (the real composer client, cold cache) from
# packyard and from the same bytes served statically by nginx.
#
# Usage: bash scripts/bench-composer.sh          (or: bash scripts/bench.sh --composer)
# Environment: PACKYARD_BENCH_ROUNDS (3; 0 skips the documents), PACKYARD_BENCH_DURATION (3s),
# PACKYARD_BENCH_CONNECTIONS (32), PACKYARD_BENCH_BASE_REF (none),
# PACKYARD_BENCH_INSTALL_ROUNDS (3; 0 skips the install).
set -euo pipefail
cd "$(dirname "$0")/.."
{ # read whole before it runs: an edit of this file during a run cannot change the run
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || bash scripts/install-deps.sh
export PATH="$PATH:/usr/sbin"

ROUNDS=${PACKYARD_BENCH_ROUNDS:-3}
DURATION=${PACKYARD_BENCH_DURATION:-3s}
CONNS=${PACKYARD_BENCH_CONNECTIONS:-32}
BASE_REF=${PACKYARD_BENCH_BASE_REF:-}

STATE=$(mktemp -d /tmp/packyard-bench-composer-XXXXXX)
chmod 755 "$STATE" # nginx's workers read the documents
PIDS=()
cleanup() {
  [ -f "$STATE/nginx.pid" ] && kill "$(cat "$STATE/nginx.pid")" 2>/dev/null || true
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null || true; done
  rm -rf "$STATE"
}
trap cleanup EXIT INT TERM
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
rss() { awk -v k="$2:" '$1==k { printf "%.0f MB", $2/1024 }' "/proc/$1/status"; }

echo "== Composer documents: packyard vs a minimal Go server vs nginx ($CONNS connections, $ROUNDS rounds of $DURATION, medians)"
go build -o "$STATE/packyard" ./cmd/packyard
go build -o "$STATE/load" ./bench/load
go build -o "$STATE/static" ./bench/static
SERVERS=(packyard)
if [ -n "$BASE_REF" ]; then
  mkdir -p "$STATE/base-src"
  git archive "$BASE_REF" | tar -x -C "$STATE/base-src"
  (cd "$STATE/base-src" && go build -o "$STATE/packyard-base" ./cmd/packyard)
  SERVERS+=(base)
fi

# start_packyard NAME BINARY: a packyard on the embedded defaults with one
# organization and a package of 20 versions (and a dev branch), a read token in $STATE/NAME.token.
start_packyard() {
  local name=$1 bin=$2 port
  port=$(free_port)
  PACKYARD_HTTP_ADDR="127.0.0.1:$port" PACKYARD_DATA_DIR="$STATE/$name-data" PACKYARD_LOG_LEVEL=warn \
    "$bin" serve 2>"$STATE/$name.log" &
  PIDS+=($!)
  echo $! >"$STATE/$name.pid"
  echo "http://127.0.0.1:$port" >"$STATE/$name.url"
  for _ in $(seq 100); do curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
  local cli=(env PACKYARD_DATA_DIR="$STATE/$name-data" PACKYARD_LOG_LEVEL=warn "$bin")
  "${cli[@]}" org create bench >/dev/null
  "${cli[@]}" token create --org bench --scope read >"$STATE/$name.token"
  local wtoken
  wtoken=$("${cli[@]}" token create --org bench --scope write)
  for v in $(seq 0 19) dev-main; do
    [ "$v" = dev-main ] || v="1.$v.0"
    curl -fsS --user "token:$wtoken" --upload-file "$STATE/pkg.zip" "http://127.0.0.1:$port/composer/bench/upload?version=$v" >/dev/null
  done
}

mkdir -p "$STATE/pkg/src"
cat >"$STATE/pkg/composer.json" <<'JSON'
{"name": "bench/pkg", "description": "A package of the benchmark", "license": "MIT",
 "require": {"php": ">=8.1", "psr/log": "^3.0"}, "autoload": {"psr-4": {"Bench\\": "src/"}}}
JSON
echo '<?php namespace Bench; final class Pkg {}' >"$STATE/pkg/src/Pkg.php"
(cd "$STATE/pkg" && python3 -c 'import shutil; shutil.make_archive("../pkg", "zip", ".")')
start_packyard packyard "$STATE/packyard"
[ -n "$BASE_REF" ] && start_packyard base "$STATE/packyard-base"
TOKEN=$(cat "$STATE/packyard.token")
URL=$(cat "$STATE/packyard.url")

# The same bytes for the baselines, as packyard answers them.
DOCS=(packages.json p2/bench/pkg.json "p2/bench/pkg~dev.json")
for d in "${DOCS[@]}"; do
  mkdir -p "$(dirname "$STATE/www/composer/bench/$d")"
  curl -fsS --user "token:$TOKEN" "$URL/composer/bench/$d" -o "$STATE/www/composer/bench/$d"
  gzip -9 -k "$STATE/www/composer/bench/$d"
done
chmod -R a+rX "$STATE/www"
printf 'token:{PLAIN}%s\n' "$TOKEN" >"$STATE/htpasswd"
chmod 644 "$STATE/htpasswd"

SPORT=$(free_port)
"$STATE/static" -addr "127.0.0.1:$SPORT" -dir "$STATE/www" -password "$TOKEN" >/dev/null &
PIDS+=($!)
echo $! >"$STATE/go.pid"
echo "http://127.0.0.1:$SPORT" >"$STATE/go.url"

NPORT=$(free_port)
mkdir -p "$STATE/nginx-tmp"
cat >"$STATE/nginx.conf" <<EOF
worker_processes 2;
pid $STATE/nginx.pid;
error_log $STATE/nginx-error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 1000000;
  types { application/json json; }
  default_type application/octet-stream;
  client_body_temp_path $STATE/nginx-tmp/body;
  proxy_temp_path $STATE/nginx-tmp/proxy;
  fastcgi_temp_path $STATE/nginx-tmp/fastcgi;
  uwsgi_temp_path $STATE/nginx-tmp/uwsgi;
  scgi_temp_path $STATE/nginx-tmp/scgi;
  server {
    listen 127.0.0.1:$NPORT;
    root $STATE/www;
    auth_basic "bench";
    auth_basic_user_file $STATE/htpasswd;
    if_modified_since before;
    gzip_static on;
  }
}
EOF
nginx -c "$STATE/nginx.conf" -e "$STATE/nginx-error.log"
echo "http://127.0.0.1:$NPORT" >"$STATE/nginx.url"
for _ in $(seq 50); do curl -fsS --user "token:$TOKEN" "http://127.0.0.1:$NPORT/composer/bench/packages.json" >/dev/null 2>&1 && break; sleep 0.1; done

IDLE_RSS=$(rss "$(cat "$STATE/packyard.pid")" VmRSS)

# One row: name, document, then load flags; %ETAG% is the server's own ETag of the document.
ROWS=(
  "packages.json|packages.json|"
  "p2|p2/bench/pkg.json|"
  "p2 ~dev|p2/bench/pkg~dev.json|"
  "p2 gzip|p2/bench/pkg.json|-gzip"
  "p2 304 If-Modified-Since|p2/bench/pkg.json|-if-modified-since now -expect 304"
  "p2 304 If-None-Match|p2/bench/pkg.json|-if-none-match %ETAG% -expect 304"
)
ALL=("${SERVERS[@]}" go nginx)
# cpu_ticks SERVER: the CPU time (user + system, in clock ticks) a server's
# processes have used: what a request costs, whatever else the machine runs.
cpu_ticks() {
  local pids t=0 p
  if [ "$1" = nginx ]; then pids="$(cat "$STATE/nginx.pid") $(pgrep -P "$(cat "$STATE/nginx.pid")" | tr '\n' ' ')"; else pids=$(cat "$STATE/$1.pid"); fi
  for p in $pids; do t=$((t + $(awk '{ print $14 + $15 }' "/proc/$p/stat"))); done
  echo "$t"
}
TICK_US=$((1000000 / $(getconf CLK_TCK)))
etag_of() { curl -fsS -o /dev/null -D - --user "token:$2" "$1" | awk 'tolower($1)=="etag:" { sub(/\r$/, "", $2); print $2 }'; }
: >"$STATE/results"
for round in $(seq "$ROUNDS"); do
  for row in "${ROWS[@]}"; do
    IFS='|' read -r name doc flags <<<"$row"
    for srv in "${ALL[@]}"; do
      tok=$TOKEN
      [ -f "$STATE/$srv.token" ] && tok=$(cat "$STATE/$srv.token")
      u="$(cat "$STATE/$srv.url")/composer/bench/$doc"
      f=$flags
      if [[ "$f" == *%ETAG%* ]]; then
        etag=$(etag_of "$u" "$tok")
        if [ -z "$etag" ]; then # this server sends no ETag
          echo "$name|$srv|n/a" >>"$STATE/results"
          continue
        fi
        f=${f//%ETAG%/$etag}
      fi
      c0=$(cpu_ticks "$srv")
      # shellcheck disable=SC2086
      out=$("$STATE/load" -raw -url "$u" -token "$tok" -c "$CONNS" -d "$DURATION" $f)
      c1=$(cpu_ticks "$srv")
      echo "$name|$srv|$out $(((c1 - c0) * TICK_US))" >>"$STATE/results"
    done
  done
done
LOAD_RSS=$(rss "$(cat "$STATE/packyard.pid")" VmHWM)

python3 - "$STATE/results" "${ALL[@]}" <<'PY'
import statistics, sys
path, servers = sys.argv[1], sys.argv[2:]
rows, order = {}, []
for line in open(path):
    name, srv, vals = line.rstrip("\n").split("|")
    if name not in order:
        order.append(name)
    rows.setdefault((name, srv), []).append(None if vals == "n/a" else [float(x) for x in vals.split()])
def med(xs, i):
    xs = [x[i] for x in xs if x is not None]
    return statistics.median(xs) if xs else None
# CPU per request: the server's CPU time over the requests it answered.
for xs in rows.values():
    for x in xs:
        if x is not None:
            x.append(x[5] / x[4] if x[4] else 0)
ratios = [s for s in servers if s != "packyard"]
print("%-26s %-9s %10s %8s %8s %7s %9s" % ("document", "server", "req/s", "p50 ms", "p99 ms", "errors", "CPU µs/req") +
      "".join(" %13s" % ("vs " + s) for s in ratios))
def ratio(name, s, i, inverse):
    a, b = med(rows.get((name, "packyard"), []), i), med(rows.get((name, s), []), i)
    if not a or not b:
        return "n/a"
    return "%.2fx" % (b / a if inverse else a / b)
for name in order:
    for srv in servers:
        xs = rows.get((name, srv), [])
        rps = med(xs, 0)
        if rps is None:
            print("%-26s %-9s %10s" % (name, srv, "n/a"))
            continue
        line = "%-26s %-9s %10.0f %8.2f %8.2f %7.0f %9.0f" % (name, srv, rps, med(xs, 1), med(xs, 2), sum(x[3] for x in xs if x), med(xs, 6))
        if srv == "packyard":
            line += "".join(" %13s" % (ratio(name, s, 0, False) + "/" + ratio(name, s, 6, True)) for s in ratios)
        print(line)
print("vs X: packyard's req/s over X's / X's CPU per request over packyard's (both 1.00x at parity, higher is better for packyard)")
PY
echo "packyard resident memory: idle $IDLE_RSS, peak under the load $LOAD_RSS"

INSTALL_ROUNDS=${PACKYARD_BENCH_INSTALL_ROUNDS:-3}
[ "$INSTALL_ROUNDS" -gt 0 ] || exit 0
echo
echo "== composer install of 40 dependencies, cold cache: packyard vs nginx serving the same bytes ($INSTALL_ROUNDS rounds, medians)"
# 40 packages in packyard, each of 3 versions with a few files.
WTOKEN=$(PACKYARD_DATA_DIR="$STATE/packyard-data" PACKYARD_LOG_LEVEL=warn "$STATE/packyard" token create --org bench --scope write)
python3 - "$STATE" <<'PY'
import json, os, sys, zipfile
state = sys.argv[1]
for i in range(1, 41):
    manifest = {"name": "deps/p%02d" % i, "description": "dependency %d" % i, "license": "MIT",
                "autoload": {"psr-4": {"Deps\\P%02d\\" % i: "src/"}}}
    for v in ("1.0.0", "1.1.0", "1.2.0"):
        with zipfile.ZipFile(os.path.join(state, "dep%02d-%s.zip" % (i, v)), "w", zipfile.ZIP_DEFLATED) as z:
            z.writestr("composer.json", json.dumps(manifest, indent=2))
            for c in "ABCDE":
                z.writestr("src/%s.php" % c, "<?php\nnamespace Deps\\P%02d;\n\nfinal class %s\n{\n    public const V = '%s';\n}\n" % (i, c, v))
PY
REQUIRE=""
for i in $(seq -w 1 40); do
  for v in 1.0.0 1.1.0 1.2.0; do
    curl -fsS --user "token:$WTOKEN" --upload-file "$STATE/dep$i-$v.zip" "$URL/composer/bench/upload?version=$v" >/dev/null
  done
  REQUIRE+="\"deps/p$i\": \"^1.0\","
done
# The same bytes for nginx: the documents as packyard answers a client that
# reaches it at nginx's address (their links lead there), and the archives.
NURL=$(cat "$STATE/nginx.url")
fetch_as_nginx() {
  mkdir -p "$(dirname "$STATE/www$1")"
  curl -fsS --user "token:$TOKEN" -H "Host: ${NURL#http://}" "$URL$1" -o "$STATE/www$1"
}
fetch_as_nginx /composer/bench/packages.json
for i in $(seq -w 1 40); do
  for doc in "deps/p$i.json" "deps/p$i~dev.json"; do
    fetch_as_nginx "/composer/bench/p2/$doc"
    gzip -9 -k -f "$STATE/www/composer/bench/p2/$doc"
  done
  # Minified: a version repeats no key that did not change.
  python3 -c 'import json,sys; print("\n".join(sorted({v["dist"]["url"] for v in json.load(open(sys.argv[1]))["packages"][sys.argv[2]] if "dist" in v})))' \
    "$STATE/www/composer/bench/p2/deps/p$i.json" "deps/p$i" | while read -r dist; do fetch_as_nginx "${dist#"$NURL"}"; done
done
gzip -9 -k -f "$STATE/www/composer/bench/packages.json"
chmod -R a+rX "$STATE/www"

# install SERVER: seconds of one cold install from it.
install() {
  local dir="$STATE/install-$1" url
  url=$(cat "$STATE/$1.url")
  rm -rf "$dir" && mkdir -p "$dir/home" "$dir/cache" "$dir/project"
  cat >"$dir/project/composer.json" <<JSON
{"name": "bench/app", "require": {${REQUIRE%,}},
 "repositories": [{"type": "composer", "url": "$url/composer/bench"}, {"packagist": false}],
 "config": {"secure-http": false}}
JSON
  local t0=$EPOCHREALTIME
  (cd "$dir/project" && COMPOSER_HOME="$dir/home" COMPOSER_CACHE_DIR="$dir/cache" COMPOSER_ALLOW_SUPERUSER=1 COMPOSER_NO_INTERACTION=1 \
    COMPOSER_AUTH="{\"http-basic\": {\"${url#http://}\": {\"username\": \"token\", \"password\": \"$TOKEN\"}}}" \
    composer install --no-progress --quiet >"$dir/out.txt" 2>&1) || { echo "composer install from $1 failed:" >&2; cat "$dir/out.txt" >&2; exit 1; }
  local t1=$EPOCHREALTIME
  [ "$(find "$dir/project/vendor/deps" -name '*.php' | wc -l)" -eq 200 ] || { echo "install from $1: not every file installed" >&2; exit 1; }
  awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }'
}
: >"$STATE/install"
# Rounds alternate which server goes first; packyard's /metrics before and
# after tell what it spent serving each kind of request.
curl -fsS "$URL/metrics" >"$STATE/metrics-before"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
for round in $(seq "$INSTALL_ROUNDS"); do
  order=(packyard nginx)
  [ $((round % 2)) -eq 0 ] && order=(nginx packyard)
  for srv in "${order[@]}"; do echo "$round $srv $(install "$srv")" >>"$STATE/install"; done
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
curl -fsS "$URL/metrics" >"$STATE/metrics-after"
python3 - "$STATE/install" "$STATE/metrics-before" "$STATE/metrics-after" "$INSTALL_ROUNDS" <<'PY'
import re, statistics, sys
t, rounds = {}, {}
for line in open(sys.argv[1]):
    r, srv, s = line.split()
    t.setdefault(srv, []).append(float(s))
    rounds.setdefault(r, {})[srv] = float(s)
for srv, xs in t.items():
    print("%-9s median %.2f s  (rounds: %s)" % (srv, statistics.median(xs), ", ".join("%.2f" % x for x in xs)))
paired = [v["packyard"] / v["nginx"] for v in rounds.values()]
print("packyard/nginx time: %.2fx (ratio of the medians); median of the rounds' ratios %.2fx" %
      (statistics.median(t["packyard"]) / statistics.median(t["nginx"]), statistics.median(paired)))
def series(path):
    out = {}
    for line in open(path):
        m = re.match(r'packyard_http_request_duration_seconds_(sum|count)\{(.*)\} (\S+)$', line)
        if m:
            labels = dict(re.findall(r'(\w+)="([^"]*)"', m.group(2)))
            key = (labels.get("method", ""), labels.get("route", ""))
            out.setdefault(key, {})[m.group(1)] = float(m.group(3))
    return out
before, after, n = series(sys.argv[2]), series(sys.argv[3]), int(sys.argv[4])
print("packyard's own time per install, by route (from /metrics):")
for key in sorted(after):
    c = after[key].get("count", 0) - before.get(key, {}).get("count", 0)
    s = after[key].get("sum", 0) - before.get(key, {}).get("sum", 0)
    if c > 0:
        print("  %-6s %-50s %6.1f requests %8.1f ms  (%.2f ms each)" % (key[0], key[1], c / n, 1000 * s / n, 1000 * s / c))
PY
exit
}

#!/usr/bin/env bash
# Starts PostgreSQL, Redis and MinIO as local processes on 127.0.0.1 for
# packyard's tests, in one state directory, and stops them again.
#
#   scripts/services.sh start DIR   # prints the PACKYARD_TEST_* exports to eval
#   scripts/services.sh stop DIR    # stops what start started (by process id)
#
# Ports are chosen free at start. Nothing is left running after stop.
set -euo pipefail

PG_BIN=/usr/lib/postgresql/15/bin
cmd=${1:?usage: services.sh start|stop DIR}
DIR=${2:?usage: services.sh start|stop DIR}
export PATH="$(go env GOPATH)/bin:$PATH"

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

as_postgres() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

stop() {
  if [ -f "$DIR/minio.pid" ]; then
    pid=$(cat "$DIR/minio.pid")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
    rm -f "$DIR/minio.pid"
  fi
  if [ -f "$DIR/redis.pid" ]; then
    pid=$(cat "$DIR/redis.pid")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    rm -f "$DIR/redis.pid"
  fi
  if [ -f "$DIR/pg/postmaster.pid" ]; then
    as_postgres "$PG_BIN/pg_ctl" -D "$DIR/pg" -m immediate stop >/dev/null 2>&1 || true
  fi
}

start() {
  mkdir -p "$DIR"
  chmod 755 "$DIR"
  [ "$(id -u)" = 0 ] && chown postgres: "$DIR"
  local pg_port redis_port minio_port console_port
  pg_port=$(free_port); redis_port=$(free_port); minio_port=$(free_port); console_port=$(free_port)

  # PostgreSQL: a throwaway cluster, trust auth on loopback only.
  if [ ! -d "$DIR/pg" ]; then
    as_postgres "$PG_BIN/initdb" -D "$DIR/pg" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 --no-sync >"$DIR/initdb.log" 2>&1
  fi
  as_postgres "$PG_BIN/pg_ctl" -D "$DIR/pg" -l "$DIR/pg.log" -w -t 60 start \
    -o "-c listen_addresses=127.0.0.1 -p $pg_port -k $DIR -c fsync=off -c max_connections=300" >/dev/null

  # Redis: no persistence.
  redis-server --bind 127.0.0.1 --port "$redis_port" --save '' --appendonly no \
    --daemonize yes --pidfile "$DIR/redis.pid" --logfile "$DIR/redis.log" --dir "$DIR"

  # MinIO.
  mkdir -p "$DIR/minio"
  MINIO_ROOT_USER=packyard MINIO_ROOT_PASSWORD=packyard-secret MINIO_BROWSER=off \
    nohup minio server "$DIR/minio" --quiet --address "127.0.0.1:$minio_port" \
    --console-address "127.0.0.1:$console_port" >"$DIR/minio.log" 2>&1 &
  echo $! >"$DIR/minio.pid"

  for _ in $(seq 300); do
    curl -fsS "http://127.0.0.1:$minio_port/minio/health/ready" >/dev/null 2>&1 && break
    sleep 0.1
  done
  curl -fsS "http://127.0.0.1:$minio_port/minio/health/ready" >/dev/null || { echo "MinIO did not start; see $DIR/minio.log" >&2; exit 1; }
  for _ in $(seq 100); do redis-cli -p "$redis_port" ping >/dev/null 2>&1 && break; sleep 0.05; done
  redis-cli -p "$redis_port" ping >/dev/null || { echo "Redis did not start; see $DIR/redis.log" >&2; exit 1; }

  cat <<ENV
export PACKYARD_TEST_PG_URL='postgres://postgres@127.0.0.1:$pg_port/postgres?sslmode=disable'
export PACKYARD_TEST_REDIS_URL='redis://127.0.0.1:$redis_port/0'
export PACKYARD_TEST_S3_ENDPOINT='127.0.0.1:$minio_port'
export PACKYARD_TEST_S3_ACCESS_KEY='packyard'
export PACKYARD_TEST_S3_SECRET_KEY='packyard-secret'
ENV
}

case "$cmd" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: services.sh start|stop DIR" >&2; exit 2 ;;
esac

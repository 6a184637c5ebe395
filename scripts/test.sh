#!/usr/bin/env bash
# Runs packyard's whole test suite on a Debian 12 machine that has Go:
# installs what the tests need (scripts/install-deps.sh: PHP + Composer,
# Redis, PostgreSQL, MinIO, buf, Helm), starts PostgreSQL, Redis and MinIO
# as local processes on 127.0.0.1, runs `go test -race ./...` against them
# and the real composer and buf clients, and stops the services again.
# Services that are missing make the tests fail, never skip.
#
# Then, for the whole suite (or when FUZZTIME is set), it runs every Go fuzz
# target for FUZZTIME (6s) each: scripts/fuzz.sh.
#
# Usage: bash scripts/test.sh [go test flags and packages]   (default: ./...)
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh
export PATH="$(go env GOPATH)/bin:$PATH"

STATE=$(mktemp -d /tmp/packyard-test-XXXXXX)
cleanup() {
  bash scripts/services.sh stop "$STATE" || true
  rm -rf "$STATE"
}
trap cleanup EXIT INT TERM
eval "$(bash scripts/services.sh start "$STATE")"
export PACKYARD_TEST_REQUIRE_SERVICES=1

fuzz=${FUZZTIME:+1}
if [ $# -eq 0 ]; then set -- ./...; fuzz=1; fi
go vet ./...
go test -race -count=1 -timeout 60m "$@"
if [ -n "$fuzz" ]; then bash scripts/fuzz.sh; fi

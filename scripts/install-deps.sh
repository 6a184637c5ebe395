#!/usr/bin/env bash
# Installs everything packyard's test suite needs on a Debian 12 machine that has Go:
# PHP + Composer, Redis, PostgreSQL 15, MinIO, the buf CLI, Helm, nginx (benchmarks) and Chromium
# (the web UI's browser tests drive it headless).
# Idempotent: each step checks what is installed first, so a second run takes seconds.
set -euo pipefail

export PATH="$(go env GOPATH)/bin:$PATH"

BUF_VERSION=1.75.0
HELM_VERSION=v4.3.1
MINIO_VERSION=v0.0.0-20260212201848-7aac2a2c5b7c

need_apt=()
command -v composer >/dev/null 2>&1 || need_apt+=(php-cli composer php-zip php-curl unzip)
php_modules=$(php -m 2>/dev/null || true)   # read whole: grep -q would cut the pipe under pipefail
grep -qix zip <<<"$php_modules" || need_apt+=(php-zip)
grep -qix curl <<<"$php_modules" || need_apt+=(php-curl)
command -v unzip >/dev/null 2>&1 || need_apt+=(unzip)
command -v redis-server >/dev/null 2>&1 || need_apt+=(redis-server)
[ -x /usr/lib/postgresql/15/bin/initdb ] || need_apt+=(postgresql-15)
command -v git >/dev/null 2>&1 || need_apt+=(git)
command -v curl >/dev/null 2>&1 || need_apt+=(curl)
command -v python3 >/dev/null 2>&1 || need_apt+=(python3)
command -v runuser >/dev/null 2>&1 || need_apt+=(util-linux)
[ -x /usr/sbin/nginx ] || need_apt+=(nginx) # the load balancer of e2e/replicas and the benchmarks' static baseline
[ -x /usr/bin/chromium ] || need_apt+=(chromium) # the web UI's browser tests (e2e/harness/browser.go)

if [ ${#need_apt[@]} -gt 0 ]; then
  echo "install-deps: apt-get install ${need_apt[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

pids=()
if [ "$(buf --version 2>/dev/null)" != "$BUF_VERSION" ]; then
  echo "install-deps: go install buf@v$BUF_VERSION" >&2
  go install "github.com/bufbuild/buf/cmd/buf@v$BUF_VERSION" & pids+=($!)
fi
if [[ "$(helm version --template '{{.Version}}' 2>/dev/null)" != v4.3* ]]; then
  echo "install-deps: go install helm@$HELM_VERSION" >&2
  go install "helm.sh/helm/v4/cmd/helm@$HELM_VERSION" & pids+=($!)
fi
if ! command -v minio >/dev/null 2>&1; then
  echo "install-deps: go install minio@$MINIO_VERSION" >&2
  go install "github.com/minio/minio@$MINIO_VERSION" & pids+=($!)
fi
for p in "${pids[@]}"; do wait "$p"; done
echo "install-deps: ready" >&2

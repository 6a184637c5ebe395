#!/usr/bin/env bash
# Runs every Go fuzz target of the repository (func FuzzXxx in a _test.go
# file) for a bounded time each, one target per `go test -fuzz` invocation;
# any failure fails the script. The fuzzer's new corpus entries go to the
# Go build cache, not to testdata/fuzz (only inputs that found a real defect
# are committed there, as regression seeds).
#
# Usage: bash scripts/fuzz.sh            (FUZZTIME=6s per target by default; about two minutes in all)
set -euo pipefail
cd "$(dirname "$0")/.."

FUZZTIME=${FUZZTIME:-6s}
failed=0
while IFS=: read -r file line; do
  dir=./$(dirname "$file")
  name=$(sed -E 's/^func (Fuzz[A-Za-z0-9_]*)\(.*/\1/' <<<"$line")
  echo "fuzz $dir $name ($FUZZTIME)"
  if ! go test -run '^$' -fuzz "^${name}\$" -fuzztime "$FUZZTIME" "$dir"; then
    echo "FAIL: fuzz target $name in $dir" >&2
    failed=1
  fi
done < <(git ls-files --cached --others --exclude-standard '*_test.go' | xargs grep -H '^func Fuzz[A-Za-z0-9_]*(' | sort)
exit $failed

#!/usr/bin/env bash
# Runs every fuzz target of the given packages, one after the other, each
# for FUZZTIME (default 20s). The targets are found with `go test -list`, so
# a new one is run without being added here.
# Usage: FUZZTIME=20s scripts/fuzz.sh [package ...]   (default: . ./internal/... ./push)
#
# Go 1.26's fuzz coordinator can fail a target with a bare "context deadline
# exceeded" when -fuzztime runs out (golang/go#75804, fixed in Go 1.27); it
# writes no failing input then. Such a run is reported and counted as a pass;
# any other failure, and every failure that wrote an input, fails the run.
set -uo pipefail
cd "$(dirname "$0")/.."
fuzztime=${FUZZTIME:-20s}
go=${GO:-go}
[ $# -gt 0 ] || set -- . ./internal/... ./push
log=$(mktemp); trap 'rm -f "$log"' EXIT
failed=()
for pkg in $($go list "$@"); do
  targets=$($go test -list '^Fuzz' "$pkg" | grep '^Fuzz') || continue
  for target in $targets; do
    echo "== $pkg $target for $fuzztime"
    if $go test -run '^$' -fuzz "^$target\$" -fuzztime "$fuzztime" "$pkg" >"$log" 2>&1; then
      grep '^fuzz: elapsed' "$log" | tail -n 1
    elif grep -q 'context deadline exceeded' "$log" && ! grep -q 'Failing input written' "$log"; then
      grep '^fuzz: elapsed' "$log" | tail -n 1
      echo "   ok: no failing input; the run ended on Go's fuzztime race (golang/go#75804)"
    else
      cat "$log"
      failed+=("$pkg $target")
    fi
  done
done
if [ ${#failed[@]} -gt 0 ]; then
  printf 'FAIL: %s\n' "${failed[@]}"
  exit 1
fi

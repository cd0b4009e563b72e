#!/usr/bin/env bash
# Runs push's BenchmarkDelivery (Engage → the event read from a stream over
# loopback, 5,000 idle streams beside it) on an earlier revision and on the
# working tree, alternately, so that both see the same machine: ROUNDS
# rounds, each running the two back to back, at GOMAXPROCS 1 and 2. Prints
# every run's p50 and p99 and, per GOMAXPROCS, the medians over the rounds
# and the working tree's p50 as a share of the revision's.
#
# With two Ps the benchmark's reader and the broker's writer share one Go
# scheduler, and an engage's latency falls in one of two modes (the writer
# and the woken reader on one thread, or on two), about half in each: the
# p50 sits between the modes and moves by the width of the gap when their
# shares change by a point. At GOMAXPROCS 1 there is one mode, and the p50
# compares the code.
#
# A revision whose benchmark reports whole microseconds is made to report
# nanoseconds, as the working tree's does; nothing else of it changes.
# Usage: scripts/delivery-compare.sh [revision] [rounds] [benchtime]
set -euo pipefail
cd "$(dirname "$0")/.."
rev=${1:-fbf0183}; rounds=${2:-5}; benchtime=${3:-2s}
tmp=$(mktemp -d)
trap 'git worktree remove --force "$tmp/old" >/dev/null 2>&1 || true; rm -rf "$tmp"' EXIT
git worktree add --detach "$tmp/old" "$rev" >/dev/null 2>&1
sed -i 's|float64(lat\[\(.*\)\]\.Microseconds())|float64(lat[\1])/1e3|' "$tmp/old/push/bench_test.go"
(cd "$tmp/old" && go test -c -o "$tmp/old.test" ./push)
go test -c -o "$tmp/new.test" ./push
run() { # binary cpus → "p50 p99"
  "$1" -test.run '^$' -test.bench 'Delivery$' -test.benchtime "$benchtime" -test.cpu "$2" |
    awk '/^BenchmarkDelivery/ { for (i = 1; i <= NF; i++) { if ($i == "p50-µs") p50 = $(i-1); if ($i == "p99-µs") p99 = $(i-1) } print p50, p99 }'
}
median() { sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
for cpus in 1 2; do
  : >"$tmp/old.txt"; : >"$tmp/new.txt"
  for i in $(seq "$rounds"); do
    o=$(run "$tmp/old.test" "$cpus"); n=$(run "$tmp/new.test" "$cpus")
    echo "$o" >>"$tmp/old.txt"; echo "$n" >>"$tmp/new.txt"
    echo "GOMAXPROCS=$cpus round $i  $rev: p50 ${o% *} µs p99 ${o#* } µs   working tree: p50 ${n% *} µs p99 ${n#* } µs"
  done
  o50=$(cut -d' ' -f1 "$tmp/old.txt" | median); o99=$(cut -d' ' -f2 "$tmp/old.txt" | median)
  n50=$(cut -d' ' -f1 "$tmp/new.txt" | median); n99=$(cut -d' ' -f2 "$tmp/new.txt" | median)
  echo "GOMAXPROCS=$cpus medians  $rev: p50 $o50 µs p99 $o99 µs   working tree: p50 $n50 µs p99 $n99 µs   (p50 $(awk -v a="$n50" -v b="$o50" 'BEGIN {printf "%.0f", 100 * a / b}')% of $rev's)"
done

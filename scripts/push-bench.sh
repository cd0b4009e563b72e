#!/usr/bin/env bash
# Measures the broker's streams over loopback, each server in a child
# process beside a bare net/http streaming handler measured the same way:
#   memory    memory per idle stream over HTTP/1.1, TLS HTTP/1.1 and HTTP/2
#   cpu       idle CPU and wakeups with 5,000 and 15,000 streams and 3,000
#             over TLS, heartbeats 15 s and off: PUSH_BENCH_ROUNDS rounds
#             (default 3) of each kind, alternating, PUSH_BENCH_WINDOW
#             seconds each (default 60), and their medians: about 45 minutes
#   delivery  Engage to event p50/p99 with 5,000 idle streams beside it
#   storm     a deploy under 15,000 streams (PUSH_BENCH_STORM): the old broker
#             shuts down, browsers honour its retry and reopen: time until all
#             have their invitations again, engage latency at a client of its
#             own; retry=fixed (no spreading) is the baseline. PUSH_BENCH_PIN=1
#             pins the server to CPU 1, the clients to CPU 0 (needs root)
#   free      time from a client going away to its stream being freed, for
#             each way it can go (upper bounds: the test polls every ~1 ms)
# Each process holds one end of each stream: it needs 20,000 open files.
# Usage: scripts/push-bench.sh [memory|cpu|delivery|storm|free]...  (default: all)
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(ulimit -n)" -lt 20000 ]; then
  ulimit -n 20000 2>/dev/null || { echo "needs 20,000 open files per process (ulimit -n 20000)" >&2; exit 1; }
fi
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
go test -c -o "$tmp/push.test" ./push
bench() { (cd "$tmp" && ./push.test -test.run '^$' -test.bench "$1" -test.benchtime "$2") | grep -E '^(Benchmark|FAIL|---)'; }
for what in "${@:-memory cpu delivery storm free}"; do
  for w in $what; do
    echo "== $w"
    case $w in
      memory) bench IdleSubscriberMemory 1x ;;
      cpu) bench IdleCPU 1x ;;
      delivery) bench Delivery 3s ;;
      storm) bench ReconnectStorm 1x ;;
      free) (cd "$tmp" && ./push.test -test.run 'TestVanishedClientIsFreedAtOnce' -test.v) | grep -E 'freed after|^(--- FAIL|FAIL|ok|PASS)' | sed 's/^ *free_test.go:[0-9]*: //' ;;
      *) echo "unknown: $w" >&2; exit 2 ;;
    esac
  done
done

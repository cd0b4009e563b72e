#!/usr/bin/env bash
# Loads the gateway handler and a bare handler on loopback with wrk, in one
# run, in rounds that measure the two back to back so that both see the same
# machine. Prints each round's requests per second and the gateway's share
# of the bare figure, then the median share over the rounds (robust to the
# machine's load drifting between rounds) and the share of the totals.
# Usage: scripts/loopback-bench.sh [seconds-per-round] [rounds]
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-10}; rounds=${2:-3}
command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install -y wrk)" >&2; exit 1; }
tmp=$(mktemp -d); trap 'kill $pid 2>/dev/null; rm -rf "$tmp"' EXIT
go build -o "$tmp/loadserver" ./internal/loadserver
"$tmp/loadserver" -bare 127.0.0.1:18081 -gateway 127.0.0.1:18082 & pid=$!
for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/18082) 2>/dev/null && break; sleep 0.1; done
# The same ~470-byte form-encoded ixnProfile as BenchmarkEngage.
cat > "$tmp/post.lua" <<'LUA'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.body = "ixnProfile=" .. string.gsub([[{"interactionID":"0001Ba8MHP5U000A","visitID":"f24c60f6-0728-4f3d-b8b4-1e7bad2dc8a3","pageID":"5c911f90-3fa3-11e2-aee5-00505625a04f","channels":["chat","callback"],"language":"en","invitation":{"title":"Need a hand?","message":"An agent can help you finish your order."},"userData":{"segment":"gold","cartValue":129.5}}]], "[^%w%-%._~]", function(c) return string.format("%%%02X", string.byte(c)) end)
done = function(summary, latency, requests)
  io.write(string.format("rps=%.0f non2xx=%d p99=%.0fus\n", summary.requests / (summary.duration / 1e6), summary.errors.status, latency:percentile(99)))
end
LUA
run() { wrk -t1 -c32 -d"${secs}s" -s "$tmp/post.lua" "http://$1/server/data/gateway/engage" | grep '^rps='; }
run 127.0.0.1:18081 >/dev/null; run 127.0.0.1:18082 >/dev/null # warm up
bare_sum=0; gw_sum=0; shares=()
for i in $(seq "$rounds"); do
  b=$(run 127.0.0.1:18081); g=$(run 127.0.0.1:18082)
  case "$b$g" in *non2xx=[1-9]*) echo "non-2xx answers: the load is not valid" >&2; exit 1;; esac
  br=$(sed 's/rps=\([0-9]*\).*/\1/' <<<"$b"); gr=$(sed 's/rps=\([0-9]*\).*/\1/' <<<"$g")
  shares+=($((100 * gr / br)))
  echo "round $i bare:    $b"; echo "round $i gateway: $g   ($((100 * gr / br))% of bare)"
  bare_sum=$((bare_sum + br)); gw_sum=$((gw_sum + gr))
done
median=$(printf '%s\n' "${shares[@]}" | sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : int((a[NR/2] + a[NR/2+1]) / 2)}')
echo "bare:    $((bare_sum / rounds)) req/s"
echo "gateway: $((gw_sum / rounds)) req/s ($((100 * gw_sum / bare_sum))% of bare over all rounds)"
echo "median of the rounds' shares: ${median}%"

#!/usr/bin/env bash
# Engage throughput on loopback with wrk, strict mode, a new visit and
# interaction for every request: (a) one broker over the in-memory default,
# (b) two instances joined by NATS (an embedded JetStream server in the
# server's process), (c) two instances joined by Redis (a redis-server this
# script starts on a free port). Each is an examples/internal/loadcluster
# process. The three are measured in rounds that run them back to back, so
# that all see the same machine; every run is two wrk processes of 16
# connections each (against the two instances, or both against the one).
#
# Prints each round's requests per second, wrk's latencies, the medians
# over the rounds and the two instances' share of the memory broker's
# figure; the CPU time per engage of each server process and of
# redis-server; for NATS and Redis, the top of a CPU profile of the server
# taken during one more run; and, from loadcluster, the backend calls the
# engages made (count, per engage, mean time, share of the engage's time).
# Usage: scripts/cluster-bench.sh [seconds-per-run] [rounds]
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-5}; rounds=${2:-3}
command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install -y wrk)" >&2; exit 1; }
command -v redis-server >/dev/null || { echo "redis-server is not installed (apt-get install -y redis-server)" >&2; exit 1; }
tmp=$(mktemp -d)
pids=()
cleanup() {
  exec 3>&- 4>&- 5>&-
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT
(cd examples && go build -o "$tmp/loadcluster" ./internal/loadcluster)

# A free loopback port: one nothing answers on, from a random start.
free_port() {
  local p=$((20000 + RANDOM % 20000))
  while (exec 9<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; do p=$((p + 1)); done
  echo "$p"
}
redis_port=$(free_port)
mkdir "$tmp/redis"
redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no --dir "$tmp/redis" >"$tmp/redis.log" 2>&1 &
rserver_pid=$!; pids+=("$rserver_pid")
for _ in $(seq 100); do [ "$(redis-cli -p "$redis_port" ping 2>/dev/null)" = PONG ] && break; sleep 0.05; done

# start NAME FD ARGS...: a loadcluster whose stdin is a pipe on FD (closing
# it stops the server) and whose stdout is $tmp/NAME.out; waits until it
# listens. Its process ID is in NAME_pid.
start() {
  local name=$1 fd=$2; shift 2
  mkfifo "$tmp/$name.in"
  "$tmp/loadcluster" "$@" <"$tmp/$name.in" >"$tmp/$name.out" 2>"$tmp/$name.err" &
  pids+=("$!"); eval "${name}_pid=$!"
  eval "exec $fd>\"$tmp/$name.in\""
  for _ in $(seq 200); do grep -q '^http' "$tmp/$name.out" && break; sleep 0.05; done
}
pprof_nats=127.0.0.1:$(free_port)
start memory 3 -backend memory
start nats 4 -backend nats -pprof "$pprof_nats"
pprof_redis=127.0.0.1:$(free_port)
start redis 5 -backend redis -redis "redis://127.0.0.1:$redis_port" -pprof "$pprof_redis"
for name in memory nats redis; do
  grep -q '^http' "$tmp/$name.out" || { echo "loadcluster -backend $name did not start:"; cat "$tmp/$name.err"; exit 1; } >&2
done
urls() { grep '^http' "$tmp/$1.out"; }

# A new visit and interaction for every request: the prefix (an argument)
# names the run, the counter the request.
cat >"$tmp/engage.lua" <<'LUA'
local prefix, n = "x", 0
init = function(args) prefix = args[1] or "x" end
request = function()
  n = n + 1
  local id = prefix .. "-" .. n
  return wrk.format("POST", "/server/data/gateway/engage", { ["Content-Type"] = "application/json" },
    '{"interactionID":"i' .. id .. '","visitID":"v' .. id .. '","channels":["chat"],"expiresIn":5}')
end
done = function(summary, latency, requests)
  io.write(string.format("rps=%.0f non2xx=%d socket_errors=%d p50=%.0fus p99=%.0fus\n",
    summary.requests / (summary.duration / 1e6), summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    latency:percentile(50), latency:percentile(99)))
end
LUA

# run NAME TAG SECONDS: two wrk processes at once, one per instance (both on
# the one instance of memory); prints the sum of their requests per second.
run() {
  local name=$1 tag=$2 d=$3 u1 u2
  u1=$(urls "$name" | sed -n 1p); u2=$(urls "$name" | sed -n 2p); u2=${u2:-$u1}
  wrk -t1 -c16 -d"${d}s" -s "$tmp/engage.lua" "$u1/server/data/gateway/engage" -- "$tag-a" >"$tmp/w1" &
  local w=$!
  wrk -t1 -c16 -d"${d}s" -s "$tmp/engage.lua" "$u2/server/data/gateway/engage" -- "$tag-b" >"$tmp/w2"
  wait "$w"
  if grep -q -e 'non2xx=[1-9]' -e 'socket_errors=[1-9]' "$tmp/w1" "$tmp/w2"; then
    echo "$name: not every request was answered 200:" >&2; cat "$tmp/w1" "$tmp/w2" >&2; exit 1
  fi
  cat "$tmp/w1" "$tmp/w2" >>"$tmp/$name.wrk"
  cat "$tmp/w1" "$tmp/w2" | sed -n 's/^rps=\([0-9]*\).*/\1/p' | awk '{s += $1} END {print s}'
}
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : int((a[NR/2] + a[NR/2+1]) / 2)}'; }

for name in memory nats redis; do run "$name" "warm-$name" 2 >/dev/null; done
t_memory=$(cpu_ticks "$memory_pid"); t_nats=$(cpu_ticks "$nats_pid"); t_redis=$(cpu_ticks "$redis_pid"); t_rserver=$(cpu_ticks "$rserver_pid")
: >"$tmp/memory.rps"; : >"$tmp/nats.rps"; : >"$tmp/redis.rps"
: >"$tmp/memory.wrk"; : >"$tmp/nats.wrk"; : >"$tmp/redis.wrk"
for i in $(seq "$rounds"); do
  line="round $i:"
  for name in memory nats redis; do
    r=$(run "$name" "r$i-$name" "$secs"); echo "$r" >>"$tmp/$name.rps"
    line="$line $name $r req/s,"
  done
  echo "${line%,}"
done
t_memory=$(($(cpu_ticks "$memory_pid") - t_memory)); t_nats=$(($(cpu_ticks "$nats_pid") - t_nats)); t_redis=$(($(cpu_ticks "$redis_pid") - t_redis)); t_rserver=$(($(cpu_ticks "$rserver_pid") - t_rserver))
m=$(median <"$tmp/memory.rps"); n=$(median <"$tmp/nats.rps"); r=$(median <"$tmp/redis.rps")
# wrk's latencies over the rounds' runs, the medians of each wrk's p50 and p99.
lat() { sed -n "s/.* $2=\([0-9]*\)us.*/\1/p" "$tmp/$1.wrk" | median; }
for name in memory nats redis; do sed -i '/^rps=/!d' "$tmp/$name.wrk"; done
echo "wrk latency, medians of the runs' p50 / p99: memory $(lat memory p50) / $(lat memory p99) µs; NATS $(lat nats p50) / $(lat nats p99) µs; Redis $(lat redis p50) / $(lat redis p99) µs"
echo "medians: one in-memory broker $m req/s; two instances on NATS $n req/s ($((100 * n / m))%); two instances on Redis $r req/s ($((100 * r / m))%)"
# CPU per engage over the rounds: the process's ticks (1/100 s) over the
# requests its runs answered.
hz=$(getconf CLK_TCK)
per_engage() { awk -v t="$1" -v hz="$hz" -v secs="$secs" -v f="$2" 'BEGIN { while ((getline r < f) > 0) n += r * secs; printf "%.0f", t / hz / n * 1e6 }'; }
echo "CPU per engage: memory's server process $(per_engage "$t_memory" "$tmp/memory.rps") µs;" \
  "NATS run's server process (instances and NATS) $(per_engage "$t_nats" "$tmp/nats.rps") µs;" \
  "Redis run's server process $(per_engage "$t_redis" "$tmp/redis.rps") µs, redis-server $(per_engage "$t_rserver" "$tmp/redis.rps") µs"

# One more run each of NATS and Redis, with a CPU profile of its server.
for name in nats redis; do
  addr=$pprof_nats; [ "$name" = redis ] && addr=$pprof_redis
  curl -s -o "$tmp/$name.prof" "http://$addr/debug/pprof/profile?seconds=$((secs - 1))" &
  c=$!
  run "$name" "prof-$name" "$secs" >/dev/null
  wait "$c"
  echo "== CPU profile of the $name run's server process (cumulative share of its samples)"
  go tool pprof -top -cum -nodecount=400 "$tmp/loadcluster" "$tmp/$name.prof" 2>/dev/null |
    awk 'NR <= 5 && /^(Duration|Showing)/ || /(push\.\(\*Broker\)\.(Engage|ServeHTTP|apply|listen)$|gateway\.\(\*Handler\)\.ServeHTTP$|net\/http\.\(\*conn\)\.serve$|natsfanout\.\(\*Backend\)\.(Ended|Claim|Publish|Listen)$|redisfanout\.\(\*Backend\)\.(Ended|Claim|Publish|Listen)$|nats-server\/v2\/server\.\(\*client\)\.readLoop$|nats-server\/v2\/server\.\(\*stream\)\.processJetStreamMsg$|nats-server\/v2\/server\.\(\*fileStore\)|go-redis\/v9\.\(\*baseClient\)\.(process|_process)$|^ .*runtime\.gcBgMarkWorker$|syscall\.Syscall6?$|internal\/runtime\/syscall\/linux\.Syscall6$)/ {print "  " $4, $5, $6}'
done

# Stop the servers: each prints its engages and its backend calls.
exec 3>&- 4>&- 5>&-
wait "$memory_pid" "$nats_pid" "$redis_pid"
for name in nats redis; do
  echo "== $name: the backend calls of the engages (every run, warm-up and profile included)"
  sed -n '/^engages/,$p' "$tmp/$name.out"
done

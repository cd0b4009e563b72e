#!/usr/bin/env bash
# Replays finding 2 of issue 10 on loopback (Linux): one address asks for
# 15,000 event streams while engages and real visitors from other addresses
# go on; then sixty addresses ask for more streams than the broker allows.
# The server runs in a child process with 20,000 open files, as in the
# review, with push.Options' defaults and no http.Server timeouts. Prints,
# per phase, the streams accepted and refused, the refused connections the
# server closed, the server's most open files and failures to accept, the
# visitors' streams and invitations, and the engage latencies meanwhile.
# Bounded: at most [streams] requests per phase and [timeout] in all.
# The flood keeps every refused connection the server does not close, as
# an attacker would. With a lower [nofile], say 12000, the server before
# the fix ran out of descriptors.
# Usage: scripts/stream-flood.sh [streams] [timeout] [nofile]
set -euo pipefail
cd "$(dirname "$0")/.."
streams=${1:-15000}; timeout=${2:-120s}; nofile=${3:-20000}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
go build -o "$tmp/streamflood" ./internal/streamflood
# The client holds up to 10,000 streams and the server's side of them too
# when both are one user's: ask for the hard limit.
ulimit -n "$(ulimit -Hn)"
"$tmp/streamflood" -streams "$streams" -timeout "$timeout" -nofile "$nofile"

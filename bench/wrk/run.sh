#!/usr/bin/env bash
# Like writes over HTTP against a bare net/http handler, same machine, same
# run: prints both wrk results, the ratio, and the CPU time per request of
# the server and of wrk (user + system, from /proc), so a ratio comes with
# its cost model. Needs wrk and curl. zan's settings can be changed through
# ZAN_* variables (e.g. ZAN_FSYNC=true).
#   bench/wrk/run.sh [duration] [connections]
# A/B: ZAN_BINS="old-binary new-binary" runs each given binary in turn,
# ROUNDS times (default 1), the baseline before each: only pairs from one
# run of this script compare (the machine's own speed drifts).
set -euo pipefail
cd "$(dirname "$0")/../.."
source bench/wrk/lib.sh
DUR=${1:-15s}
CONNS=${2:-100}
USERS=${USERS:-500}
ROUNDS=${ROUNDS:-1}
tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; wait 2>/dev/null; [ -s "$tmp/zan.log" ] && tail -5 "$tmp/zan.log"; rm -rf "$tmp"' EXIT

bins=${ZAN_BINS:-}
if [ -z "$bins" ]; then
  go build -o "$tmp/zan" ./cmd/zan
  bins="$tmp/zan"
fi
go build -o "$tmp/baseline" ./bench/baseline
"$tmp/baseline" -addr 127.0.0.1:18090 &
basepid=$!

# run_wrk PID OUT wrk-args...: runs wrk, then appends the CPU µs per
# request of PID and of wrk to OUT.
run_wrk() {
  local pid=$1 out=$2; shift 2
  local before after
  before=$(cpu_ticks "$pid")
  wrk "$@" >"$out" &
  local wpid=$!
  wait "$wpid"
  after=$(cpu_ticks "$pid")
  local reqs
  reqs=$(awk '/requests in/ {print $1}' "$out")
  awk -v b="$before" -v a="$after" -v r="$reqs" -v hz="$(getconf CLK_TCK)" \
    'BEGIN {printf "server CPU: %.0f µs per request\n", (a-b)*1e6/hz/r}' >>"$out"
  cat "$out"
}

for round in $(seq "$ROUNDS"); do
  for bin in $bins; do
    rm -rf "$tmp/data"
    "$bin" serve --dev --addr 127.0.0.1:18080 --data "$tmp/data" --log-level warn --access-log=false \
      --like-rate 1000000 --like-burst 1000000 --ip-limits=false 2>"$tmp/zan.log" &
    zpid=$!
    for _ in $(seq 100); do curl -sf http://127.0.0.1:18080/readyz >/dev/null && break; sleep 0.1; done
    login_users "http://127.0.0.1:18080/api/v1" "$USERS" 86 >"$tmp/tokens.txt"
    echo "== round $round, $bin: $(wc -l <"$tmp/tokens.txt") users logged in, load average $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "== bare net/http"
    run_wrk "$basepid" "$tmp/base.txt" -t2 -c"$CONNS" -d"$DUR" --latency http://127.0.0.1:18090/
    echo "== zan PUT /api/v1/likes ($USERS users, random comment targets)"
    TOKENS="$tmp/tokens.txt" run_wrk "$zpid" "$tmp/zan.txt" -t2 -c"$CONNS" -d"$DUR" --latency \
      -s bench/wrk/like.lua http://127.0.0.1:18080
    echo "ratio zan/baseline: $(ratio "$tmp/base.txt" "$tmp/zan.txt")"
    kill "$zpid"
    wait "$zpid" 2>/dev/null || true
  done
done

#!/usr/bin/env bash
# Like writes over HTTP against a bare net/http handler, same machine, same
# run: prints both wrk results and the ratio. Needs wrk and curl. zan's
# settings can be changed through ZAN_* variables (e.g. ZAN_FSYNC=true).
#   bench/wrk/run.sh [duration] [connections]
set -euo pipefail
cd "$(dirname "$0")/../.."
source bench/wrk/lib.sh
DUR=${1:-15s}
CONNS=${2:-100}
USERS=${USERS:-500}
tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; wait 2>/dev/null; rm -rf "$tmp"' EXIT

go build -o "$tmp/zan" ./cmd/zan
go build -o "$tmp/baseline" ./bench/baseline
"$tmp/baseline" -addr 127.0.0.1:18090 &
"$tmp/zan" serve --dev --addr 127.0.0.1:18080 --data "$tmp/data" --log-level warn --access-log=false \
  --like-rate 1000000 --like-burst 1000000 --ip-limits=false 2>"$tmp/zan.log" &
for _ in $(seq 100); do curl -sf http://127.0.0.1:18080/readyz >/dev/null && break; sleep 0.1; done

login_users "http://127.0.0.1:18080/api/v1" "$USERS" 86 >"$tmp/tokens.txt"
echo "$(wc -l <"$tmp/tokens.txt") users logged in"

echo "== bare net/http"
wrk -t2 -c"$CONNS" -d"$DUR" --latency http://127.0.0.1:18090/ | tee "$tmp/base.txt"
echo "== zan PUT /api/v1/likes ($USERS users, random comment targets)"
TOKENS="$tmp/tokens.txt" wrk -t2 -c"$CONNS" -d"$DUR" --latency -s bench/wrk/like.lua http://127.0.0.1:18080 | tee "$tmp/zan.txt"
echo "ratio zan/baseline: $(ratio "$tmp/base.txt" "$tmp/zan.txt")"

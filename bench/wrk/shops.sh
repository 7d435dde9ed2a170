#!/usr/bin/env bash
# Shop reads through the cache and a flash sale, over HTTP, against a bare
# net/http handler on the same machine in the same run. Needs wrk and curl.
#   bench/wrk/shops.sh [duration] [read connections] [order connections]
set -euo pipefail
cd "$(dirname "$0")/../.."
source bench/wrk/lib.sh
DUR=${1:-10s}
CONNS=${2:-100}
OCONNS=${3:-1000}
USERS=${USERS:-2000}
SHOPS=${SHOPS:-5000}
STOCK=${STOCK:-100}
tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; wait 2>/dev/null; rm -rf "$tmp"' EXIT
ulimit -n 65536 2>/dev/null || true

go build -o "$tmp/zan" ./cmd/zan
go build -o "$tmp/baseline" ./bench/baseline
"$tmp/baseline" -addr 127.0.0.1:18090 &
# Order limits are raised so that every attempt reaches the hot state: the
# figure is the sale's own path, not the token buckets shedding it.
"$tmp/zan" serve --dev --admin-token bench --addr 127.0.0.1:18080 --data "$tmp/data" --log-level warn \
  --access-log=false --order-rate 1000000 --order-burst 1000000 --voucher-rate 1000000 --voucher-burst 1000000 \
  2>"$tmp/zan.log" &
API=http://127.0.0.1:18080/api/v1
for _ in $(seq 100); do curl -sf http://127.0.0.1:18080/readyz >/dev/null && break; sleep 0.1; done

"$tmp/zan" seed --url http://127.0.0.1:18080 --admin-token bench --shops "$SHOPS" >/dev/null
cursor=""
while :; do
  page=$(curl -s "$API/shops?limit=100${cursor:+&cursor=$cursor}")
  echo "$page" | grep -oE '"id":"[0-9]+","name"' | grep -oE '[0-9]+' >>"$tmp/ids.txt"
  cursor=$(echo "$page" | sed -E 's/.*"next_cursor":"?([^",}]*)"?}$/\1/')
  [ "$cursor" = null ] && break
done
echo "$(wc -l <"$tmp/ids.txt") shops"

login_users "$API" "$USERS" 87 >"$tmp/tokens.txt"
echo "$(wc -l <"$tmp/tokens.txt") users logged in"

echo "== bare net/http ($CONNS connections)"
wrk -t2 -c"$CONNS" -d"$DUR" --latency http://127.0.0.1:18090/ | tee "$tmp/base.txt"
echo "== zan GET /api/v1/shops/{id} ($CONNS connections, random shops)"
IDS="$tmp/ids.txt" wrk -t2 -c"$CONNS" -d"$DUR" --latency -s bench/wrk/get.lua http://127.0.0.1:18080 | tee "$tmp/shops.txt"
echo "ratio shop reads/baseline: $(ratio "$tmp/base.txt" "$tmp/shops.txt")"

shop=$(head -1 "$tmp/ids.txt")
now=$(date -u +%FT%TZ); end=$(date -u -d '+1 hour' +%FT%TZ)
voucher=$(curl -s -X POST $API/vouchers -H "Authorization: Bearer bench" \
  -d "{\"shop_id\":\"$shop\",\"title\":\"bench\",\"stock\":$STOCK,\"begin_at\":\"$now\",\"end_at\":\"$end\"}" \
  | sed -E 's/.*"id":"([0-9]+)".*/\1/')
echo "== flash sale: $OCONNS connections, $USERS users, $STOCK units"
TOKENS="$tmp/tokens.txt" VOUCHER=$voucher wrk -t2 -c"$OCONNS" -d"$DUR" --latency --timeout 10s \
  -s bench/wrk/order.lua http://127.0.0.1:18080 | tee "$tmp/orders.txt"
ended=$(date +%s.%N)
metric() { curl -s http://127.0.0.1:18080/metrics | awk -v m="$1" '$1 == m {print $2}'; }
taken=$(metric 'zan_voucher_orders_total{result="taken"}')
while :; do
  stored=$(metric 'zan_voucher_orders_written_total{outcome="stored"}')
  [ "${stored:-0}" = "${taken:-0}" ] && break
  sleep 0.01
done
echo "accepted orders: ${taken:-0}; all created $(awk -v e="$ended" -v n="$(date +%s.%N)" 'BEGIN {printf "%.0f", (n-e)*1000}') ms after the load ended"
remaining=$(curl -s $API/vouchers/$voucher | sed -E 's/.*"remaining":([0-9]+).*/\1/')
echo "remaining: $remaining"

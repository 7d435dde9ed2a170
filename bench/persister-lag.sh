#!/usr/bin/env bash
# Watches a running zan's persister while a load runs: samples /metrics
# every 200 ms for the given time and prints the largest persister lag seen
# (the age of the oldest event of a batch when it was fetched) and the
# events applied meanwhile.
#   bench/persister-lag.sh http://127.0.0.1:8080 20 &   # then start the load
set -euo pipefail
URL=${1:-http://127.0.0.1:8080}
SECS=${2:-20}
metric() { curl -sf "$URL/metrics" | awk -v m="$1" '$1 == m { print $2 }'; }
max=0
first=$(metric zan_persister_events_total || echo 0)
end=$(($(date +%s) + SECS))
while [ "$(date +%s)" -lt "$end" ]; do
  lag=$(metric zan_persister_lag_seconds || echo 0)
  max=$(awk -v a="$max" -v b="${lag:-0}" 'BEGIN { print (b > a) ? b : a }')
  sleep 0.2
done
last=$(metric zan_persister_events_total || echo 0)
printf 'persister: %.0f events applied in %s s, lag at most %.3f s\n' \
  "$(awk -v a="${first:-0}" -v b="${last:-0}" 'BEGIN { print b - a }')" "$SECS" "$max"

#!/usr/bin/env bash
# CI step: the MySQL store's suite and the migration tests against a real
# TiDB (tidb-server with its embedded unistore storage, no PD or TiKV).
#
# The server binary is cached between runs (ZAN_TIDB_SERVER, by default
# ~/.cache/zan/tidb-server, never in the repository). Without it, it is
# built from the Go module proxy by ../shared/tidb/build.sh (ZAN_TIDB_BUILD) when that script
# is there (about 10 minutes cold, bounded by ZAN_TIDB_BUILD_TIMEOUT);
# without either, TiDB is skipped, saying so.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"

bin=${ZAN_TIDB_SERVER:-$HOME/.cache/zan/tidb-server}
build=${ZAN_TIDB_BUILD:-../shared/tidb/build.sh}
if ! [ -x "$bin" ]; then
  if ! [ -x "$build" ]; then
    echo "tidb: skipped: no server binary at $bin and no $build to build one"
    exit 0
  fi
  echo "tidb: building the server into $bin (cold: ~10 min, ~4 GiB of caches)"
  mkdir -p "$(dirname "$bin")"
  log=$(mktemp)
  if ! timeout "${ZAN_TIDB_BUILD_TIMEOUT:-20m}" nice -n 10 "$build" "$(dirname "$bin")/tidb-build" "$bin" >"$log" 2>&1; then
    tail -20 "$log"
    rm -f "$log" "$bin"
    # A build that cannot finish here (a slow or loaded machine, a module
    # proxy that is down) says so loudly, but does not hold back a landing:
    # the TiDB suites run whenever the binary is cached.
    echo "tidb: SKIPPED: the server did not build within ${ZAN_TIDB_BUILD_TIMEOUT:-20m}"
    exit 0
  fi
  rm -f "$log"
fi
"$bin" -V | sed -n 's/^Release Version: /tidb: version /p'

up() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
port=
for _ in $(seq 50); do
  p=$((20000 + RANDOM % 20000))
  if ! up "$p"; then port=$p; break; fi
done
[ -n "$port" ] || { echo "tidb: no free port"; exit 1; }

# It writes temporary and log files where it starts: a scratch directory,
# removed with its data when the step ends.
dir=$(mktemp -d)
pid=
stop() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  rm -rf "$dir"
}
trap stop EXIT
(cd "$dir" && exec "$bin" -store unistore -path "$dir/data" -host 127.0.0.1 -P "$port" \
  -report-status=false -socket "" -log-file "$dir/tidb.log") >"$dir/out.log" 2>&1 &
pid=$!
for _ in $(seq 150); do up "$port" && break; kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
if ! up "$port"; then
  tail -20 "$dir/out.log" "$dir/tidb.log" 2>/dev/null || true
  echo "tidb: the server did not start"
  exit 1
fi

# TiDB bootstraps with an empty database named test, where the suites
# create databases of their own.
export ZAN_TEST_MYSQL="root@tcp(127.0.0.1:$port)/test"
export ZAN_TEST_TIDB=1
[ -x /tmp/zan-testreport ] || go build -o /tmp/zan-testreport ./internal/testreport
# The store's suite and the migration package, then zan migrate itself.
go test -count=1 -timeout 5m -json ./mysql/ ./migrate/ 2>&1 | /tmp/zan-testreport
go test -count=1 -timeout 5m -json -run '^TestMigrate' ./cmd/zan/ 2>&1 | /tmp/zan-testreport

# Shared by the wrk scripts: source it.

# login_users API N PREFIX: log N users in through the dev-code flow and
# print their tokens, one a line. A fresh block of phone numbers per run:
# with a shared Redis an earlier run's codes would still be in their 60 s gap.
login_users() {
  local api=$1 n=$2 prefix=$3 block i phone code
  block=$((RANDOM % 900 + 100))
  for i in $(seq "$n"); do
    phone=$(printf "+%s%d%08d" "$prefix" "$block" "$i")
    code=$(curl -s -X POST "$api/auth/code" -d "{\"phone\":\"$phone\"}" | sed -E 's/.*"dev_code":"([0-9]+)".*/\1/')
    curl -s -X POST "$api/auth/login" -d "{\"phone\":\"$phone\",\"code\":\"$code\"}" | sed -E 's/.*"token":"([^"]+)".*/\1/'
    echo
  done | grep -E '^[A-Za-z0-9_-]{43}$'
}

# ratio BASE ZAN: the Requests/sec of two wrk outputs, zan over the baseline.
ratio() {
  local b z
  b=$(awk '/Requests\/sec/ {print $2}' "$1")
  z=$(awk '/Requests\/sec/ {print $2}' "$2")
  awk -v z="$z" -v b="$b" 'BEGIN {printf "%.2f", z/b}'
}

# cpu_ticks PID: the user + system CPU time of PID so far, in clock ticks.
cpu_ticks() {
  awk '{print $14 + $15}' "/proc/$1/stat"
}

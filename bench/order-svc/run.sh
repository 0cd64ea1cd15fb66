#!/usr/bin/env bash
# Load benchmark of order-svc, compared side by side with a bare net/http
# handler that answers the same bytes, in the same run and on the same
# machine (a ratio is meaningful where absolute numbers are not).
#
#   bench/order-svc/run.sh                 # 20 s per scenario, 32 workers
#   DURATION=5s CONC=16 ROUNDS=2 bench/order-svc/run.sh
#
# Scenarios: GET /api/v1/catalog/services with a warm Redis cache, and
# POST /api/v1/orders with a fresh Idempotency-Key per request (a real
# MySQL transaction each). Reports req/s, p50/p90/p99, the ratio to the
# bare handler, and the server's peak RSS (VmHWM) under that load.
# Needs MariaDB on 127.0.0.1:3306 (root, no password) and Redis on
# 127.0.0.1:6379 (scripts/tools.sh services starts them); traffic stays on
# 127.0.0.1. Everything it creates (database, Redis keys, processes,
# temporary files) is removed on exit.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
DURATION=${DURATION:-20s}
CONC=${CONC:-32}
ROUNDS=${ROUNDS:-4}
SVC_PORT=${SVC_PORT:-18080}
BARE_PORT=${BARE_PORT:-18081}
MYSQL_ADDR=${MYSQL_ADDR:-127.0.0.1:3306}
REDIS_ADDR=${REDIS_ADDR:-127.0.0.1:6379}
work=$(mktemp -d)
db="ordersvc_bench_$(date +%s)_$$"
prefix="bench:$db:"
secret=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
svc_pid='' bare_pid=''

cleanup() {
	[[ -n $svc_pid ]] && kill "$svc_pid" 2>/dev/null && wait "$svc_pid" 2>/dev/null
	[[ -n $bare_pid ]] && kill "$bare_pid" 2>/dev/null && wait "$bare_pid" 2>/dev/null
	mysql -h"${MYSQL_ADDR%:*}" -P"${MYSQL_ADDR#*:}" -uroot -e "DROP DATABASE IF EXISTS \`$db\`" || true
	redis-cli -h "${REDIS_ADDR%:*}" -p "${REDIS_ADDR#*:}" --scan --pattern "$prefix*" |
		xargs -r redis-cli -h "${REDIS_ADDR%:*}" -p "${REDIS_ADDR#*:}" del >/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

echo "== build"
commit=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)
(cd "$root/examples/order-svc" && go build -trimpath -ldflags "-s -w -X main.version=bench -X main.commit=$commit" -o "$work/server" ./cmd/server)
(cd "$root" && go build -o "$work/loadgen" ./bench/order-svc/loadgen)

echo "== database $db"
mysql -h"${MYSQL_ADDR%:*}" -P"${MYSQL_ADDR#*:}" -uroot -e "CREATE DATABASE \`$db\`"
export MYSQL_DSN="root@tcp($MYSQL_ADDR)/$db" REDIS_ADDR REDIS_PREFIX="$prefix" \
	JWT_SECRET="$secret" JWT_ISSUER=https://auth.bench.smp.vn JWT_AUDIENCE=order-svc \
	HOST=127.0.0.1 PORT="$SVC_PORT" LOG_LEVEL=info
"$work/server" migrate up

echo "== start order-svc on 127.0.0.1:$SVC_PORT"
"$work/server" >"$work/server.log" 2>&1 &
svc_pid=$!
for _ in $(seq 1 100); do
	curl -fsS "http://127.0.0.1:$SVC_PORT/ready" >/dev/null 2>&1 && break
	sleep 0.1
done
curl -fsS "http://127.0.0.1:$SVC_PORT/ready" >/dev/null
token=$("$work/loadgen" token -secret "$secret" -iss https://auth.bench.smp.vn -aud order-svc -sub bench-customer)
svc="http://127.0.0.1:$SVC_PORT"
order_body='{"service_id":"express-delivery","quantity":2,"note":"bench"}'

# Warm the cache and capture the exact bytes for the bare handler.
curl -fsS -H "Authorization: Bearer $token" "$svc/api/v1/catalog/services" -o "$work/catalog.json"
cache=$(curl -fsS -D - -o /dev/null -H "Authorization: Bearer $token" "$svc/api/v1/catalog/services" | tr -d '\r' | awk -F': ' 'tolower($1)=="x-cache"{print $2}')
[[ $cache == HIT ]] || { echo "catalog cache is not warm (X-Cache: $cache)" >&2; exit 1; }
curl -fsS -H "Authorization: Bearer $token" -H 'Content-Type: application/json' -H 'Idempotency-Key: warmup' \
	-d "$order_body" "$svc/api/v1/orders" -o "$work/order.json"

"$work/loadgen" bare -addr "127.0.0.1:$BARE_PORT" -get "$work/catalog.json" -post "$work/order.json" &
bare_pid=$!
bare="http://127.0.0.1:$BARE_PORT"
for _ in $(seq 1 50); do curl -fsS "$bare/" >/dev/null 2>&1 && break; sleep 0.1; done

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
rss_before=$(awk '/VmRSS/{print $2}' "/proc/$svc_pid/status")
results="$work/results.jsonl"
# Service and bare handler alternate in ROUNDS slices so background load on
# a shared machine falls on both sides of the ratio.
lg() { "$work/loadgen" run -duration "$DURATION" -rounds "$ROUNDS" -c "$CONC" "$@" | tee -a "$results"; }
echo "== load: $DURATION per target and scenario in $ROUNDS alternating rounds, $CONC workers"
lg -name "GET catalog" -url "$svc/api/v1/catalog/services" -baseline "$bare/api/v1/catalog/services" -token "$token" -status 200
lg -name "POST order" -url "$svc/api/v1/orders" -baseline "$bare/api/v1/orders" -method POST -body "$order_body" \
	-token "$token" -idempotent -status 201

peak=$(awk '/VmHWM/{print $2}' "/proc/$svc_pid/status")
orders=$(mysql -h"${MYSQL_ADDR%:*}" -P"${MYSQL_ADDR#*:}" -uroot -N -e "SELECT COUNT(*) FROM \`$db\`.orders")
echo
echo "== results (commit $commit, $(nproc) CPUs shared by server, load generator and anything else running;"
echo "   load average before: $load_before, after: $(cut -d' ' -f1-3 /proc/loadavg))"
"$work/loadgen" report "$results"
echo "order-svc RSS: $((rss_before / 1024)) MiB before load, peak (VmHWM) $((peak / 1024)) MiB; orders written: $orders"

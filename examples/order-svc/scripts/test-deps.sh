#!/usr/bin/env bash
# Make sure the MariaDB and Redis the tests need are answering, starting
# them when they are not. The tests themselves FAIL (never skip) when a
# dependency is missing; this script only saves a developer or CI the
# manual start. It is idempotent: running services are left alone.
#
#   MYSQL_HOST/MYSQL_PORT (127.0.0.1:3306), REDIS_HOST/REDIS_PORT (127.0.0.1:6379)
#   DEPS_DIR: where a MariaDB started here keeps its data (default .cache/test-deps)
set -euo pipefail

MYSQL_HOST=${MYSQL_HOST:-127.0.0.1}
MYSQL_PORT=${MYSQL_PORT:-3306}
REDIS_HOST=${REDIS_HOST:-127.0.0.1}
REDIS_PORT=${REDIS_PORT:-6379}
DEPS_DIR=${DEPS_DIR:-$(cd "$(dirname "$0")/.." && pwd)/.cache/test-deps}

up() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

wait_up() { # name host port
	for _ in $(seq 1 60); do
		up "$2" "$3" && return 0
		sleep 0.5
	done
	echo "test-deps: $1 did not start on $2:$3; see $DEPS_DIR/$1.log" >&2
	return 1
}

need() { # binary debian-package
	command -v "$1" >/dev/null 2>&1 && return 0
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
		echo "test-deps: installing $2" >&2
		apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$2" >/dev/null
	else
		echo "test-deps: $1 is missing; install the Debian package $2 or point TEST_MYSQL_DSN/TEST_REDIS_ADDR at running servers" >&2
		return 1
	fi
}

mkdir -p "$DEPS_DIR"

if up "$REDIS_HOST" "$REDIS_PORT"; then
	echo "test-deps: redis already answers on $REDIS_HOST:$REDIS_PORT"
else
	need redis-server redis-server
	redis-server --bind "$REDIS_HOST" --port "$REDIS_PORT" --daemonize yes --save '' --appendonly no \
		--logfile "$DEPS_DIR/redis.log" --dir "$DEPS_DIR"
	wait_up redis "$REDIS_HOST" "$REDIS_PORT"
	echo "test-deps: started redis on $REDIS_HOST:$REDIS_PORT"
fi

if up "$MYSQL_HOST" "$MYSQL_PORT"; then
	echo "test-deps: mariadb already answers on $MYSQL_HOST:$MYSQL_PORT"
else
	need mariadbd mariadb-server
	data="$DEPS_DIR/mariadb"
	if [ ! -d "$data/mysql" ]; then
		# --no-defaults: the system my.cnf may name another user and log file.
		mariadb-install-db --no-defaults --user="$(id -un)" --datadir="$data" --auth-root-authentication-method=normal \
			--skip-test-db >"$DEPS_DIR/mariadb-install.log" 2>&1 ||
			{ echo "test-deps: mariadb-install-db failed; see $DEPS_DIR/mariadb-install.log" >&2; exit 1; }
	fi
	nohup mariadbd --no-defaults --user="$(id -un)" --datadir="$data" --bind-address="$MYSQL_HOST" --port="$MYSQL_PORT" \
		--socket="$DEPS_DIR/mariadb.sock" --pid-file="$DEPS_DIR/mariadb.pid" >"$DEPS_DIR/mariadb.log" 2>&1 &
	wait_up mariadb "$MYSQL_HOST" "$MYSQL_PORT"
	echo "test-deps: started mariadb on $MYSQL_HOST:$MYSQL_PORT (data in $data)"
fi

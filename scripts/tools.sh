#!/usr/bin/env bash
# tools.sh installs, idempotently and at pinned versions, every tool the
# build and tests need, and makes sure MariaDB and Redis answer on 127.0.0.1.
#
#   scripts/tools.sh            # everything
#   scripts/tools.sh NAME...    # only these (golangci-lint, actionlint, promtool, chromium, services, kube, ...)
#
# Go tools go to $SMP_TOOLS (default ~/.cache/smp-delivery/bin), outside the
# repository so every clone on a machine shares them; a tool is rebuilt only
# when its pinned version changes. npm packages (the reusable CI's OpenAPI
# linters) go to $SMP_TOOLS/npm with their command linked into $SMP_TOOLS.
# Debian packages are installed only when the command is missing.
set -euo pipefail

SMP_TOOLS=${SMP_TOOLS:-${XDG_CACHE_HOME:-$HOME/.cache}/smp-delivery/bin}
mkdir -p "$SMP_TOOLS"
export GOBIN="$SMP_TOOLS"
log() { printf 'tools: %s\n' "$*" >&2; }

# go_tool NAME MODULE/PATH@VERSION [ENV=VALUE...]
go_tool() {
	local name=$1 pkg=$2; shift 2
	local ver=${pkg##*@} stamp="$SMP_TOOLS/.$name.version"
	if [[ -x "$SMP_TOOLS/$name" && -f "$stamp" && "$(cat "$stamp")" == "$ver" ]]; then
		return 0
	fi
	log "installing $name $ver"
	env "$@" go install "$pkg"
	echo "$ver" >"$stamp"
}

# npm_tool COMMAND PACKAGE@VERSION
# Each package gets its own prefix under $SMP_TOOLS/npm, installed the way
# the reusable CI's openapi job installs it (npm install --no-save, no lock
# file: the workflow runs in the calling service's repository, which has
# none either), and its command is linked into $SMP_TOOLS.
npm_tool() {
	local cmd=$1 pkg=$2
	local ver=${pkg##*@} stamp="$SMP_TOOLS/.$cmd.version" dir="$SMP_TOOLS/npm/$cmd"
	if [[ -x "$SMP_TOOLS/$cmd" && -f "$stamp" && "$(cat "$stamp")" == "$ver" ]]; then
		return 0
	fi
	apt_tool npm nodejs npm
	log "installing $pkg"
	rm -rf "$dir"
	# SCARF_ANALYTICS: spectral's install script would report the download.
	SCARF_ANALYTICS=false npm install --no-save --no-audit --no-fund --loglevel=error --prefix "$dir" "$pkg" >&2
	ln -sfn "$dir/node_modules/.bin/$cmd" "$SMP_TOOLS/$cmd"
	echo "$ver" >"$stamp"
}

apt_updated=0
# apt_tool COMMAND PACKAGE...
apt_tool() {
	local cmd=$1; shift
	command -v "$cmd" >/dev/null 2>&1 && return 0
	if [[ $apt_updated == 0 ]]; then
		log "apt-get update"
		DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
		apt_updated=1
	fi
	log "installing $* (for $cmd)"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

wait_for() { # wait_for NAME CMD...
	local name=$1; shift
	for _ in $(seq 1 60); do "$@" >/dev/null 2>&1 && return 0; sleep 0.5; done
	log "$name did not come up"; return 1
}

services() {
	if ! mysqladmin -h127.0.0.1 -uroot ping >/dev/null 2>&1; then
		apt_tool mariadbd mariadb-server mariadb-client
		log "starting MariaDB"
		{ mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld; } 2>/dev/null || true
		start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd -- --user=mysql --bind-address=127.0.0.1
		wait_for MariaDB mysqladmin -h127.0.0.1 -uroot ping
	fi
	if ! redis-cli -h 127.0.0.1 ping >/dev/null 2>&1; then
		apt_tool redis-server redis-server
		log "starting Redis"
		mkdir -p /var/lib/redis /var/log/redis
		redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
			--dir /var/lib/redis --logfile /var/log/redis/ci.log
		wait_for Redis redis-cli -h 127.0.0.1 ping
	fi
}

install() {
	case $1 in
	golangci-lint) go_tool golangci-lint github.com/golangci/golangci-lint/v2/cmd/golangci-lint@v2.15.0 ;;
	actionlint) go_tool actionlint github.com/rhysd/actionlint/cmd/actionlint@v1.7.12 ;;
	# actionlint runs shellcheck on every run: script when it is on PATH.
	shellcheck) apt_tool shellcheck shellcheck ;;
	jq) apt_tool jq jq ;;
	# make test runs go test through it: its events say where the time went.
	gotestsum) go_tool gotestsum gotest.tools/gotestsum@v1.13.0 ;;
	# The reusable CI's tools, at the versions its workflow pins (a test in
	# internal/workflow compares them).
	migrate) go_tool migrate github.com/golang-migrate/migrate/v4/cmd/migrate@v4.20.1 "GOFLAGS=-tags=mysql -buildvcs=false" ;;
	gitleaks) go_tool gitleaks github.com/zricethezav/gitleaks/v8@v8.30.1 ;;
	govulncheck) go_tool govulncheck golang.org/x/vuln/cmd/govulncheck@v1.9.0 ;;
	oasdiff) go_tool oasdiff github.com/oasdiff/oasdiff@v1.37.0 ;;
	spectral) npm_tool spectral @stoplight/spectral-cli@6.16.3 ;;
	swagger-cli) npm_tool swagger-cli @apidevtools/swagger-cli@4.0.4 ;;
	# Not in ALL: ~17 CPU-minutes to build; only TestTrivyFsStep (-tags trivy) needs it.
	trivy) go_tool trivy github.com/aquasecurity/trivy/cmd/trivy@v0.74.0 GOEXPERIMENT=jsonv2 ;;
	promtool) apt_tool promtool prometheus ;;
	amtool) apt_tool amtool prometheus-alertmanager ;;
	crane) go_tool crane github.com/google/go-containerregistry/cmd/crane@v0.22.1 ;;
	ko) go_tool ko github.com/google/ko@v0.19.1 ;; # bench/images only
	cosign) go_tool cosign github.com/sigstore/cosign/v3/cmd/cosign@v3.1.3 ;; # cross-checks smpctl's signatures
	prometheus) apt_tool prometheus prometheus ;; # the server: local environments and the gate's tests
	# Not in ALL: Linux process accounting, for bench/testcpu/by-process.sh.
	acct) apt_tool accton acct ;;
	# Headless Chromium for the dashboard's browser test (internal/dashboard,
	# driven with chromedp): /usr/bin/chromium, from Debian, no download.
	chromium) apt_tool chromium chromium ;;
	# etcd, the Kubernetes control plane, KWOK, Argo Rollouts and Argo CD,
	# built from source once per machine into their own versioned cache
	# (the cluster tests and smpctl demo --engines kubernetes run them;
	# docs/kubernetes.md).
	kube) "$(dirname "${BASH_SOURCE[0]}")/kube-bins.sh" >/dev/null ;;
	services) services ;;
	*) log "unknown tool $1"; return 2 ;;
	esac
}

ALL=(services golangci-lint promtool amtool prometheus chromium actionlint shellcheck jq gotestsum migrate oasdiff spectral swagger-cli gitleaks crane govulncheck cosign kube)
if [[ $# -eq 0 ]]; then set -- "${ALL[@]}"; fi
# Debian packages, npm packages and services one at a time (apt holds a lock);
# the Go tools in parallel: on a fresh machine most of their time is fetching
# modules from the proxy, which overlaps with another tool's compile.
pids=()
for t in "$@"; do
	case $t in
	golangci-lint | actionlint | gotestsum | migrate | oasdiff | gitleaks | crane | govulncheck | cosign | trivy | ko | kube)
		install "$t" &
		pids+=("$!")
		;;
	*) install "$t" ;;
	esac
done
failed=0
for p in "${pids[@]}"; do wait "$p" || failed=1; done
if [[ $failed != 0 ]]; then
	log "a Go tool failed to install (its go install output is above); run scripts/tools.sh NAME again"
	exit 1
fi
echo "$SMP_TOOLS"

#!/usr/bin/env bash
# bench/testcpu/by-process.sh [COMMAND...]: runs COMMAND (by default
# `make test`) with Linux process accounting on, then says where the CPU
# went by process (bench/testcpu/procacct): by command name (compile, link,
# kube-apiserver, govulncheck, git, ...) and by the test binary each process
# ran under. Accounting sees every process on the machine, so run it on a
# quiet one. It needs root (accton) and Debian's acct package, which
# scripts/tools.sh acct installs. The accounting file is kept and named at
# the end: go run ./bench/testcpu/procacct FILE 40 reads it again. It
# replaces any accounting file already on and turns accounting off at its end.
#   bench/testcpu/by-process.sh
#   bench/testcpu/by-process.sh go test -race ./internal/local/cluster
set -euo pipefail
cd "$(dirname "$0")/../.."
if [[ $(id -u) != 0 ]]; then
	echo "by-process.sh: turning process accounting on needs root (accton)" >&2
	exit 2
fi
scripts/tools.sh acct >/dev/null
if [[ $# -eq 0 ]]; then set -- make test; fi
file=$(mktemp "${TMPDIR:-/tmp}/procacct.XXXXXX")
accton "$file" >/dev/null
# Off again however this ends: bash runs no EXIT trap when a signal kills
# it, and a kill (a CI timeout, ^C) left accounting on, writing a record of
# every process the machine ran until someone typed accton off.
trap 'accton off >/dev/null' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM HUP
rc=0
"$@" || rc=$?
accton off >/dev/null
trap - EXIT
echo
echo "== where the CPU went, by process ($*: exit $rc; accounting file $file)"
go run ./bench/testcpu/procacct "$file" 25
exit "$rc"

#!/usr/bin/env bash
# bench/testcpu/by-test.sh PKG-DIR [GO-TEST-FLAGS...]: the CPU each top-level
# test of one package costs (user and system seconds of the test binary and
# every process it waited for: git, smpctl, clusters, go builds), each test
# run alone, most expensive first. make test's "where the CPU went" says
# which package; this says which test in it. Run it on a quiet machine with
# the flags make test gives that package (-race for its race suite), e.g.
#   bench/testcpu/by-test.sh internal/local/cluster -race
#   GOWORK=off bench/testcpu/by-test.sh internal/workflow -race
set -euo pipefail
cd "$(dirname "$0")/../.."
tools=$(scripts/tools.sh)
export PATH="$tools:$PATH"
export GOFLAGS="-trimpath -ldflags=-w${GOFLAGS:+ $GOFLAGS}"
dir=$1; shift
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$dir" && go test -c -tags integration -o "$tmp/pkg.test" "$@" .)
for t in $(cd "$dir" && "$tmp/pkg.test" -test.list '.*' | grep -E '^(Test|Example)'); do
	(cd "$dir" && /usr/bin/time -o "$tmp/time" -f '%U %S %e' "$tmp/pkg.test" -test.run "^$t\$" -test.count=1 -test.timeout 30m >"$tmp/out" 2>&1) ||
		{ echo "FAIL $t (its output: see below)" >&2; tail -20 "$tmp/out" >&2; }
	read -r u s e <"$tmp/time"
	printf '%7.2f %6.2f %6.2f %7.1f  %s\n' "$(awk -v u="$u" -v s="$s" 'BEGIN{print u+s}')" "$u" "$s" "$e" "$t"
done | sort -rn | awk 'BEGIN { print "    cpu   user    sys    wall  test" } { print; n += $1 } END { printf "%7.2f  total\n", n }'

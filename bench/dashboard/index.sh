#!/usr/bin/env bash
# index.sh compares, side by side in one run, the service pages' two ways
# of reading the history (issue #16) on a repository of the issue's size:
# 200 services × dev/staging/prod and 5,000 commits (gitopsgen).
#
#   bench/dashboard/index.sh [COUNT]     # default 3 iterations per benchmark
#
#   walk   one walk of the whole history per service page and head (the
#          read before the index; history.Repo.Service)
#   index  one history.Index per head, shared by every page, extended by
#          the new commits when the head moves on (what the dashboard does)
#
# for two cases:
#   all         every one of the 200 service pages visited once at one head
#   new-commit  one commit on top, the poller's read (untimed), one page
#
# first as whole page visits (internal/dashboard BenchmarkServicePages, with
# retained-bytes: the heap the view keeps for the 200 pages), then as the
# reads alone (internal/gitops/history BenchmarkServiceReads, with
# index-bytes: the heap one index of the 5,000 commits holds); then the
# ratio walk/index of each. Report the ratios with the load average printed
# at the end: on a loaded machine every git process costs more, which
# narrows them.
set -euo pipefail
cd "$(dirname "$0")/../.."
count=${1:-3}
out=$(mktemp)
trap 'rm -f "$out"' EXIT
{
	go test ./internal/dashboard -run '^$' -bench '^BenchmarkServicePages$' -benchtime "${count}x" -count 1 -timeout 60m
	go test ./internal/gitops/history -run '^$' -bench '^BenchmarkServiceReads$' -benchtime "${count}x" -count 1 -timeout 60m
} | grep -E '^(Benchmark|ok|FAIL)' | tee "$out"
echo
awk '/^Benchmark/ {
	name = $1; sub(/-[0-9]+$/, "", name)
	how = name; sub(/.*\//, "", how); sub(/\/[^\/]*$/, "", name)
	ns[name, how] = $3; names[name] = 1
}
END {
	for (n in names) if (ns[n, "index"] > 0) printf "%-45s walk/index = %.1f×\n", n, ns[n, "walk"] / ns[n, "index"]
}' "$out" | sort
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) CPUs"

#!/usr/bin/env bash
# bench/gitops/trust.sh: the walk over delivery.yaml's history that every
# gate of a signedApprovals environment and `approve` there run
# (checkTrustChanges: each change to approvers, releaseManagers or signers
# since signing was turned on is judged against the last trusted version,
# and the newest must be signed by a release manager), side by side in one run
# with `git log -1 -- delivery.yaml`, on 5,000 commits of which 50 change
# delivery.yaml (none of them the trust lists: the walk's worst case).
#
#   bench/gitops/trust.sh [COUNT] [OLD_REV]   # e.g. trust.sh 5 main
#
# Prints walk-ms, log1-ms and walk/log1 per run (wall time; the two
# alternate within each iteration, so the machine's load weighs on both
# alike), and walk-cpu-ms and log1-cpu-ms (CPU time of the process and its
# git log: what a loaded machine disturbs least). With OLD_REV (a commit of this
# repository that has checkTrustChanges), the same benchmark runs on that
# commit's code afterwards, for a before/after.
set -euo pipefail
cd "$(dirname "$0")/../.."
count=${1:-5}
old_rev=${2:-}
# The benchmark and its helpers, copied into OLD_REV's tree.
bench=(internal/gitops/write/trustchanges_bench_test.go internal/gitops/write/cputime_internal_unix_test.go internal/gitops/write/cputime_internal_other_test.go)
run() { # run DIR LABEL
	echo "== $2"
	(cd "$1" && go test ./internal/gitops/write -run '^$' -bench '^BenchmarkTrustChangesWalk$' -count "$count" -timeout 30m) |
		grep -E '^(Benchmark|ok|FAIL)'
}
echo "machine: $(nproc) cores, load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
run . "work tree ($(git rev-parse --short HEAD))"
if [[ -n $old_rev ]]; then
	work=$(mktemp -d)
	trap 'rm -rf "$work"' EXIT
	git archive "$old_rev" | tar -x -C "$work"
	for f in "${bench[@]}"; do cp "$f" "$work/$f"; done
	run "$work" "$old_rev ($(git rev-parse --short "$old_rev"))"
fi
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"

#!/usr/bin/env bash
# run.sh measures the GitOps readers on a repository of production size:
# 200 services × dev/staging/prod and 5,000 commits of deploys, promotions,
# rollbacks and holds (built with git fast-import in about a second).
#
#   bench/gitops-read/run.sh [RUNS]        # default 20 runs per command
#
# For `smpctl status`, `smpctl metrics --window 720h` and `smpctl history`,
# it prints p50, p95 and max of the wall time and the peak RSS (max RSS of
# smpctl and the git processes it waits for, from /usr/bin/time -f %M),
# against the issue's targets (status < 300 ms, metrics < 1 s, < 150 MB),
# and the mean CPU time (user + sys of smpctl and its git processes), which a
# loaded machine disturbs less than the wall time.
# Numbers depend on the machine and its load: report them with the command
# and the load average printed at the end.
set -euo pipefail
cd "$(dirname "$0")/../.."
runs=${1:-20}
services=${SERVICES:-200}
commits=${COMMITS:-5000}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

go build -o "$work/smpctl" ./cmd/smpctl
go run ./bench/gitops-read/gen -dir "$work/gitops.git" -services "$services" -commits "$commits"

# measure NAME ARGS...: runs smpctl ARGS $runs times (after one warm-up).
measure() {
	local name=$1; shift
	"$work/smpctl" "$@" >/dev/null
	: >"$work/$name.times"
	for _ in $(seq "$runs"); do
		/usr/bin/time -f '%e %M %U %S' -a -o "$work/$name.times" "$work/smpctl" "$@" >/dev/null
	done
	sort -n -k1,1 "$work/$name.times" | awk -v name="$name" -v n="$runs" '
		{ t[NR] = $1; if ($2 > rss) rss = $2; cpu += $3 + $4 }
		END {
			p50 = t[int((n + 1) * 0.50)]; p95 = t[int(n * 0.95 + 0.999)]; if (p95 == "") p95 = t[n]
			printf "%-8s runs=%d  wall p50=%4.0f ms  p95=%4.0f ms  max=%4.0f ms  cpu mean=%4.0f ms  max RSS=%5.1f MB\n",
				name, n, p50 * 1000, p95 * 1000, t[n] * 1000, cpu / n * 1000, rss / 1024
		}'
}

echo "repository: $services services × 3 environments, $(git -C "$work/gitops.git" rev-list --count main) commits, $(du -sh "$work/gitops.git" | cut -f1)"
measure status status --gitops "$work/gitops.git"
# The same repository as a URL: read from its mirror in the shared cache
# (fetched on every run; the mirror has a commit-graph with Bloom filters).
measure status-url status --gitops "file://$work/gitops.git" --cache-dir "$work/cache"
measure metrics metrics --gitops "$work/gitops.git" --window 720h
measure history history --gitops "$work/gitops.git" --env prod --service svc-007
echo "targets: status < 300 ms, metrics < 1000 ms, max RSS < 150 MB"
echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"

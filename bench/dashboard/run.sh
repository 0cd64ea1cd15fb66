#!/usr/bin/env bash
# run.sh measures `smpctl dashboard` on a repository of the issue's size:
# 200 services × dev/staging/prod and 5,000 commits (gitopsgen, built with
# git fast-import), against the issue's targets (first paint ≤ 1 s, page
# weight ≤ 300 KB).
#
#   bench/dashboard/run.sh [COUNT]     # default 10 iterations per benchmark
#
# It prints, per benchmark, the time per page and its weight:
#   BenchmarkHomeFirstRequest   / before the repository was read (read + render)
#   BenchmarkHomeRender         / from the view the poller keeps (render only)
#   BenchmarkServicePage        /services/svc-007 (histories, diff, metrics)
#   BenchmarkFirstPaintInChromium/{warm,cold}
#                               first contentful paint in headless Chromium
#                               (scripts/tools.sh chromium), fcp-ms
# (BenchmarkServicePages, the service pages' history index against a walk
# per page, has its own script: bench/dashboard/index.sh.)
# html-bytes is the page, page-bytes the page with its stylesheet and script,
# page-gzip-bytes the same compressed. Numbers depend on the machine and its
# load: report them with the command and the load average printed at the end.
set -euo pipefail
cd "$(dirname "$0")/../.."
count=${1:-10}
go test ./internal/dashboard -run '^$' -bench '^Benchmark(HomeFirstRequest|HomeRender|ServicePage|FirstPaintInChromium)$' -benchtime "${count}x" -count 1 -timeout 30m |
	grep -E '^(Benchmark|ok|FAIL)'
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) CPUs"

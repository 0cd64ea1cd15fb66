#!/usr/bin/env bash
# run.sh: smpctl build against plain `go build` and ko v0.19.1, same run,
# warm caches (BenchmarkBuildVsGoBuild in internal/image).
#
#   bench/images/run.sh                      # package: smpctl itself (cmd/smpctl)
#   BENCH_PKG=examples/order-svc/cmd/server bench/images/run.sh
#   COUNT=5 bench/images/run.sh              # iterations (default 3)
#   CPUPROFILE=/tmp/cpu.out bench/images/run.sh   # where smpctl's own work goes
#                                            # (go tool pprof -top internal/image/image.test /tmp/cpu.out;
#                                            # go build runs in child processes, not in it)
#
# Metrics: go-build-ms, smpctl-build-ms, smpctl/go-ratio (target <= 1.2),
# smpctl-overhead-ms and smpctl/own-go-build-ratio (smpctl against the go
# build it ran itself: steadier than against a separate go build when other
# work loads the machine),
# binary-MiB, image-gz-MiB, image-raw-minus-binary-KiB (target <= 1024),
# ko-build+push-ms, ko-digest-stable (1 = same digest every time),
# smpctl-peak-rss-over-start-MiB (smpctl's own memory; the compiler runs in
# child processes and is not counted).
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
SMP_TOOLS=$(scripts/tools.sh ko crane)
export PATH="$SMP_TOOLS:$PATH"
if [[ -n "${BENCH_PKG:-}" ]]; then
	BENCH_PKG=$(cd "$BENCH_PKG" && pwd)
	export BENCH_PKG
fi
cd internal/image
profile=()
if [[ -n "${CPUPROFILE:-}" ]]; then
	profile=(-cpuprofile "$CPUPROFILE" -o image.test)
fi
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)" | tee "$root/bench/images/last-run.txt"
go test -run '^$' -bench BenchmarkBuildVsGoBuild -benchtime "${COUNT:-3}x" -timeout 30m "${profile[@]}" . | tee -a "$root/bench/images/last-run.txt"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg) ($(nproc) cores)" | tee -a "$root/bench/images/last-run.txt"

#!/usr/bin/env bash
# idle.sh measures what a cluster costs while nothing happens: the CPU each
# of its processes uses per minute after `smpctl demo --engines kubernetes`
# has told its story (an HPA in staging and one in prod, three Applications,
# a Rollout), then the same with both HPAs deleted, in one run, so the HPA
# controller's share is a difference of two figures from one cluster. A
# loaded `make test` keeps its clusters up for minutes, so this cost is paid
# for every minute a test waits.
#   bench/kube/idle.sh [SECONDS]   # each sample (default 60)
# Needs the cluster binaries (scripts/tools.sh kube). CPU is read from
# /proc/PID/stat (utime+stime) of the cluster's processes, which are the
# demo's children.
set -euo pipefail
cd "$(dirname "$0")/../.."
secs=${1:-60}
PATH="$(scripts/tools.sh):$PATH"
scripts/tools.sh kube >/dev/null
ws=$(mktemp -d "${TMPDIR:-/tmp}/smp-idle.XXXXXX")
go build -o "$ws/smpctl" ./cmd/smpctl
"$ws/smpctl" demo --engines kubernetes --keep --workspace "$ws/demo" --service-dir examples/order-svc >"$ws/demo.out" 2>&1 &
demo=$!
stop() {
	kill -INT "$demo" 2>/dev/null || true
	wait "$demo" 2>/dev/null || true
	rm -rf "$ws"
}
trap stop EXIT
until grep -q 'kept running' "$ws/demo.out"; do
	if ! kill -0 "$demo" 2>/dev/null; then
		cat "$ws/demo.out" >&2
		echo "idle.sh: the demo ended before its cluster was kept running" >&2
		exit 1
	fi
	sleep 2
done
export KUBECONFIG=$ws/demo/cluster/kubeconfig
ticks=$(getconf CLK_TCK)
# sample prints "NAME CPU-TICKS" summed by process name over the demo's
# descendants.
sample() {
	local pids p
	pids=$(pgrep -P "$demo" || true)
	for p in $pids; do pids="$pids $(pgrep -P "$p" || true)"; done
	for p in $pids; do
		# /proc/PID/stat without its pid and state: the name, then field 4
		# on; utime and stime (fields 14 and 15) are $12 and $13.
		[[ -r /proc/$p/stat ]] && sed 's/^[0-9]* (\(.*\)) [A-Z] /\1 /' "/proc/$p/stat" | awk '{print $1, $12 + $13}'
	done | awk '{a[$1] += $2} END {for (k in a) print k, a[k]}' | sort
}
# idle LABEL: CPU-s per minute of each process over $secs seconds.
idle() {
	sample >"$ws/a"
	sleep "$secs"
	sample >"$ws/b"
	join "$ws/a" "$ws/b" | awk -v t="$ticks" -v s="$secs" '{ printf "%.2f %s\n", ($3 - $2) / t * 60 / s, $1 }' |
		sort -rn >"$ws/d"
	printf '\n%s: %.1f CPU-s a minute\n' "$1" "$(awk '{ n += $1 } END { print n }' "$ws/d")"
	awk '$1 >= 0.05 { printf "  %6.2f  %s\n", $1, $2 }' "$ws/d"
}
sleep 10 # the story's last sync settles
idle "idle after the story (HPAs in staging and prod)"
kubectl delete hpa --all -n smp-staging >/dev/null
kubectl delete hpa --all -n smp-prod >/dev/null
sleep 5
idle "the same cluster with both HPAs deleted"

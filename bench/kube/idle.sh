#!/usr/bin/env bash
# idle.sh measures what a cluster costs while nothing happens: the CPU each
# of its processes uses per minute after `smpctl demo --engines kubernetes`
# has told its story (an HPA in staging and one in prod, three Applications,
# a Rollout), in three samples from one cluster:
#   1. right after the story, while Argo Rollouts still has old ReplicaSets
#      to scale down (an aborted update's after 30 s, a promoted one's
#      after the chart's scaleDownDelaySeconds, 300 s);
#   2. settled: once each namespace has one ReplicaSet with replicas;
#   3. settled, with both HPAs deleted (the HPA controller's share is 2 - 3).
# A former version took only the first sample, after the story's last
# scale-down, and its 16-27 CPU-s a minute (one run, not reproduced: the
# same window read 3.9 and 4.7 in two later runs) were read as the idle
# cost. Settled: 4.1, and 1.1-1.3 ten minutes on (2026-12-07).
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
idle "right after the story (old ReplicaSets still to scale down)"
# Settled is one ReplicaSet with replicas per namespace: Argo Rollouts has
# scaled down every old one.
scaling() {
	kubectl get rs -A -o jsonpath='{range .items[?(@.spec.replicas>0)]}{.metadata.namespace}{"\n"}{end}' | sort | uniq -d | grep -q .
}
waited=$SECONDS
while scaling; do
	if ! kill -0 "$demo" 2>/dev/null; then
		echo "idle.sh: the demo ended while its ReplicaSets were scaling down" >&2
		exit 1
	fi
	sleep 5
done
printf '\n(the last scale-down came %d s after the first sample)\n' $((SECONDS - waited))
sleep 10
idle "settled (HPAs in staging and prod)"
kubectl delete hpa --all -n smp-staging >/dev/null
kubectl delete hpa --all -n smp-prod >/dev/null
sleep 5
idle "the same cluster with both HPAs deleted"

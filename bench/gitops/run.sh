#!/usr/bin/env bash
# bench/gitops/run.sh: the GitOps write benchmarks of issue 3, in one run.
#
#   bench/gitops/run.sh [DEPLOYS]     # default 30 sequential deploys
#
# 1. `smpctl deploy` (the built binary) on a local bare repository with 200
#    services × 3 environments and 5,000 commits of history: p50/p95 wall
#    time per deploy and the max RSS (GNU time %M: the largest of smpctl and
#    the git processes it waited for).
# 2. 20 concurrent `smpctl deploy` of 20 different services: successes,
#    failures, wall time.
# 3. In the same run, the seed's shell step (checkout --depth 1, yq, git
#    commit, git push) 20 at once on a fresh copy of the same repository:
#    failures and wall time — side by side with 2. The yq is mikefarah yq
#    v4.45.1 (the seed's syntax), installed with go install; Debian's `yq`
#    package is a different program (a jq wrapper) and is not used.
# 4. The Go benchmarks (in-process): go test -bench BenchmarkDeploy.
set -euo pipefail
cd "$(dirname "$0")/../.."
deploys=${1:-30}
SMP_TOOLS=${SMP_TOOLS:-${XDG_CACHE_HOME:-$HOME/.cache}/smp-delivery/bin}
YQ_VERSION=v4.45.1
if [[ ! -x $SMP_TOOLS/yq || "$(cat "$SMP_TOOLS/.yq.version" 2>/dev/null)" != "$YQ_VERSION" ]]; then
	mkdir -p "$SMP_TOOLS"
	GOBIN=$SMP_TOOLS go install "github.com/mikefarah/yq/v4@$YQ_VERSION"
	echo "$YQ_VERSION" >"$SMP_TOOLS/.yq.version"
fi
yq=$SMP_TOOLS/yq
[[ -x /usr/bin/time ]] || { echo "bench: GNU time (/usr/bin/time) is required: apt-get install time" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# smpctl keeps its mirrors of GitOps remotes here (docs/gitops-write.md):
# the benchmark's own, so it neither reads nor litters the user's cache.
export XDG_CACHE_HOME=$work/cache
go build -o "$work/smpctl" ./cmd/smpctl
# The history ends in 2025, before the deploys' --source-time below.
go run ./bench/gitops-read/gen -dir "$work/pristine.git" -services 200 -commits 5000 -start 2025-01-01T00:00:00Z
git -C "$work/pristine.git" repack -adq
echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "repository: 200 services, $(git -C "$work/pristine.git" rev-list --count main) commits, $(du -sh "$work/pristine.git" | cut -f1) packed"

digest() { printf 'sha256:%064x' "$1"; }
percentile() { # percentile P < numbers
	sort -n | awk -v p="$1" '{a[NR]=$1} END {i=int((NR*p+99)/100); if (i<1) i=1; print a[i]}'
}

# 1. Sequential deploys.
cp -r "$work/pristine.git" "$work/seq.git"
: >"$work/seq.txt"
for i in $(seq 1 "$deploys"); do
	svc=$(printf 'svc-%03d' $(( (i * 7) % 200 )))
	/usr/bin/time -f '%e %M %U %S' -o "$work/t" "$work/smpctl" deploy --gitops "$work/seq.git" --env dev --service "$svc" \
		--image "ghcr.io/smp/$svc:2.$i.0@$(digest $((1000000 + i)))" \
		--source-commit "$(printf '%040x' "$i")" --source-time "2026-06-01T00:$(printf '%02d' $((i % 60))):00Z" --by bench >/dev/null
	cat "$work/t" >>"$work/seq.txt"
done
# The first deploy clones the repository into the cache; the others fetch.
cold=$(awk 'NR==1 {print $1}' "$work/seq.txt")
p50=$(awk '{print $1}' "$work/seq.txt" | percentile 50)
p95=$(awk '{print $1}' "$work/seq.txt" | percentile 95)
rss=$(awk '{print $2}' "$work/seq.txt" | sort -n | tail -1)
cpu50=$(awk '{printf "%.2f\n", $3 + $4}' "$work/seq.txt" | percentile 50)

# 2. 20 concurrent smpctl deploys of different services, the cache warm
# (one read first, as on a runner that keeps its cache between jobs).
cp -r "$work/pristine.git" "$work/smpctl.git"
"$work/smpctl" status --gitops "file://$work/smpctl.git" >/dev/null
start=$(date +%s%N)
for i in $(seq 0 19); do
	svc=$(printf 'svc-%03d' "$i")
	( "$work/smpctl" deploy --gitops "$work/smpctl.git" --env dev --service "$svc" \
		--image "ghcr.io/smp/$svc:3.0.0@$(digest $((2000000 + i)))" --by bench >"$work/smpctl-$i.out" 2>&1 \
		&& echo ok >"$work/smpctl-$i.rc" || echo fail >"$work/smpctl-$i.rc" ) &
done
wait
smpctl_wall=$(awk -v a="$start" -v b="$(date +%s%N)" 'BEGIN{printf "%.2f", (b-a)/1e9}')
smpctl_fail=$(cat "$work"/smpctl-*.rc | grep -c fail || true)
for i in $(seq 0 19); do
	if grep -q fail "$work/smpctl-$i.rc"; then echo "smpctl deploy $i failed: $(tail -1 "$work/smpctl-$i.out")"; fi
done

# 3. The seed's shell step, 20 at once (each its own checkout, as in CI).
cp -r "$work/pristine.git" "$work/seed.git"
start=$(date +%s%N)
for i in $(seq 0 19); do
	svc=$(printf 'svc-%03d' "$i")
	(
		set -e
		git clone -q --depth 1 "file://$work/seed.git" "$work/seed-$i"
		cd "$work/seed-$i/environments/dev"
		"$yq" e -i ".image.tag = \"3.0.0\"" "$svc.yaml"
		git config user.email "ci@smp.vn"
		git config user.name "ci-bot"
		git add . && git commit -q -m "deploy(dev): $svc → 3.0.0"
		git push -q
	) >"$work/seed-$i.out" 2>&1 && echo ok >"$work/seed-$i.rc" || echo fail >"$work/seed-$i.rc" &
done
wait
seed_wall=$(awk -v a="$start" -v b="$(date +%s%N)" 'BEGIN{printf "%.2f", (b-a)/1e9}')
seed_fail=$(cat "$work"/seed-*.rc | grep -c fail || true)
seed_reason=$(grep -h -o -m1 -E '\[rejected\].*|failed to push.*' "$work"/seed-*.out | sort | uniq -c | sort -rn | head -1 || true)
# The same tag again (the seed's "second merge"): the shell step's second
# run has nothing to commit and fails; smpctl says "already deployed", exit 0.
seed_step() {
	cd "$work/seed-again/environments/dev"
	"$yq" e -i '.image.tag = "9.9.9"' svc-000.yaml
	git add . && git -c user.email=ci@smp.vn -c user.name=ci-bot commit -q -m "deploy(dev): svc-000 → 9.9.9" && git push -q
}
git clone -q --depth 1 "file://$work/seed.git" "$work/seed-again"
(seed_step) >/dev/null 2>&1 || { echo "bench: the seed step's first run failed" >&2; exit 1; }
(seed_step) >/dev/null 2>&1 && seed_again=0 || seed_again=$?
"$work/smpctl" deploy --gitops "$work/smpctl.git" --env dev --service svc-000 \
	--image "ghcr.io/smp/svc-000:3.0.0@$(digest 2000000)" >/dev/null && smpctl_again=0 || smpctl_again=$?

echo
echo "== smpctl deploy, one at a time ($deploys deploys, 200 services × 3 envs, 5,000 commits)"
printf 'wall p50 %ss   p95 %ss   max RSS %s KiB   CPU (user+sys, smpctl and its git processes) p50 %ss\n' "$p50" "$p95" "$rss" "$cpu50"
printf 'the first deploy (clones into the empty cache): %ss\n' "$cold"
echo
echo "== 20 deploys of 20 different services at once"
printf '%-34s %10s %10s %10s\n' "" "succeeded" "failed" "wall (s)"
printf '%-34s %10d %10d %10s\n' "smpctl deploy (retry + re-apply)" $((20 - smpctl_fail)) "$smpctl_fail" "$smpctl_wall"
printf '%-34s %10d %10d %10s\n' "seed shell step (yq, commit, push)" $((20 - seed_fail)) "$seed_fail" "$seed_wall"
echo "seed failures: $seed_reason"
echo
echo "== the same tag deployed again"
echo "smpctl deploy exit $smpctl_again (already deployed); seed shell step exit $seed_again (nothing to commit)"
[[ -n ${SKIP_GO_BENCH:-} ]] && exit 0
echo
echo "== Go benchmarks (in-process, same repository shape)"
go test -run '^$' -bench 'BenchmarkDeploy$' -benchtime "${BENCHTIME:-10x}" ./internal/gitops/write/ | grep -E '^Benchmark'
go test -run '^$' -bench 'BenchmarkDeploy20Concurrent' -benchtime "${BENCHTIME_CONCURRENT:-2x}" ./internal/gitops/write/ | grep -E '^Benchmark'

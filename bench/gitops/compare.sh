#!/usr/bin/env bash
# bench/gitops/compare.sh: the write path of two smpctl builds, side by side
# in one run, so the machine's load weighs on both alike.
#
#   bench/gitops/compare.sh OLD_REV [DEPLOYS]   # e.g. compare.sh main 30
#
# Builds smpctl at OLD_REV (a commit of this repository) and at the work
# tree, then on copies of one repository (200 services × 3 environments,
# 5,000 commits, local bare remote, each build its own warm cache):
# 1. DEPLOYS sequential deploys, the two builds alternating deploy by deploy
#    (and which goes first alternating too): wall p50/p95 and CPU time
#    (user + sys of smpctl and every git process it waited for, remote side
#    included, since the remote is local) p50;
# 2. 20 concurrent deploys of 20 different services, old then new then old
#    then new: wall, CPU and how many landed.
# Wall times mean something only on a quiet machine: the load average is
# printed before and after; CPU times and ratios are what a loaded machine
# disturbs least.
set -euo pipefail
cd "$(dirname "$0")/../.."
old_rev=${1:?usage: compare.sh OLD_REV [DEPLOYS]}
deploys=${2:-30}
[[ -x /usr/bin/time ]] || { echo "compare: GNU time (/usr/bin/time) is required" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir "$work/old-src"
git archive "$old_rev" | tar -x -C "$work/old-src"
(cd "$work/old-src" && go build -o "$work/old" ./cmd/smpctl)
go build -o "$work/new" ./cmd/smpctl
go run ./bench/gitops-read/gen -dir "$work/pristine.git" -services 200 -commits 5000 -start 2025-01-01T00:00:00Z
git -C "$work/pristine.git" repack -adq
echo "old: $(git rev-parse --short "$old_rev"); new: the work tree at $(git rev-parse --short HEAD)"
echo "machine: $(nproc) cores, load average before: $(cut -d' ' -f1-3 /proc/loadavg)"

digest() { printf 'sha256:%064x' "$1"; }
percentile() { # percentile P < numbers
	sort -n | awk -v p="$1" '{a[NR]=$1} END {i=int((NR*p+99)/100); if (i<1) i=1; print a[i]}'
}
deploy() { # deploy BUILD REMOTE SERVICE N [extra flags]
	local b=$1 remote=$2 svc=$3 n=$4
	shift 4
	"$work/$b" deploy --gitops "$remote" --cache-dir "$work/cache-$b" --env dev --service "$svc" \
		--image "ghcr.io/smp/$svc:2.$n.0@$(digest $((1000000 + n)))" --by bench "$@" >/dev/null
}
# /usr/bin/time runs them through bash, so that it counts every process.
export work
export -f deploy digest

# 1. Sequential, alternating. The first deploy of each clones into its
# empty cache and is not counted.
for b in old new; do
	cp -r "$work/pristine.git" "$work/seq-$b.git"
	: >"$work/seq-$b.txt"
	deploy "$b" "$work/seq-$b.git" svc-199 0
done
for i in $(seq 1 "$deploys"); do
	svc=$(printf 'svc-%03d' $(( (i * 7) % 200 )))
	order="old new"
	((i % 2)) || order="new old"
	for b in $order; do
		/usr/bin/time -f '%e %U %S' -a -o "$work/seq-$b.txt" bash -c 'deploy "$@"' _ "$b" "$work/seq-$b.git" "$svc" "$i" \
			--source-commit "$(printf '%040x' "$i")" --source-time "2026-06-01T00:$(printf '%02d' $((i % 60))):00Z"
	done
done
echo
echo "== one deploy at a time ($deploys each, alternating)"
printf '%-4s %10s %10s %14s\n' "" "wall p50" "wall p95" "CPU p50"
for b in old new; do
	printf '%-4s %9ss %9ss %13ss\n' "$b" \
		"$(awk '{print $1}' "$work/seq-$b.txt" | percentile 50)" \
		"$(awk '{print $1}' "$work/seq-$b.txt" | percentile 95)" \
		"$(awk '{printf "%.2f\n", $2 + $3}' "$work/seq-$b.txt" | percentile 50)"
done

# 2. 20 at once, twice per build, alternating.
echo
echo "== 20 deploys of 20 different services at once"
printf '%-4s %6s %10s %10s %10s\n' "" "round" "landed" "wall (s)" "CPU (s)"
for round in 1 2; do
	for b in old new; do
		remote=$work/conc-$b-$round.git
		cp -r "$work/pristine.git" "$remote"
		rm -rf "$work/cache-$b"
		"$work/$b" status --gitops "file://$remote" --cache-dir "$work/cache-$b" >/dev/null
		before=$(git -C "$remote" rev-list --count main)
		# shellcheck disable=SC2016 # expanded by the inner bash (work and deploy are exported)
		/usr/bin/time -f '%e %U %S' -o "$work/conc.t" bash -c '
			for i in $(seq 0 19); do
				deploy "$1" "file://$2" "$(printf "svc-%03d" "$i")" $((500 + $3 * 20 + i)) 2>>"$work/conc-$1.err" &
			done
			wait' _ "$b" "$remote" "$round" || true
		landed=$(($(git -C "$remote" rev-list --count main) - before))
		read -r wall user sys <"$work/conc.t"
		printf '%-4s %6d %7d/20 %10s %10.2f\n' "$b" "$round" "$landed" "$wall" "$(awk -v u="$user" -v s="$sys" 'BEGIN{print u + s}')"
	done
done
echo
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"

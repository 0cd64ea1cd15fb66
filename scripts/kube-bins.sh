#!/usr/bin/env bash
# kube-bins.sh builds, once per machine, the real engines that the cluster
# tests and smpctl demo --engines kubernetes run (internal/local/engines,
# docs/kubernetes.md): etcd, the Kubernetes control plane, KWOK, the Argo
# Rollouts controller and Argo CD, from source through the Go module proxy,
# plus the files they need at run time (KWOK's stage configs, the Rollouts
# and Argo CD CRDs, Argo CD's install configuration). It prints the directory
# that holds them.
#
#   scripts/kube-bins.sh              # build what is missing, print the directory
#   scripts/kube-bins.sh --dir        # only print the directory
#   scripts/kube-bins.sh COMPONENT... # only these (k8s, etcd, kwok, rollouts, argocd, argocd-config, helm)
#
# The directory is $SMP_KUBE_BINS, by default
# ${XDG_CACHE_HOME:-$HOME/.cache}/smp-delivery/kube/<versions>, outside git and
# keyed by every version below, so a version bump builds into a new
# directory and never mixes binaries. Each component is built in a throwaway
# module in a temporary directory (k8s.io/kubernetes and Argo Rollouts are not
# meant to be dependencies: their own go.mod replace lists are copied into it,
# read from the module cache at build time), staged next to the cache and
# renamed in, then stamped: a component whose stamp names its version is
# skipped, and an interrupted build leaves no stamp and no half-written file.
# Concurrent callers take turns on a lock, so the second finds the first's
# work done. Progress goes to stderr.
set -euo pipefail

K8S_VERSION=v1.34.4      # k8s.io/kubernetes: kube-apiserver, kube-controller-manager, kube-scheduler
ETCD_VERSION=v3.6.16     # go.etcd.io/etcd/server/v3
KWOK_VERSION=v0.8.0      # sigs.k8s.io/kwok
ROLLOUTS_VERSION=v1.8.5  # github.com/argoproj/argo-rollouts
ARGOCD_VERSION=v3.2.11   # github.com/argoproj/argo-cd/v3 (v3.2.12 does not compile, v3.3+ need a gitops-engine the proxy refuses)
# helm.sh/helm/v3: the helm CLI Argo CD's repository server runs (helm pull
# for OCI charts, helm template), at the version Argo CD v3.2.11 ships in its
# image (hack/tool-versions.sh: helm3_version). It is not in the directory's
# key: it came after the key, and its stamp (.helm.version) names its
# version, so adding it builds only helm into an existing directory.
HELM_VERSION=v3.18.4
# argocd-config is Argo CD's own configuration as its install manifests ship
# it (manifests/base/config at ARGOCD_VERSION: argocd-cm with its default
# resource.exclusions and ignoreResourceUpdates, the other config maps and
# argocd-secret): the clusters run Argo CD as it is installed. Like helm, it
# came after the key, its stamp names ARGOCD_VERSION, and adding it copies
# only these files into an existing directory.
# RECIPE changes when how a component is built changes (flags, layout), so
# the cache key changes with it.
RECIPE=1

key="k8s-${K8S_VERSION#v}_etcd-${ETCD_VERSION#v}_kwok-${KWOK_VERSION#v}_rollouts-${ROLLOUTS_VERSION#v}_argocd-${ARGOCD_VERSION#v}_r$RECIPE"
dir=${SMP_KUBE_BINS:-${XDG_CACHE_HOME:-$HOME/.cache}/smp-delivery/kube/$key}
log() { printf 'kube-bins: %s\n' "$*" >&2; }

if [[ ${1:-} == --dir ]]; then
	echo "$dir"
	exit 0
fi
ALL=(k8s etcd kwok rollouts argocd argocd-config helm)
if [[ $# -eq 0 ]]; then set -- "${ALL[@]}"; fi
for c in "$@"; do
	[[ " ${ALL[*]} " == *" $c "* ]] || { log "unknown component $c (one of: ${ALL[*]})"; exit 2; }
done

version_of() {
	case $1 in
	k8s) echo "$K8S_VERSION" ;; etcd) echo "$ETCD_VERSION" ;; kwok) echo "$KWOK_VERSION" ;;
	rollouts) echo "$ROLLOUTS_VERSION" ;; argocd | argocd-config) echo "$ARGOCD_VERSION" ;; helm) echo "$HELM_VERSION" ;;
	esac
}
done_() { [[ -f "$dir/.$1.version" && "$(cat "$dir/.$1.version")" == "$(version_of "$1")_r$RECIPE" ]]; }

todo=()
for c in "$@"; do done_ "$c" || todo+=("$c"); done
if [[ ${#todo[@]} -eq 0 ]]; then
	echo "$dir"
	exit 0
fi

mkdir -p "$dir/bin"
exec 9>"$dir/.lock"
if ! flock -n 9; then
	log "another kube-bins.sh is building into $dir; waiting for it"
	flock 9
fi
# The other caller may have built what we wanted while we waited.
todo=()
for c in "$@"; do done_ "$c" || todo+=("$c"); done
if [[ ${#todo[@]} -eq 0 ]]; then
	echo "$dir"
	exit 0
fi

# Staging directories live next to the cache (same file system: a rename is
# atomic) and go away with the script, whatever happens.
work=$(mktemp -d "$dir/.build.XXXXXX")
trap 'rm -rf "$work"' EXIT
export GOWORK=off GOFLAGS=-buildvcs=false CGO_ENABLED=0

# replaces GOMOD: the replace directives of a go.mod file as go mod edit
# -replace arguments. A replace to a local directory can only be
# k8s.io/kubernetes' staging repositories (./staging/src/k8s.io/X): those
# become the published module at the matching v0 version.
replaces() {
	awk '
		/^replace[ \t]*\(/ { blk = 1; next }
		blk && /^\)/ { blk = 0; next }
		blk { print; next }
		/^replace[ \t]/ { sub(/^replace[ \t]+/, ""); print }
	' "$1" | sed 's://.*$::' | while read -r line; do
		[[ $line == *"=>"* ]] || continue
		local l=${line%%=>*} r=${line#*=>} lmod lver rmod rver
		read -r lmod lver <<<"$l"
		read -r rmod rver <<<"$r"
		if [[ -z $rver ]]; then
			if [[ $rmod == ./staging/src/* ]]; then
				rver="v0.${K8S_VERSION#v1.}"
				rmod=${rmod#./staging/src/}
			else
				log "dropping local replace $line in $1"
				continue
			fi
		fi
		echo "-replace=$lmod${lver:+@$lver}=$rmod@$rver"
	done
}

# module COMPONENT MODULE VERSION PACKAGE...: a throwaway module in
# $work/COMPONENT/mod that requires MODULE@VERSION with MODULE's own replace
# directives and imports PACKAGE... (a tools.go), tidied.
module() {
	local c=$1 mod=$2 ver=$3; shift 3
	local m="$work/$c/mod"
	mkdir -p "$m"
	(
		cd "$m"
		go mod init "kubebins.local/$c" >/dev/null 2>&1
		go mod edit -require="$mod@$ver"
		go mod download "$mod@$ver"
		local gomod
		gomod=$(go mod download -json "$mod@$ver" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",*$/\1/p')
		mapfile -t reps < <(replaces "$gomod")
		if [[ ${#reps[@]} -gt 0 ]]; then go mod edit "${reps[@]}"; fi
		{
			printf '//go:build tools\n\npackage tools\n\nimport (\n'
			printf '\t_ "%s"\n' "$@"
			printf ')\n'
		} >tools.go
		go mod tidy
	)
}

# moddir COMPONENT MODULE: where MODULE's source is in the module cache.
moddir() { (cd "$work/$1/mod" && go list -m -f '{{.Dir}}' "$2"); }

# prepare COMPONENT: its module, resolved and downloaded (network-bound, so
# the components prepare in parallel).
prepare() {
	case $1 in
	k8s) module k8s k8s.io/kubernetes "$K8S_VERSION" \
		k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager k8s.io/kubernetes/cmd/kube-scheduler ;;
	etcd) module etcd go.etcd.io/etcd/server/v3 "$ETCD_VERSION" go.etcd.io/etcd/server/v3 ;;
	kwok) module kwok sigs.k8s.io/kwok "$KWOK_VERSION" sigs.k8s.io/kwok/cmd/kwok ;;
	rollouts) module rollouts github.com/argoproj/argo-rollouts "$ROLLOUTS_VERSION" github.com/argoproj/argo-rollouts/cmd/rollouts-controller ;;
	argocd) module argocd github.com/argoproj/argo-cd/v3 "$ARGOCD_VERSION" github.com/argoproj/argo-cd/v3/cmd ;;
	# Only files of the module: downloaded, not resolved (its go.mod is argocd's).
	argocd-config) (cd "$work" && go mod download "github.com/argoproj/argo-cd/v3@$ARGOCD_VERSION") ;;
	helm) module helm helm.sh/helm/v3 "$HELM_VERSION" helm.sh/helm/v3/cmd/helm ;;
	esac
}

# gobuild COMPONENT OUT PACKAGE [go build flags...]
gobuild() {
	local c=$1 out=$2 pkg=$3; shift 3
	(cd "$work/$c/mod" && go build -trimpath "$@" -o "$out" "$pkg")
}

# build COMPONENT: compiles into $work/COMPONENT/out (bin/, and data
# directories), then renames every file into $dir and writes the stamp.
build() {
	local c=$1 out="$work/$1/out" start=$SECONDS
	mkdir -p "$out/bin"
	log "building $c $(version_of "$c")"
	case $c in
	k8s)
		local cb=k8s.io/component-base/version minor=${K8S_VERSION#v1.}
		minor=${minor%%.*}
		local ld="-X $cb.gitVersion=$K8S_VERSION -X $cb.gitMajor=1 -X $cb.gitMinor=$minor -X $cb.gitTreeState=clean"
		(cd "$work/k8s/mod" && go build -trimpath -ldflags "$ld" -o "$out/bin/" \
			k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager k8s.io/kubernetes/cmd/kube-scheduler)
		;;
	etcd) gobuild etcd "$out/bin/etcd" go.etcd.io/etcd/server/v3 ;;
	kwok)
		gobuild kwok "$out/bin/kwok" sigs.k8s.io/kwok/cmd/kwok
		local src
		src=$(moddir kwok sigs.k8s.io/kwok)/kustomize/stage
		mkdir -p "$out/kwok-stages"
		cp "$src/node/fast/node-initialize.yaml" "$src/node/heartbeat-with-lease/node-heartbeat-with-lease.yaml" \
			"$src/pod/fast/pod-ready.yaml" "$src/pod/fast/pod-complete.yaml" "$src/pod/fast/pod-delete.yaml" "$out/kwok-stages/"
		;;
	rollouts)
		gobuild rollouts "$out/bin/rollouts-controller" github.com/argoproj/argo-rollouts/cmd/rollouts-controller
		mkdir -p "$out/crds/rollouts"
		cp "$(moddir rollouts github.com/argoproj/argo-rollouts)"/manifests/crds/*-crd.yaml "$out/crds/rollouts/"
		;;
	argocd)
		gobuild argocd "$out/bin/argocd" github.com/argoproj/argo-cd/v3/cmd \
			-ldflags "-X github.com/argoproj/argo-cd/v3/common.version=${ARGOCD_VERSION#v}"
		# One multicall binary: it acts as the component its name says.
		local n
		for n in argocd-application-controller argocd-repo-server argocd-applicationset-controller; do
			ln -s argocd "$out/bin/$n"
		done
		mkdir -p "$out/crds/argocd"
		cp "$(moddir argocd github.com/argoproj/argo-cd/v3)"/manifests/crds/*-crd.yaml "$out/crds/argocd/"
		;;
	argocd-config)
		local src
		src=$(cd "$work" && go mod download -json "github.com/argoproj/argo-cd/v3@$ARGOCD_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",*$/\1/p')
		mkdir -p "$out/config/argocd"
		cp "$src"/manifests/base/config/argocd-*.yaml "$out/config/argocd/"
		;;
	helm)
		# helm version reports what Argo CD logs and checks.
		gobuild helm "$out/bin/helm" helm.sh/helm/v3/cmd/helm \
			-ldflags "-X helm.sh/helm/v3/internal/version.version=$HELM_VERSION -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
		;;
	esac
	chmod -R u+w "$out"
	local f rel
	while IFS= read -r f; do
		rel=${f#"$out"/}
		mkdir -p "$dir/$(dirname "$rel")"
		mv -fT "$f" "$dir/$rel"
	done < <(find "$out" \( -type f -o -type l \))
	echo "$(version_of "$c")_r$RECIPE" >"$dir/.$c.version.tmp"
	mv -f "$dir/.$c.version.tmp" "$dir/.$c.version"
	log "built $c in $((SECONDS - start))s"
}

log "building ${todo[*]} into $dir (once per machine: 20-30 min cold on 2 cores)"
started=$SECONDS
pids=()
for c in "${todo[@]}"; do
	prepare "$c" &
	pids+=("$!")
done
failed=0
for p in "${pids[@]}"; do wait "$p" || failed=1; done
if [[ $failed != 0 ]]; then
	log "resolving the modules failed (the go output is above); run scripts/kube-bins.sh again"
	exit 1
fi
log "modules resolved in $((SECONDS - started))s"
# One compile at a time: each go build already uses every core, and the
# largest peak near 2 GB of memory.
for c in "${todo[@]}"; do build "$c"; done
log "done in $((SECONDS - started))s"
echo "$dir"

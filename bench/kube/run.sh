#!/usr/bin/env bash
# run.sh measures commit → running on the real engines next to the local
# runtime, in one run (issue 14's figure):
#   - Argo CD: a deploy commit to dev → `smpctl sync dev` returns with the
#     Application Synced and Healthy (internal/kube BenchmarkSyncCommitToHealthy,
#     a cluster with Argo CD and Argo Rollouts, KWOK pods);
#   - the local runtime: a deploy commit pushed → the new version answers
#     /health on dev's URL (internal/local/cluster BenchmarkCommitToServing).
# p50 and p95 over N runs each (default 20), and their ratio.
# Needs the cluster binaries (scripts/tools.sh kube), MariaDB and Redis.
set -euo pipefail
cd "$(dirname "$0")/../.."
n=${1:-20}
scripts/tools.sh services kube >/dev/null
mkdir -p .cache
out=.cache/bench-kube.txt
go test -tags integration -run '^$' -bench 'SyncCommitToHealthy' -benchtime "${n}x" -timeout 30m ./internal/kube | tee "$out"
go test -run '^$' -bench 'CommitToServing' -benchtime "${n}x" ./internal/local/cluster | tee -a "$out"
awk '/^Benchmark/ {
       for (i = 1; i <= NF; i++) { if ($(i+1) == "p50-ms") p50[$1] = $i; if ($(i+1) == "p95-ms") p95[$1] = $i }
     }
     END {
       for (k in p50) { if (k ~ /SyncCommitToHealthy/) a = k; if (k ~ /CommitToServing/) l = k }
       printf "\n%-40s %10s %10s\n", "commit → running (dev)", "p50 ms", "p95 ms"
       printf "%-40s %10.0f %10.0f\n", "Argo CD: smpctl sync → Synced/Healthy", p50[a], p95[a]
       printf "%-40s %10.0f %10.0f\n", "local runtime: push → serving", p50[l], p95[l]
       printf "ratio Argo CD / local: p50 %.1f×, p95 %.1f×\n", p50[a] / p50[l], p95[a] / p95[l]
     }' "$out"

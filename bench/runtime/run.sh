#!/usr/bin/env bash
# run.sh measures the local runtime (issue 7's targets), side by side in one
# run with the physical reference:
#   - commit-to-serving in dev: the deploy commit pushed → the new version
#     answers /health on dev's stable URL (p50 over 10 runs);
#   - rollback-to-serving: the sync of a rollback commit after a promotion
#     (the previous version still runs) → it answers (p50 over 10 runs);
#   - the reference: exec the same binary, wait for /health (p50 over 10);
#   - the daemon's own max RSS with 3 environments × 2 services running.
# Needs MariaDB and Redis (scripts/tools.sh services) and prometheus.
set -euo pipefail
cd "$(dirname "$0")/../.."
scripts/tools.sh services prometheus >/dev/null
mkdir -p .cache
go test -run '^$' -bench 'CommitToServing|RollbackToServing|StartBinaryDirectly' -benchtime 10x ./internal/local/cluster | tee .cache/bench-runtime.txt
go test -run '^$' -bench 'DaemonRSS' -benchtime 1x ./internal/local/daemon | tee -a .cache/bench-runtime.txt
awk '/p50-ms/ {for (i=1;i<=NF;i++) if ($(i+1)=="p50-ms") p[$1]=$i}
     /maxRSS-MiB/ {for (i=1;i<=NF;i++) if ($(i+1)=="maxRSS-MiB") rss=$i}
     END {
       ref=p["BenchmarkStartBinaryDirectly-2"]; if (ref=="") for (k in p) if (k ~ /StartBinaryDirectly/) ref=p[k]
       for (k in p) if (k ~ /CommitToServing/) c=p[k]; for (k in p) if (k ~ /RollbackToServing/) a=p[k]
       printf "\ncommit-to-serving p50 %.0f ms = reference %.0f ms + %.0f ms (target: + ≤ 1000 ms)\n", c, ref, c-ref
       printf "rollback-to-serving p50 %.1f ms (target ≤ 300 ms)\n", a
       printf "daemon max RSS    %.1f MiB with 3 envs × 2 services (target < 150 MB)\n", rss
     }' .cache/bench-runtime.txt

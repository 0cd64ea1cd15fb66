#!/usr/bin/env bash
# release.sh runs the release benchmarks: conventional-commit parsing, and
# `release next` over a 5,000-commit history for the whole repository and
# for one monorepo service (--tag-prefix + --path), side by side in one run.
#
#   bench/release.sh            # 10 iterations each
#   COUNT=5 bench/release.sh    # repeat for benchstat
set -euo pipefail
cd "$(dirname "$0")/.."
go test -run '^$' -bench 'BenchmarkParse' -benchmem -count "${COUNT:-1}" ./internal/conventional/
go test -run '^$' -bench 'BenchmarkNextVersion' -benchtime 10x -count "${COUNT:-1}" ./internal/release/

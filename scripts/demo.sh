#!/usr/bin/env bash
# demo.sh is `make demo`: the main job on embedded defaults. It builds
# smpctl and runs `smpctl demo`, which walks the pipeline end to end.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/tools.sh services prometheus >/dev/null
exec bin/smpctl demo "$@"

#!/usr/bin/env bash
# demo.sh is `make demo`: the main job on embedded defaults. It builds
# smpctl and runs `smpctl demo`, which walks the pipeline end to end. Its
# arguments go to smpctl demo: `make demo KEEP=1` runs `demo.sh --keep`,
# `make demo ARGS='...'` passes ARGS (the Makefile says why not --keep).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/tools.sh services prometheus >/dev/null
exec bin/smpctl demo "$@"

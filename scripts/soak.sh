#!/usr/bin/env bash
# Soaks our node: about 200 peers at a time join, exchange requests and leave
# at random for 30 minutes (after a 2-minute warm-up wave), then the node must
# be back where the warm-up left it: descriptors exactly, memory and runtime
# tasks within 5 %. Arguments go to the load program, for example:
#
#   ./scripts/soak.sh                          # 30 minutes
#   ./scripts/soak.sh --soak 60s --recovery 10s
set -euo pipefail
cd "$(dirname "$0")/.."
exec ./scripts/load.sh --against ours --scenarios soak --check "$@"

#!/usr/bin/env bash
# Runs the load program (examples/src/bin/load) against our node and
# go-ethereum's geth, one fresh node per scenario, and prints the figures side
# by side as Markdown. Arguments go to the load program, for example:
#
#   ./scripts/load.sh                                  # every scenario, full size (about 15 minutes)
#   ./scripts/load.sh --against ours --scenarios hold --peers 2000
#
# Installs geth and the eth test chain first (scripts/install-go-ethereum.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

eval "$(./scripts/install-go-ethereum.sh)"
cargo build --release -p examples --bin load --bin node
if [ $# -eq 0 ]; then
  set -- --against ours,geth
fi
exec target/release/load "$@"

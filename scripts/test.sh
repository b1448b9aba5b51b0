#!/usr/bin/env bash
# Runs every test of the workspace, after installing what the interop tests need:
# the pinned @ethereumjs/devp2p from interop/ethereumjs/package-lock.json, and
# go-ethereum's geth and devp2p at the release pinned in
# scripts/install-go-ethereum.sh (built once, then cached).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -d interop/ethereumjs/node_modules/@ethereumjs/devp2p ] \
   || [ interop/ethereumjs/package-lock.json -nt interop/ethereumjs/node_modules/.package-lock.json ]; then
  npm ci --prefix interop/ethereumjs --no-audit --no-fund
fi

eval "$(./scripts/install-go-ethereum.sh)"

cargo test --workspace "$@"

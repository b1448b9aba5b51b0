#!/usr/bin/env bash
# Runs every test of the workspace, after installing what the interop tests need:
# the pinned @ethereumjs/devp2p from interop/ethereumjs/package-lock.json,
# go-ethereum's geth and devp2p at the release pinned in
# scripts/install-go-ethereum.sh (built once, then cached), and Debian's
# prometheus (for promtool) and chromium (a headless browser for the dashboard).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -d interop/ethereumjs/node_modules/@ethereumjs/devp2p ] \
   || [ interop/ethereumjs/package-lock.json -nt interop/ethereumjs/node_modules/.package-lock.json ]; then
  npm ci --prefix interop/ethereumjs --no-audit --no-fund
fi

missing=()
command -v promtool >/dev/null || missing+=(prometheus)
command -v chromium >/dev/null || missing+=(chromium)
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

eval "$(./scripts/install-go-ethereum.sh)"

cargo test --workspace "$@"

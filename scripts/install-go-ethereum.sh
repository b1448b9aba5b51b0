#!/usr/bin/env bash
# Installs go-ethereum's `geth` and `devp2p` at the pinned release, built from
# the Go module proxy, into a cache directory kept between runs on the same
# machine, and prints that directory's `bin`. The interop tests find the
# binaries and the eth test chain through the variables scripts/test.sh sets
# from it.
#
#   GO_ETHEREUM_VERSION   the release to install (default: the pinned one)
#   DEVP2P_RS_CACHE       the cache root (default: ~/.cache/devp2p-rs)
set -euo pipefail

version="${GO_ETHEREUM_VERSION:-v1.17.10}"
cache="${DEVP2P_RS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/devp2p-rs}"
prefix="$cache/go-ethereum-$version"
bin="$prefix/bin"

if ! command -v go >/dev/null; then
  echo "install-go-ethereum: Go is needed to build geth and devp2p" >&2
  exit 1
fi

# The module (with the eth test chain in cmd/devp2p/internal/ethtest/testdata)
# is needed even when the binaries are cached.
go mod download "github.com/ethereum/go-ethereum@$version" >&2

for tool in geth devp2p; do
  if [ ! -x "$bin/$tool" ]; then
    echo "install-go-ethereum: building $tool $version (a few minutes, once)" >&2
    mkdir -p "$bin"
    GOBIN="$bin" GOFLAGS=-mod=mod go install "github.com/ethereum/go-ethereum/cmd/$tool@$version" >&2
  fi
done

testdata="$(go env GOMODCACHE)/github.com/ethereum/go-ethereum@$version/cmd/devp2p/internal/ethtest/testdata"
if [ ! -f "$testdata/chain.rlp" ]; then
  echo "install-go-ethereum: no eth test chain at $testdata" >&2
  exit 1
fi
printf 'export GO_ETHEREUM_BIN=%q\n' "$bin"
printf 'export GO_ETHEREUM_TESTDATA=%q\n' "$testdata"

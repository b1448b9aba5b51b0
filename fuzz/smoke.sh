#!/usr/bin/env bash
# Builds the fuzz targets and runs each for N seconds (default 30):
#   fuzz/smoke.sh [SECONDS] [TARGET...]
# Exits non-zero if any target crashes (panic, failed assertion, sanitizer
# report, OOM or timeout); the failing inputs are in fuzz/artifacts/<target>/.
# Installs the nightly toolchain and cargo-fuzz when missing.
set -euo pipefail

secs="${1:-30}"
shift || true
cd "$(dirname "$0")"

if ! rustup run nightly rustc --version >/dev/null 2>&1; then
    rustup toolchain install nightly --profile minimal
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked
fi

if [ "$#" -gt 0 ]; then
    targets=("$@")
else
    mapfile -t targets < <(cargo +nightly fuzz list)
fi

cargo +nightly fuzz build

failed=()
for t in "${targets[@]}"; do
    mkdir -p "corpus/$t" "seeds/$t"
    echo "=== $t: ${secs}s"
    # The corpus grows in corpus/<t> (not committed); seeds/<t> is read only.
    if ! cargo +nightly fuzz run "$t" "corpus/$t" "seeds/$t" -- \
        -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1; then
        failed+=("$t")
    fi
done

if [ "${#failed[@]}" -gt 0 ]; then
    echo "FUZZ FAILURES: ${failed[*]} (inputs in $(pwd)/artifacts/)" >&2
    exit 1
fi
echo "all ${#targets[@]} fuzz targets ran ${secs}s without a crash"

#!/usr/bin/env bash
# Builds every fuzz target and gives each a short run, so the targets keep
# compiling and a shallow regression fails CI. Long runs are done by hand
# (fuzz/README.md). cargo-fuzz needs nightly flags: RUSTC_BOOTSTRAP=1 allows them
# on the stable toolchain.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
if ! command -v cargo-fuzz >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked --quiet
fi
export RUSTC_BOOTSTRAP=1
secs="${FUZZ_SECONDS:-10}"
cargo fuzz build -O --sanitizer none
for target in $(cargo fuzz list); do
    echo "-- fuzz $target (${secs}s)"
    mkdir -p "corpus/$target"
    log="$(mktemp)"
    if ! cargo fuzz run -O --sanitizer none "$target" -- -max_total_time="$secs" -print_final_stats=1 >"$log" 2>&1; then
        tail -n 60 "$log"
        echo "fuzz target $target failed" >&2
        exit 1
    fi
    grep -E 'stat::number_of_executed_units' "$log" || tail -n 3 "$log"
    rm -f "$log"
done

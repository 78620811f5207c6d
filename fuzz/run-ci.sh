#!/usr/bin/env bash
# Short fuzz run for CI: builds the three cargo-fuzz targets and fuzzes each for a few seconds,
# starting from the committed corpus. Fails on any crash, panic, timeout (> 2 s per input) or
# out-of-memory. Works on a stable-only toolchain: cargo-fuzz passes -Z flags to rustc, and
# RUSTC_BOOTSTRAP=1 lets stable accept them.
#
#   bash fuzz/run-ci.sh                 # FUZZ_SECONDS=20 per target
#   FUZZ_SECONDS=240 bash fuzz/run-ci.sh    # a longer local run (new inputs go to a temp dir)
#
# New inputs found during the run are written to a temporary folder, never to fuzz/corpus/;
# a crashing input is kept in fuzz/artifacts/<target>/ (git-ignored) and printed.
set -euo pipefail
cd "$(dirname "$0")"

CARGO_FUZZ_VERSION=0.13.2
SECONDS_PER_TARGET=${FUZZ_SECONDS:-20}
TARGETS=(content config condition)
export RUSTC_BOOTSTRAP=1

# Build flags: see fuzz/README.md for the measurements behind this choice.
BUILD=(${FUZZ_BUILD_FLAGS:---dev --sanitizer none})
if [[ -n "${FUZZ_TARGET_DIR:-}" ]]; then
    BUILD+=(--target-dir "$FUZZ_TARGET_DIR")
fi

if ! cargo fuzz --version 2>/dev/null | grep -qF "$CARGO_FUZZ_VERSION"; then
    cargo install cargo-fuzz --version "$CARGO_FUZZ_VERSION" --locked
fi

start=$SECONDS
cargo fuzz build "${BUILD[@]}"
echo "fuzz: built in $((SECONDS - start)) s"

passed=0
failed=0
for t in "${TARGETS[@]}"; do
    work=$(mktemp -d)
    args=(-max_len=65536 -timeout=2 -rss_limit_mb=2048 "-max_total_time=$SECONDS_PER_TARGET" -print_final_stats=1)
    if [[ -f "$t.dict" ]]; then
        args+=("-dict=$t.dict")
    fi
    echo "fuzz: $t for ${SECONDS_PER_TARGET}s"
    if ! cargo fuzz run "${BUILD[@]}" "$t" "$work" "corpus/$t" -- "${args[@]}" >"$work.log" 2>&1; then
        failed=$((failed + 1))
        echo "fuzz: $t FAILED; last lines of its log:"
        tail -n 60 "$work.log"
        ls -l "artifacts/$t" 2>/dev/null || true
    else
        passed=$((passed + 1))
        grep -E '^stat::(number_of_executed_units|new_units_added)|^Done' "$work.log" | sed "s/^/fuzz: $t: /" || true
    fi
    rm -rf "$work" "$work.log"
done
echo "fuzz: total $((SECONDS - start)) s"
echo "fuzz: $passed passed, $failed failed"
[[ $failed -eq 0 ]]

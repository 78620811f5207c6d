#!/usr/bin/env bash
# Every Pharos benchmark, then one table of the figures with their targets
# (also target/bench/report.json). About 17 minutes on 2 cores from a fresh clone (8 of them
# compiling); nothing fails on a time.
#   bash benches/run-all.sh
# Sizes and run lengths: PHAROS_BENCH_SIZES, PHAROS_CHANGE_SIZES, PHAROS_PUBLISH_SIZES,
# PHAROS_ENGINE_RUNS, PHAROS_ENGINE_SECS (see each bench's header).
set -euo pipefail
cd "$(dirname "$0")/.."
# Keeps target/bench/lighthouse.json: `bash benches/lighthouse.sh` (node, chromium) adds its row.
find target/bench -name '*.json' ! -name lighthouse.json -delete 2>/dev/null || true
cargo bench --no-run
for bench in build change publish engine parse detect subscribe summary; do
  echo "== cargo bench --bench $bench"
  start=$SECONDS
  cargo bench --bench "$bench"
  echo "(bench $bench: $((SECONDS - start)) s)"
done

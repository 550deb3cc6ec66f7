#!/usr/bin/env bash
# Benchmark (issue 15): what a schema rehearsal adds to `cargo xtask deploy`, on the
# example app and on a database of a few hundred tables built from a real Prisma
# history of ../shared/corpus (see BENCHMARKS.md). Usage:
#   scripts/bench-rehearsal.sh [REPS] [CORPUS_APP_DIR] [COPIES]
set -euo pipefail
cd "$(dirname "$0")/.."
reps="${1:-7}"
corpus="${2:-../shared/corpus/papermark}"
copies="${3:-5}"
args=("$reps")
if [ -d "$corpus" ]; then
  args+=("$corpus" "$copies")
else
  echo "no corpus at $corpus: measuring the example app only" >&2
fi
exec cargo run --release -q -p xtask --example bench_rehearsal -- "${args[@]}"

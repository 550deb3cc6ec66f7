#!/usr/bin/env bash
# Benchmark (issues 15 and 23): the default `cargo xtask deploy` (dev binary: backup,
# rehearsal, data checks, Prisma) against the seed's workflow (pg_dump, then `prisma
# migrate deploy`) and against `rehearse = "off"`, interleaved, on the example app (two
# pending migrations) and on a database of a few hundred tables built from a real Prisma
# history of ../shared/corpus (see BENCHMARKS.md). Usage:
#   scripts/bench-rehearsal.sh [REPS] [CORPUS_APP_DIR] [COPIES]
#   XTASK_BEFORE=/path/to/older/xtask scripts/bench-rehearsal.sh ...   # also time that build
#   PENDING=1 scripts/bench-rehearsal.sh ...   # pending migrations of the example app
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

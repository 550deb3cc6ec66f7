#!/usr/bin/env bash
# Check (issue 15): on every real Prisma history in ../shared/corpus, the rehearsal
# (each migration.sql sent whole as one query) agrees with the real Prisma CLI,
# file by file, on applied or failed. See BENCHMARKS.md. Usage:
#   scripts/rehearsal-agreement.sh [CORPUS_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
exec cargo run --release -q -p xtask --example rehearsal_agreement -- "${1:-../shared/corpus}"

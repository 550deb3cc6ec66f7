#!/usr/bin/env bash
# Planner benchmark (issue 10, item 5): a generated tasks.toml with a dependency chain
# of N tasks, listed (`--list`) and planned (`--dry-run` of the last task) through the
# binary `cargo xtask` builds (dev profile). Prints one line per size with the median
# of 3 runs and the machine's load.
# Usage: scripts/bench-planner.sh [N...]   (default: 10000 20000)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build -q -p xtask
bin="$PWD/target/debug/xtask"
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(10000 20000)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
for n in "${sizes[@]}"; do
  python3 - "$n" > "$work/tasks.toml" <<'PY'
import sys
n = int(sys.argv[1])
for i in range(n):
    print(f'[tasks.t{i}]\nrun = ["true"]')
    if i:
        print(f'deps = ["t{i-1}"]')
PY
  for what in list plan; do
    times=()
    for _ in 1 2 3; do
      if [ "$what" = list ]; then args=(--list); else args=("t$((n-1))" --dry-run); fi
      s=$(date +%s.%N); (cd "$work" && "$bin" "${args[@]}" >/dev/null); e=$(date +%s.%N)
      times+=("$(echo "$e - $s" | bc)")
    done
    printf '%s tasks, %s: %.3f s (median of 3), load %s\n' "$n" "$what" "$(printf '%s\n' "${times[@]}" | median)" "$(cut -d' ' -f1-3 /proc/loadavg)"
  done
done

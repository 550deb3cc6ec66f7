#!/usr/bin/env bash
# Benchmark (issue 2): a 2-task no-op chain run by our release binary against the
# same chain run by `just` (PyPI package rust-just), in one run, alternating,
# REPS repetitions each; prints the medians and the ratio. Then the cold
# `cargo build -p xtask` time on this machine (a fresh target directory).
#   scripts/bench-runner.sh [REPS]     (default 200)
set -euo pipefail
cd "$(dirname "$0")/.."
REPS="${1:-200}"
command -v just >/dev/null || pip install --quiet rust-just
cargo build --release -p xtask --quiet
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cat > "$work/tasks.toml" <<'TOML'
[tasks.first]
run = ["true"]
[tasks.second]
deps = ["first"]
run = ["true"]
TOML
cat > "$work/justfile" <<'JUST'
first:
    @true
second: first
    @true
JUST
python3 - "$PWD/target/release/xtask" "$work" "$REPS" <<'PY'
import statistics, subprocess, sys, time, os
xtask, work, reps = sys.argv[1], sys.argv[2], int(sys.argv[3])
env = dict(os.environ, CI="true")
cmds = {"xtask": [xtask, "second"], "just": ["just", "second"]}
times = {k: [] for k in cmds}
for _ in range(reps):
    for name, argv in cmds.items():
        t0 = time.perf_counter()
        subprocess.run(argv, cwd=work, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        times[name].append(time.perf_counter() - t0)
med = {k: statistics.median(v) * 1000 for k, v in times.items()}
print(f"2-task no-op chain, {reps} runs each, alternating")
print(f"  xtask median {med['xtask']:.2f} ms")
print(f"  just  median {med['just']:.2f} ms")
print(f"  ratio xtask/just = {med['xtask']/med['just']:.2f}")
PY
echo "cold build: cargo build -p xtask (debug, fresh target dir, $(nproc) cores)"
cold="$(mktemp -d)"
start=$(date +%s.%N)
CARGO_TARGET_DIR="$cold" cargo build -p xtask --quiet
end=$(date +%s.%N)
rm -rf "$cold"
python3 -c "print(f'  {float($end) - float($start):.1f} s')"

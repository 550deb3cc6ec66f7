#!/usr/bin/env python3
# Helper of scripts/bench.sh: runs commands interleaved (a new order every repetition, a
# shuffle with a fixed seed: a rotation kept each command after the same one, so one
# that follows a heavy command such as `cargo xtask` always paid for its aftermath),
# then prints each one's median wall
# time, its ratio to the first command's median, the median of the per-repetition
# ratios ("paired": the two ran back to back, so a change of machine load between
# repetitions cancels out), and the median CPU time (user+sys) of the command and the
# children it waited for (not the database server's).
#
#   bench-interleave.py REPS SPEC.json      (BENCH_JSON=FILE also writes the medians there)
#
# SPEC: {"warmup": 1, "commands": [{"name", "argv", "env": {}, "cwd", "setup": argv,
#        "cleanup": argv, "ok": [exit codes]}]}; setup/cleanup run untimed around each run.
import json, os, random, resource, statistics, subprocess, sys, time

reps = int(sys.argv[1])
spec = json.load(open(sys.argv[2]))
cmds = spec["commands"]


def run(c):
    env = dict(os.environ, **c.get("env", {}))
    quiet = dict(stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, cwd=c.get("cwd"))
    if c.get("setup"):
        subprocess.run(c["setup"], check=True, **quiet)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    p = subprocess.run(c["argv"], **quiet)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if p.returncode not in c.get("ok", [0]):
        sys.exit(f"{c['name']} exited {p.returncode}:\n{p.stderr.decode(errors='replace')[-3000:]}")
    if c.get("cleanup"):
        subprocess.run(c["cleanup"], check=True, **quiet)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


for _ in range(spec.get("warmup", 1)):
    for c in cmds:
        run(c)
wall = {c["name"]: [] for c in cmds}
cpu = {c["name"]: [] for c in cmds}
order = random.Random(23)
for i in range(reps):
    for c in order.sample(cmds, len(cmds)):
        w, u = run(c)
        wall[c["name"]].append(w)
        cpu[c["name"]].append(u)
    print(f"  {i + 1}/{reps} done", file=sys.stderr)

if os.environ.get("BENCH_JSON"):
    json.dump({n: statistics.median(v) for n, v in wall.items()}, open(os.environ["BENCH_JSON"], "w"))
base = cmds[0]["name"]
bm = statistics.median(wall[base])
width = max(len(c["name"]) for c in cmds)
unit = 1000 if bm < 1 else 1
u = "ms" if unit == 1000 else "s"
print(f"{'command':<{width}}  {'median':>9}  {'ratio':>6}  {'paired':>6}  {'cpu':>8}   runs ({u})")
for c in cmds:
    n = c["name"]
    m = statistics.median(wall[n])
    paired = statistics.median(a / b for a, b in zip(wall[n], wall[base]))
    runs = " ".join(f"{w * unit:.{1 if unit == 1000 else 2}f}" for w in wall[n])
    print(
        f"{n:<{width}}  {m * unit:>7.{1 if unit == 1000 else 3}f}{u:<2}  {m / bm:>6.3f}  {paired:>6.3f}  "
        f"{statistics.median(cpu[n]) * unit:>6.{0 if unit == 1000 else 2}f}{u:<2}   {runs}"
    )

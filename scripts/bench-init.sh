#!/usr/bin/env bash
# What looking for a monorepo's Prisma app costs `xtask init` (the dev binary that
# `cargo xtask` builds): init in a small monorepo (one app in apps/api) against the
# same monorepo with 100,000 more folders under a `packages/**` workspace glob (the
# walk reads at most 20,000 entries), and against that huge one when the root has
# its own app (no walk at all). Runs interleaved (scripts/bench-interleave.py).
#
#   scripts/bench-init.sh [REPS]     (default 15)
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
reps="${1:-15}"
cargo build -q -p xtask --manifest-path "$here/Cargo.toml"
bin="$here/target/debug/xtask"
work="$(mktemp -d /tmp/xtask-bench-init-XXXXXX)"
trap 'rm -rf "$work"' EXIT

app() { # DIR: a monorepo with its Prisma app in apps/api
  mkdir -p "$1/apps/api/prisma/migrations/20250101000000_init" "$1/apps/web"
  echo '{"name":"api","devDependencies":{"prisma":"6.19.3"}}' >"$1/apps/api/package.json"
  printf 'datasource db {\n  provider = "postgresql"\n  url = env("DATABASE_URL")\n}\n' >"$1/apps/api/prisma/schema.prisma"
  echo '{"name":"web"}' >"$1/apps/web/package.json"
  echo '{"name":"mono","private":true,"workspaces":["apps/*","packages/**"]}' >"$1/package.json"
}
app "$work/small"
app "$work/huge"
app "$work/rooted"
mkdir -p "$work/rooted/prisma" && cp "$work/small/apps/api/prisma/schema.prisma" "$work/rooted/prisma/"
python3 - "$work/huge/packages/gen" "$work/rooted/packages/gen" <<'PY'
import os, sys
for base in sys.argv[1:]:
    for i in range(316):
        for j in range(317):
            os.makedirs(f"{base}/d{i:03}/e{j:03}")
PY
echo "folders under huge/packages: $(find "$work/huge/packages" -type d | wc -l)"

clean='rm -rf xtask tasks.toml Cargo.toml Cargo.lock .cargo .gitignore'
for d in small huge rooted; do # what each run finds (the same every time)
  (cd "$work/$d" && "$bin" init --source "$here" | grep -E "Prisma app:|tasks.toml schema:" && sh -c "$clean")
done
spec="$work/spec.json"
python3 - "$spec" "$bin" "$here" "$work" "$clean" <<'PY'
import json, sys
spec, bin, src, work, clean = sys.argv[1:]
def cmd(name, d):
    return {"name": name, "argv": [bin, "init", "--source", src], "cwd": f"{work}/{d}",
            "setup": ["sh", "-c", clean], "env": {"NO_COLOR": "1"}}
json.dump({"warmup": 1, "commands": [cmd("init, small monorepo", "small"),
    cmd("init, +100k folders under packages/**", "huge"),
    cmd("init, same, root has its own app (no walk)", "rooted")]}, open(spec, "w"))
PY
uptime
python3 "$here/scripts/bench-interleave.py" "$reps" "$spec"
uptime

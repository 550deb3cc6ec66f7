#!/usr/bin/env bash
# Regenerates BENCHMARKS.md (everything above its marker line; what follows the marker
# is kept as it is) by measuring, in one run, on a throwaway PostgreSQL 15 cluster:
#   1. the cold build, with and without the dev profile's sha2 optimisation;
#   2. `cargo xtask <task>` when built, the dev binary alone, and `just`, on a 2-task chain;
#   3. `status` through the dev binary (and `cargo xtask`) against `prisma migrate status`;
#   4. `backup` through the dev binary against bare pg_dump on a pgbench database;
#   5. the backup formats on eight ~100 MB tables, and the server reading the same data;
#   6. `deploy` on the runbook's recovery scenario against the seed's shell workflow,
#      with the client programs it starts and the connections it opens.
# Every figure is printed with the machine's load average before and after it.
# Benchmarks run on demand only, never in the test suite.
#
#   scripts/bench.sh                 # about 10 minutes on 2 cores
#   REPS=3 SCALE=10 ROWS=100000 scripts/bench.sh    # a quick, smaller run
#   OUT=/tmp/b.md scripts/bench.sh   # write elsewhere than BENCHMARKS.md
#   COLD=0 ...                       # skip the two cold builds (checking this script)
#   RUNNER_BEFORE=/path/to/xtask ...  # the runner section also times this (older) binary
#   PARTS="backup deploy" scripts/bench.sh   # measure only these sections (of: cold runner
#                                    # status backup formats deploy); the others are kept
#                                    # as they are in the existing file, marked as such
#
# Needs: the PostgreSQL 15 server and client binaries (/usr/lib/postgresql/15/bin),
# pgbench, just (pip install rust-just), strace, python3, Backend/node_modules
# (scripts/install-test-deps.sh). As root the server runs as the `postgres` OS user.
set -euo pipefail

REPS=${REPS:-7}          # repetitions of the quick comparisons (backup, status: x2, runner: x4)
DEPLOY_REPS=${DEPLOY_REPS:-5}
SCALE=${SCALE:-35}       # pgbench scale of the backup database (35 is about 530 MB)
ROWS=${ROWS:-800000}     # rows of each of the eight wide tables (800000 is about 100 MB)
PARTS=${PARTS:-cold runner status backup formats deploy}   # which sections to measure
root=$(cd "$(dirname "$0")/.." && pwd)
out_md=${OUT:-$root/BENCHMARKS.md}
target=${CARGO_TARGET_DIR:-$root/target}
MARKER='<!-- scripts/bench.sh regenerates everything above this line; sections below it are kept as they are -->'
interleave() { python3 "$root/scripts/bench-interleave.py" "$@"; }
load() { echo "load average $(cut -d' ' -f1-3 /proc/loadavg)"; }
median() { tr ' ' '\n' | sed '/^$/d' | sort -n | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
jget() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$@"; }
calc() { awk "BEGIN { printf \"$1\", $2 }"; }
for tool in just strace python3 pgbench; do
  command -v "$tool" >/dev/null || { echo "bench.sh: $tool is not on PATH (see the header of this script)" >&2; exit 2; }
done
[ -d "$root/Backend/node_modules/prisma" ] || { echo "bench.sh: run scripts/install-test-deps.sh first" >&2; exit 2; }

. "$root/scripts/lib/bench-cluster.sh"
bench_workdir bench
md=$work/generated.md
section() { printf '\n## %s\n\n' "$1" >>"$md"; echo "== $1" >&2; }
para() { printf '%s\n\n' "$*" >>"$md"; }
block() { { echo '```text'; cat; echo '```'; echo; } >>"$md"; }
want() { case " $PARTS " in *" $1 "*) return 0 ;; esac; return 1; }
# A section this run does not measure: copied from the existing file (its heading up to
# the next heading or the marker), with a line saying so.
keep() {
  printf '\n## %s\n\n' "$1" >>"$md"
  local old=""
  [ -f "$out_md" ] && old=$(awk -v t="## $1" -v m="$MARKER" '
    $0 == t { on = 1; next }
    on && (/^## / || $0 == m) { exit }
    on { print }' "$out_md" | sed '/./,$!d')
  if [ -n "$old" ]; then
    printf '_Not measured by the latest run (PARTS="%s"): kept from an earlier run._\n\n%s\n' "$PARTS" "$(printf '%s\n' "$old" | sed '/^_Not measured by the latest run/,/^$/d')" >>"$md"
  else
    printf '_Not measured by the latest run (PARTS="%s")._\n' "$PARTS" >>"$md"
  fi
}

cat >"$md" <<EOF
# Benchmarks

Figures measured on this project's development machine by \`scripts/bench.sh\`, which
regenerates everything above the marker line at the end, so anyone can run them again
and compare. Each figure is printed with the load average before and after it: the
machine has $(nproc) CPUs and is shared with other jobs (compilers, test suites), so a
load above about 1 means the figures include waiting for a CPU. A target that is
missed says so.

- Run: $(date -u +%Y-%m-%dT%H:%MZ), \`REPS=$REPS DEPLOY_REPS=$DEPLOY_REPS SCALE=$SCALE ROWS=$ROWS PARTS="$PARTS" scripts/bench.sh\`
- Machine: $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')), $(free -g | awk '/Mem:/ { print $2 }') GB RAM, $(uname -sr)
- $("$pgbin/pg_dump" --version), $(cargo --version), Prisma $(cd "$root/Backend" && node -p 'require("prisma/package.json").version')

Columns of the tables below: \`median\` wall time; \`ratio\` to the first line's median;
\`paired\` the median of per-repetition ratios to the first line (they ran back to back,
so a change of load between repetitions cancels out); \`cpu\` user+sys of the command
and its child processes (not the database server's); then every run in order. The
commands are interleaved, the order rotated each repetition (scripts/bench-interleave.py).
EOF

if want cold; then
# ---------------------------------------------------------------- cold build
section "Cold build: \`cargo build -p xtask\` from nothing"
para "Every CI deploy compiles this crate. Built into fresh target directories, once with
the workspace's profile and once with the sha2 optimisation turned off (\`--config
profile.dev.package.sha2.opt-level=0\`, the profile before issue 14). Dependencies' sources
are already downloaded; nothing else differs. The two builds run one after the other, so a change of
load between them (other people's builds) changes the figures more than the profile does:
compare them only at similar load."
cold() { # label, extra cargo args...
  local label=$1 dir=$work/cold-$1 l0 t0 t1
  shift
  l0=$(load)
  t0=$(date +%s.%N)
  CARGO_TARGET_DIR=$dir cargo build --quiet -p xtask --manifest-path "$root/Cargo.toml" "$@"
  t1=$(date +%s.%N)
  printf '%-44s %6.1f s   (%s before, %s after)\n' "$label" "$(calc %.1f "$t1 - $t0")" "$l0" "$(load)"
}
if [ "${COLD:-1}" = 0 ]; then # a quick check of this script: no cold builds
  mkdir -p "$work/cold-sha2 unoptimised (before issue 14)/debug"
  cargo build --quiet -p xtask --manifest-path "$root/Cargo.toml"
  cp "$target/debug/xtask" "$work/cold-sha2 unoptimised (before issue 14)/debug/xtask"
  echo "(skipped: COLD=0)" | block
else {
  cold "sha2 at opt-level 3 (this profile)"
  cold "sha2 unoptimised (before issue 14)" --config 'profile.dev.package.sha2.opt-level=0'
} | tee -a /dev/stderr | block
fi
# The unoptimised build stays, as the "before" of the backup benchmark.
before_bin="$work/cold-sha2 unoptimised (before issue 14)/debug/xtask"
[ -x "$before_bin" ] || before_bin=$(ls "$work"/cold-sha2\ unoptimised*/debug/xtask)
rm -rf "$work/cold-sha2 at opt-level 3 (this profile)"
else keep "Cold build: \`cargo build -p xtask\` from nothing"; fi
before_bin=${before_bin:-} # without the cold builds, the backup has no "before" line

echo "building the dev and release binaries..." >&2
cargo build --quiet -p xtask --manifest-path "$root/Cargo.toml"
cargo build --quiet --release -p xtask --manifest-path "$root/Cargo.toml"
dev=$target/debug/xtask
rel=$target/release/xtask

if want runner; then
# ---------------------------------------------------------------- runner
section "\`cargo xtask <task>\` when already built, against \`just\`"
mkdir -p "$work/runner"
printf '[tasks.first]\nrun = ["true"]\n[tasks.second]\ndeps = ["first"]\nrun = ["true"]\n' >"$work/runner/tasks.toml"
printf 'first:\n    @true\nsecond: first\n    @true\n' >"$work/runner/justfile"
para "A 2-task no-op chain (\`second\` depends on \`first\`, each runs \`true\`) as users start it,
\`cargo xtask --config T second\` (cargo's freshness check, then the dev binary), against
\`just second\` on the equivalent justfile, with \`CI=true\` (plain output). The dev binary
started directly shows our own share; the rest of \`cargo xtask\` is cargo's."
# pip's rust-just behind pyenv puts a shim script on PATH that starts pyenv first
# (about 100 ms): time the `just` binary itself.
justbin=$(pyenv which just 2>/dev/null || command -v just)
python3 - "$work/runner/spec.json" "$root" "$dev" "$rel" "$work/runner" "${RUNNER_BEFORE:-}" "$justbin" <<'PY'
import json, sys
spec, root, dev, rel, d, before, just = sys.argv[1:]
env = {"CI": "true"}
cmds = [
    {"name": "just second", "argv": [just, "second"], "cwd": d, "env": env},
    {"name": "cargo xtask second", "argv": ["cargo", "xtask", "--config", f"{d}/tasks.toml", "second"], "cwd": root, "env": env},
    {"name": "dev binary second", "argv": [dev, "--config", f"{d}/tasks.toml", "second"], "cwd": d, "env": env},
    {"name": "release binary second", "argv": [rel, "--config", f"{d}/tasks.toml", "second"], "cwd": d, "env": env},
]
if before:
    cmds.append({"name": "before: dev binary second", "argv": [before, "--config", f"{d}/tasks.toml", "second"], "cwd": d, "env": env})
json.dump({"warmup": 2, "commands": cmds}, open(spec, "w"))
PY
{
  echo "$((REPS * 4)) repetitions; $(load) before"
  BENCH_JSON=$work/runner/m.json interleave $((REPS * 4)) "$work/runner/spec.json"
  echo "$(load) after"
} | tee -a /dev/stderr | block
j=$work/runner/m.json
before_note=""
if [ -n "${RUNNER_BEFORE:-}" ]; then
  before_note=" The line \`before: dev binary second\` is the dev binary of ${RUNNER_BEFORE_NAME:-an earlier commit}: $(calc %.1f "$(jget "$j" "before: dev binary second") * 1000") ms."
fi
c=$(jget "$j" "cargo xtask second"); d=$(jget "$j" "dev binary second"); jm=$(jget "$j" "just second")
para "\`cargo xtask\` / \`just\` = **$(calc %.1f "$c / $jm")**. Of the $(calc %.0f "$c * 1000") ms of
\`cargo xtask\`, cargo's own share (its start, reading the manifests, the freshness check of
the crate and its dependencies) is $(calc %.0f "($c - $d) * 1000") ms
($(calc %.0f "100 * ($c - $d) / $c") %); the dev binary itself takes $(calc %.1f "$d * 1000") ms
against \`just\`'s $(calc %.1f "$jm * 1000") ms: dev binary / \`just\` = **$(calc %.2f "$d / $jm")**
(target: at most 1.0). No target was set for the \`cargo xtask\` ratio: the figure is
cargo's, and the way around it is to run the built binary (\`target/debug/xtask\`) directly.$before_note"

else keep "\`cargo xtask <task>\` when already built, against \`just\`"; fi
if want status || want backup || want formats || want deploy; then
# ---------------------------------------------------------------- cluster
echo "starting PostgreSQL and filling the databases..." >&2
bench_cluster_start -c log_connections=on
base_url="postgresql://postgres@127.0.0.1:$port"
sql() { "$pgbin/psql" -X -q -At -v ON_ERROR_STOP=1 -d "$base_url/${2:-postgres}" -c "$1"; }
tool_url() { echo "postgresql://postgres:$password@127.0.0.1:$port/$1?schema=public&connection_limit=5"; }

# The example app, in a copy whose migration files the benchmark may change.
app=$work/app
mkdir -p "$app"
(cd "$root/Backend" && tar --exclude=node_modules -cf - .) | tar -xf - -C "$app"
ln -s "$root/Backend/node_modules" "$app/node_modules"
fixture=$(ls "$app"/fixtures/*.v1.sql | head -1)
migration=$(basename "$fixture" .v1.sql)
cat >"$work/tasks.toml" <<EOF
[prisma]
schema = "app/src/prisma/db/schema.prisma"
cwd = "app"
env = { PRISMA_SCHEMA_ENGINE_BINARY = "./scripts/schema-engine-shim" }
[backup]
dir = "backups"
[tasks.backup]
uses = "backup"
[tasks.deploy]
deps = ["backup"]
uses = "prisma-deploy"
rehearse = "off"
[tasks.status]
uses = "status"
EOF
prisma_env=(PRISMA_SCHEMA_ENGINE_BINARY=./scripts/schema-engine-shim CHECKPOINT_DISABLE=1 PRISMA_HIDE_UPDATE_MESSAGE=1)
prisma() { (cd "$app" && env "${prisma_env[@]}" npx prisma "$@" --schema src/prisma/db/schema.prisma); }
sql "CREATE DATABASE school"
DATABASE_URL=$(tool_url school) prisma migrate deploy >/dev/null 2>&1

fi
if want status; then
# ---------------------------------------------------------------- status
section "status: the dev binary against \`prisma migrate status\`"
para "Target (issue 14): \`status\` through the dev-profile binary at least **50 times** faster
than \`prisma migrate status\` on the same in-sync database (the example app, 2 migrations).
The tool reads \`_prisma_migrations\` with one psql start and one query; it starts the real
psql binary, not Debian's \`pg_wrapper\` Perl script that \`/usr/bin/psql\` is (xtask/src/pgbin.rs).
The last two lines show what that saves: one \`SELECT 1\` through each."
python3 - "$work/status.json" "$root" "$dev" "$work" "$(tool_url school)" "$app" "$pgbin" "$base_url/school" <<'PY'
import json, sys
spec, root, dev, work, url, app, pgbin, plain = sys.argv[1:]
env = {"DATABASE_URL": url, "CI": "true"}
penv = dict(env, PRISMA_SCHEMA_ENGINE_BINARY="./scripts/schema-engine-shim", CHECKPOINT_DISABLE="1", PRISMA_HIDE_UPDATE_MESSAGE="1")
cmds = [
    {"name": "prisma migrate status", "argv": ["npx", "prisma", "migrate", "status", "--schema", "src/prisma/db/schema.prisma"], "cwd": app, "env": penv},
    {"name": "dev binary status", "argv": [dev, "--config", f"{work}/tasks.toml", "status"], "cwd": work, "env": env},
    {"name": "cargo xtask status", "argv": ["cargo", "xtask", "--config", f"{work}/tasks.toml", "status"], "cwd": root, "env": env},
    {"name": "psql (pg_wrapper) SELECT 1", "argv": ["/usr/bin/psql", "-X", "-At", "-c", "SELECT 1", "-d", plain], "env": env},
    {"name": "psql (real binary) SELECT 1", "argv": [f"{pgbin}/psql", "-X", "-At", "-c", "SELECT 1", "-d", plain], "env": env},
]
json.dump({"warmup": 1, "commands": cmds}, open(spec, "w"))
PY
{
  echo "$((REPS * 2)) repetitions; $(load) before"
  BENCH_JSON=$work/status.m.json interleave $((REPS * 2)) "$work/status.json"
  echo "$(load) after"
} | tee -a /dev/stderr | block
pm=$(jget "$work/status.m.json" "prisma migrate status"); sd=$(jget "$work/status.m.json" "dev binary status")
sc=$(jget "$work/status.m.json" "cargo xtask status")
st=$(calc %.1f "$pm / $sd")
para "prisma / dev binary = **${st}x** ($(awk -v r="$st" 'BEGIN { print (r >= 50) ? "target met" : "target missed" }'));
through \`cargo xtask status\` (cargo's freshness check included) $(calc %.1f "$pm / $sc")x."

else keep "status: the dev binary against \`prisma migrate status\`"; fi
if want backup; then
# ---------------------------------------------------------------- backup
echo "pgbench -i -s $SCALE..." >&2
sql "CREATE DATABASE bench"
"$pgbin/pgbench" -h 127.0.0.1 -p "$port" -U postgres -i -q -s "$SCALE" bench >/dev/null 2>&1
section "backup through the dev binary against bare pg_dump"
size=$(sql "SELECT pg_size_pretty(pg_database_size('bench'))")
para "Target (issue 14): \`backup\` through the dev-profile binary (what \`cargo xtask backup\` runs)
at most **1.03** times bare \`pg_dump -F p -f FILE\` of the same database (pgbench scale
$SCALE, $size), median of interleaved runs. Bare is the real pg_dump binary
($pgbin/pg_dump), not Debian's wrapper, so the comparison is strict. \`xtask backup\` does
all its work inside the timing: the size query, pg_dump, the footer check, the SHA-256
(computed while pg_dump writes), the rename and the fsyncs. The \"before\" line is the same
source built with sha2 unoptimised, as the dev profile was before issue 14 (only when the cold
builds ran in the same run: it is their second binary)."
mkdir -p "$work/bk"
printf '[tasks.backup]\nuses = "backup"\n[backup]\ndir = "out"\n' >"$work/bk/tasks.toml"
python3 - "$work/bk.json" "$dev" "$before_bin" "$rel" "$work/bk" "$(tool_url bench)" "$pgbin" "$base_url/bench" <<'PY'
import json, sys
spec, dev, before, rel, d, url, pgbin, plain = sys.argv[1:]
env = {"DATABASE_URL": url}
rm = ["rm", "-rf", f"{d}/out", f"{d}/bare.sql"]
tool = lambda b: [b, "--config", f"{d}/tasks.toml", "backup", "--no-progress"]
cmds = [
    {"name": "pg_dump -F p -f FILE (bare)", "argv": [f"{pgbin}/pg_dump", "--no-password", "-F", "p", "-d", plain, "-f", f"{d}/bare.sql"], "cleanup": rm},
    {"name": "xtask backup, dev binary", "argv": tool(dev), "cwd": d, "env": env, "cleanup": rm},
    {"name": "xtask backup, dev before issue 14", "argv": tool(before), "cwd": d, "env": env, "cleanup": rm},
    {"name": "xtask backup, release binary", "argv": tool(rel), "cwd": d, "env": env, "cleanup": rm},
]
cmds = [c for c in cmds if c["argv"][0]]  # no "before" binary unless the cold builds ran
json.dump({"warmup": 1, "commands": cmds}, open(spec, "w"))
PY
{
  echo "$REPS repetitions; $(load) before"
  BENCH_JSON=$work/bk.m.json interleave "$REPS" "$work/bk.json"
  echo "$(load) after"
} | tee -a /dev/stderr | block
bb=$(jget "$work/bk.m.json" "pg_dump -F p -f FILE (bare)"); bd=$(jget "$work/bk.m.json" "xtask backup, dev binary")
br=$(calc %.3f "$bd / $bb")
para "Why the dev binary was slow before: the dump's SHA-256 (sha2, which uses the CPU's SHA
instructions) compiled without optimisation runs many times slower than optimised, and on
a busy 2-core machine the hashing thread's CPU becomes wall time.
\`[profile.dev.package.sha2] opt-level = 3\` in the workspace Cargo.toml optimises that one
crate (its generic callers in digest/block-buffer are cheap per 1 MB chunk and stay at the
dev profile's level); the cold build figures above show what it costs to compile.
Findings of earlier runs that still hold: letting pg_dump create its output file (rather
than truncating one the tool pre-created) avoids an ext4 flush on close
(\`auto_da_alloc\`) that made the backup about 15 % slower; and the remaining difference
to bare pg_dump is the size query (one psql start and connection) plus the hashing CPU,
which shows up as wall time only when both cores are busy."

para "dev binary / bare pg_dump = **$br** ($(awk -v r="$br" 'BEGIN { print (r <= 1.03) ? "target met" : "target missed" }')),
median to median; the \`paired\` column gives the per-repetition view."
sql "DROP DATABASE bench"

else keep "backup through the dev binary against bare pg_dump"; fi
if want formats; then
# ---------------------------------------------------------------- formats
echo "eight tables of $ROWS rows..." >&2
sql "CREATE DATABASE wide"
for i in 1 2 3 4 5 6 7 8; do
  sql "CREATE TABLE t$i AS SELECT g AS id, md5(g::text) AS a, md5((g * $i)::text) AS b, now() - g * interval '1 second' AS at
       FROM generate_series(1, $ROWS) g; ALTER TABLE t$i ADD PRIMARY KEY (id)" wide
done
sql "VACUUM ANALYZE" wide
section "backup formats on eight large tables, and the physical limit"
wsize=$(sql "SELECT pg_size_pretty(sum(pg_table_size(oid))) FROM pg_class WHERE relname ~ '^t[1-8]\$'" wide)
dsize=$(sql "SELECT pg_size_pretty(pg_database_size('wide'))" wide)
para "Eight tables of $ROWS rows each (id, two md5 texts, a timestamp): $wsize of table data,
$dsize with the primary keys. The formats the tool offers, through the dev binary, against
bare plain pg_dump; then the physical limit: the server reading the same rows and
formatting them as COPY text into \`/dev/null\` (no client, no network, no disk writes),
in one session and in two sessions of four tables each. The data is in the page cache
(the machine has far more RAM than the database), so disk reads are not the limit here:
the CPU that turns rows into text is."
for c in plain dir-z0-j2 dir-z1-j2 custom-z1; do mkdir -p "$work/f-$c"; done
f() { printf '[tasks.backup]\nuses = "backup"\n[backup]\ndir = "out"\n%b' "$2" >"$work/f-$1/tasks.toml"; }
f plain ''
f dir-z0-j2 'format = "directory"\ncompress = 0\njobs = 2\n'
f dir-z1-j2 'format = "directory"\ncompress = 1\njobs = 2\n'
f custom-z1 'format = "custom"\ncompress = 1\n'
copy1=""; for i in 1 2 3 4 5 6 7 8; do copy1+="COPY t$i TO '/dev/null';"; done
copy_a=""; copy_b=""; for i in 1 2 3 4; do copy_a+="COPY t$i TO '/dev/null';"; copy_b+="COPY t$((i + 4)) TO '/dev/null';"; done
python3 - "$work/fmt.json" "$dev" "$work" "$(tool_url wide)" "$pgbin" "$base_url/wide" "$copy1" "$copy_a" "$copy_b" <<'PY'
import json, sys
spec, dev, work, url, pgbin, plain, copy1, copy_a, copy_b = sys.argv[1:]
env = {"DATABASE_URL": url}
psql = [f"{pgbin}/psql", "-X", "-q", "-d", plain, "-c"]
cmds = [{"name": "pg_dump -F p -f FILE (bare)", "argv": [f"{pgbin}/pg_dump", "--no-password", "-F", "p", "-d", plain, "-f", f"{work}/bare.sql"], "cleanup": ["rm", "-f", f"{work}/bare.sql"]}]
for c in ["plain", "dir-z0-j2", "dir-z1-j2", "custom-z1"]:
    d = f"{work}/f-{c}"
    cmds.append({"name": f"xtask backup {c}", "argv": [dev, "--config", f"{d}/tasks.toml", "backup", "--no-progress"], "cwd": d, "env": env, "cleanup": ["rm", "-rf", f"{d}/out"]})
cmds.append({"name": "server COPY TO /dev/null, 1 session", "argv": psql + [copy1]})
both = f"{' '.join(psql)} \"$1\" & {' '.join(psql)} \"$2\" & wait"
cmds.append({"name": "server COPY TO /dev/null, 2 sessions", "argv": ["bash", "-c", both.replace(plain, "\"$3\""), "x", copy_a, copy_b, plain]})
json.dump({"warmup": 1, "commands": cmds}, open(spec, "w"))
PY
{
  echo "$REPS repetitions; $(load) before"
  BENCH_JSON=$work/fmt.m.json interleave "$REPS" "$work/fmt.json"
  echo "$(load) after"
} | tee -a /dev/stderr | block
m=$work/fmt.m.json
lim=$(python3 -c 'import json,sys; m=json.load(open(sys.argv[1])); print(min(v for k, v in m.items() if k.startswith("server")))' "$m")
{
  printf '%-36s %8s  %s\n' "configuration" "median" "limit / median (1.00 = at the limit)"
  for n in "pg_dump -F p -f FILE (bare)" "xtask backup plain" "xtask backup dir-z0-j2" "xtask backup dir-z1-j2" "xtask backup custom-z1"; do
    v=$(jget "$m" "$n"); printf '%-36s %7.2fs  %.2f\n' "$n" "$v" "$(calc %.4f "$lim / $v")"
  done
} | block
fastest=$(python3 -c 'import json,sys; m=json.load(open(sys.argv[1])); print(min((v, k) for k, v in m.items() if k.startswith("xtask"))[1])' "$m")
para "Fastest format offered here: **${fastest#xtask backup }**; directory \`-j 2\` against plain:
$(calc %.2f "$(jget "$m" "xtask backup dir-z0-j2") / $(jget "$m" "xtask backup plain")") (uncompressed),
$(calc %.2f "$(jget "$m" "xtask backup dir-z1-j2") / $(jget "$m" "xtask backup plain")") (gzip level 1).
The limit is the faster of the two COPY lines ($(calc %.2f "$lim") s). On 2 cores a parallel
dump's two pg_dump workers and two server backends compete for the same two CPUs, which is
why \`-j 2\` gains little or nothing; with more cores than jobs it would."
sql "DROP DATABASE wide"

else keep "backup formats on eight large tables, and the physical limit"; fi
if want deploy; then
# ---------------------------------------------------------------- deploy
section "deploy on the runbook's recovery scenario against the seed's shell workflow"
para "Target (issue 14): \`cargo xtask deploy\` at most **1.05** times the seed's shell workflow
doing the same steps on the same database. The scenario is the runbook's
(../shared/seed/000_470897fe9e1b0123.txt): \`$migration\` was first deployed in its broken
version (P3018, 42710: the enum already exists) and is recorded as failed; the fixed file is
in place. Before each run a fresh database is made from that state (\`CREATE DATABASE ...
TEMPLATE\`, untimed). The tool: the dev binary's \`deploy --yes\` (backup, \`migrate deploy\`,
P3009, evidence check, \`resolve --rolled-back\`, check, \`migrate deploy\`). The shell
workflow, as the seed's deploy ran it: \`pg_dump -d URL -F p -f FILE\` (PATH's pg_dump, the
Debian wrapper), \`npx prisma migrate deploy || { npx prisma migrate resolve --rolled-back
NAME; npx prisma migrate deploy; }\`. The task says \`rehearse = \"off\"\` (the rehearsal of
issue 15 is a step the shell workflow does not have; its cost is measured by
scripts/bench-rehearsal.sh, below the marker), so both do exactly these steps."
# The failed state, kept as a template database.
sql "CREATE DATABASE scenario"
cp "$app/src/prisma/db/migrations/$migration/migration.sql" "$work/fixed.sql"
cp "$fixture" "$app/src/prisma/db/migrations/$migration/migration.sql"
if DATABASE_URL=$(tool_url scenario) prisma migrate deploy >"$work/broken.log" 2>&1; then
  echo "bench.sh: the broken migration applied; the fixture no longer reproduces the runbook" >&2; exit 1
fi
cp "$work/fixed.sql" "$app/src/prisma/db/migrations/$migration/migration.sql"
cat >"$work/shell-workflow.sh" <<EOF
set -e
pg_dump -d "\$PGURL" -F p -f "$work/shell-backups/pre-migration-\$(date -u +%Y%m%dT%H%M%SZ).sql"
cd "$app"
npx prisma migrate deploy --schema=src/prisma/db/schema.prisma || {
  npx prisma migrate resolve --rolled-back "$migration" --schema=src/prisma/db/schema.prisma
  npx prisma migrate deploy --schema=src/prisma/db/schema.prisma
}
EOF
mkdir -p "$work/shell-backups"
python3 - "$work/deploy.json" "$dev" "$work" "$(tool_url rep)" "$pgbin" "$base_url" "$password" <<'PY'
import json, sys
spec, dev, work, url, pgbin, base, pw = sys.argv[1:]
psql = [f"{pgbin}/psql", "-X", "-q", "-d", f"{base}/postgres", "-c"]
setup = psql + ["CREATE DATABASE rep TEMPLATE scenario"]
cleanup = ["bash", "-c", f"{' '.join(psql)} 'DROP DATABASE rep WITH (FORCE)' && rm -rf {work}/backups {work}/shell-backups/*"]
penv = {"PRISMA_SCHEMA_ENGINE_BINARY": "./scripts/schema-engine-shim", "CHECKPOINT_DISABLE": "1", "PRISMA_HIDE_UPDATE_MESSAGE": "1"}
plain_pw = base.replace("postgres@", f"postgres:{pw}@") + "/rep"
cmds = [
    {"name": "shell workflow", "argv": ["bash", f"{work}/shell-workflow.sh"], "env": dict(penv, DATABASE_URL=url, PGURL=plain_pw), "setup": setup, "cleanup": cleanup},
    {"name": "xtask deploy, dev binary", "argv": [dev, "--config", f"{work}/tasks.toml", "deploy", "--yes", "--no-progress"], "cwd": work, "env": {"DATABASE_URL": url}, "setup": setup, "cleanup": cleanup},
]
json.dump({"warmup": 1, "commands": cmds}, open(spec, "w"))
PY
{
  echo "$DEPLOY_REPS repetitions; $(load) before"
  BENCH_JSON=$work/deploy.m.json interleave "$DEPLOY_REPS" "$work/deploy.json"
  echo "$(load) after"
} | tee -a /dev/stderr | block
dt=$(jget "$work/deploy.m.json" "xtask deploy, dev binary"); ds=$(jget "$work/deploy.m.json" "shell workflow")
dr=$(calc %.3f "$dt / $ds")
para "xtask deploy / shell workflow = **$dr** ($(awk -v r="$dr" 'BEGIN { print (r <= 1.05) ? "target met" : "target missed" }')), median to median."

# One more run of each under strace: the programs each starts, and the server's
# connection log for the database (log_connections): who connects, how often.
count() { # label, command...
  local label=$1 mark
  shift
  sql "CREATE DATABASE rep TEMPLATE scenario"
  mark=$(wc -l <"$work/server.log")
  strace -f -qq -z -e trace=execve -e signal=none -o "$work/trace" "$@" >/dev/null 2>&1
  sleep 0.5 # the server may log the last connection a moment later
  echo "$label:"
  echo "  programs started (successful execve, by name; a wrapper and the program it execs both count):"
  grep -v 'resumed>' "$work/trace" | grep -o 'execve("[^"]*"' | sed 's/execve("//; s/"$//' | xargs -n1 basename |
    grep -E '^(psql|pg_dump|pg_restore|pg_wrapper|perl|node|npx|npm|sh|bash|schema-engine.*|xtask)$' |
    sort | uniq -c | sort -rn | awk '{ printf "    %3d %s\n", $1, $2 }' || true
  echo "  connections to the database (server log, by application_name):"
  tail -n +"$((mark + 1))" "$work/server.log" | grep 'connection authorized: .*database=rep\b' |
    sed -n 's/.*application_name=\([^ ]*\).*/\1/p; t; s/.*connection authorized.*/(none)/p' |
    sort | uniq -c | awk '{ printf "    %3d %s\n", $1, $2; n += $1 } END { printf "    %3d in all\n", n }' || true
  sql "DROP DATABASE rep WITH (FORCE)"
  rm -rf "$work/backups" "$work"/shell-backups/*
}
{
  echo "$(load)"
  (cd "$work" && DATABASE_URL=$(tool_url rep) count "xtask deploy" "$dev" --config "$work/tasks.toml" deploy --yes --no-progress)
  (export "${prisma_env[@]}" DATABASE_URL="$(tool_url rep)" PGURL="${base_url/postgres@/postgres:$password@}/rep"
    count "shell workflow" bash "$work/shell-workflow.sh")
} 2>&1 | tee -a /dev/stderr | block
para "Where the tool's client programs and connections go, in order: (0) the preflight: \`pg_dump
--version\` (the real binary since December 2026; before, PATH's Debian wrapper, a Perl start and
a second \`pg_dump\` exec) and one psql query (server version, role, CREATEDB); (1) the deploy lock,
one psql session held for the whole run (\`application_name\` xtask-deploy-lock); (2) the
backup's size estimate (\`pg_database_size\`, the progress bar's total); (3) pg_dump;
(4) Prisma's \`migrate deploy\`, which fails with P3009; (5) reading \`_prisma_migrations\`
to find the failed migration (the evidence check gets these rows passed along; until
December 2026 it read the table a second time); (6) the evidence check's one catalog
query; (7) Prisma's \`migrate resolve --rolled-back\`; (8) the check that
\`_prisma_migrations\` now says rolled back; (9) Prisma's second \`migrate deploy\`. The
connections without an \`application_name\` are Prisma's schema engine's, the same number
as in the shell workflow: Prisma's three calls (each a Node start, and most of the time of
both) are the same in both. On top of them the tool makes six psql starts (0, 1, 2, 5, 6,
8), each one connection and a few milliseconds with the real psql binary, against the
seconds Node takes; the shell workflow's pg_dump goes through Debian's Perl wrapper (the
second \`pg_dump\` exec)."

else keep "deploy on the runbook's recovery scenario against the seed's shell workflow"; fi
# ---------------------------------------------------------------- write
tail=""
if [ -f "$out_md" ] && grep -qF "$MARKER" "$out_md"; then
  tail=$(sed -n "/^$(printf '%s' "$MARKER" | sed 's/[][\.*^$/]/\\&/g')\$/,\$p" "$out_md" | tail -n +2)
fi
{ cat "$md"; echo "$MARKER"; [ -n "$tail" ] && printf '%s\n' "$tail"; } >"$out_md.tmp"
mv "$out_md.tmp" "$out_md"
echo "wrote $out_md" >&2

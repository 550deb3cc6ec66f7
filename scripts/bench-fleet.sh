#!/usr/bin/env bash
# Fleet benchmarks (issue 20), printed as Markdown for BENCHMARKS.md's fleet section:
#   1. DEPLOY_TENANTS tenant databases with one pending migration: a shell loop of
#      `xtask deploy` (what teams write today) against `deploy-fleet` with 1, 2, 4 and
#      8 workers (per_server = workers: one server), the same pipeline per target;
#   2. AT_HEAD tenant databases already at the head: the plan's read-only check
#      (with HEAD_BASELINE_BIN=another build's binary, also that one's check on the
#      same tenants, interleaved HEAD_ROUNDS times, and the ratio);
#   3. a generated inventory of PLAN_TARGETS targets (1000 servers that refuse
#      connections): plan time and peak memory of `--dry-run --shard 0/1000`, which
#      reads, checks and plans all of them and checks the ~PLAN_TARGETS/1000 of its shard.
# Runs the dev binary `cargo xtask` builds (target/debug/xtask) on a throwaway
# PostgreSQL 15 cluster. Benchmarks run on demand only, never in the test suite.
#
#   scripts/bench-fleet.sh                              # defaults below
#   DEPLOY_TENANTS=200 scripts/bench-fleet.sh           # the issue's full size (long on 2 cores)
#   WORKERS="8 2 4" PARTS=deploy scripts/bench-fleet.sh # some worker counts, in this order
#
# Every deploy configuration is checked afterwards (each tenant at the head, or the run
# stops) and gets its wall time, its CPU time (user+sys of the client side -- xtask,
# Node, pg_dump, psql -- and of the PostgreSQL server, separately), the share of the
# machine's CPUs that was busy meanwhile (other processes included) and `uptime`
# before and after (also on stderr as it goes).
set -euo pipefail

DEPLOY_TENANTS=${DEPLOY_TENANTS:-16}
AT_HEAD=${AT_HEAD:-200}
PLAN_TARGETS=${PLAN_TARGETS:-100000}
WORKERS=${WORKERS:-1 2 4 8}
PARTS=${PARTS:-deploy head plan}   # which sections to measure
want() { case " $PARTS " in *" $1 "*) return 0 ;; esac; return 1; }
root=$(cd "$(dirname "$0")/.." && pwd)
xtask=${XTASK_BIN:-$root/target/debug/xtask}
[ -x "$xtask" ] || { echo "bench-fleet.sh: build first (cargo build -p xtask)" >&2; exit 2; }
[ -d "$root/Backend/node_modules/prisma" ] || { echo "bench-fleet.sh: run scripts/install-test-deps.sh first" >&2; exit 2; }
load() { echo "load average $(cut -d' ' -f1-3 /proc/loadavg)"; }

. "$root/scripts/lib/bench-cluster.sh"
bench_workdir bench-fleet
bench_cluster_start -c max_connections=300
export PGPASSWORD=$password PW=$password
sql() { "$pgbin/psql" -X -q -At -v ON_ERROR_STOP=1 -d "postgresql://postgres@127.0.0.1:$port/${2:-postgres}" -c "$1"; }

# The example app with a tenant history of two migrations.
app=$work/proj
mkdir -p "$app"
cp -r "$root/Backend" "$app/Backend"
rm -rf "$app/Backend/node_modules" "$app/Backend/src/prisma/db/migrations"
ln -s "$root/Backend/node_modules" "$app/Backend/node_modules"
mig=$app/Backend/src/prisma/db/migrations
mkdir -p "$mig/20260301000000_tenant_users" "$mig/20260302000000_unique_email"
printf 'CREATE TABLE "tenant_user" ("id" SERIAL NOT NULL, "email" TEXT NOT NULL, CONSTRAINT "tenant_user_pkey" PRIMARY KEY ("id"));\n' >"$mig/20260301000000_tenant_users/migration.sql"
printf 'CREATE UNIQUE INDEX "tenant_user_email_key" ON "tenant_user"("email");\n' >"$mig/20260302000000_unique_email/migration.sql"
printf 'provider = "postgresql"\n' >"$mig/migration_lock.toml"
write_toml() { # $1 workers
  cat >"$app/tasks.toml" <<TOML
[database]
url_env = "DATABASE_URL"
[prisma]
command = ["npx", "prisma"]
schema = "Backend/src/prisma/db/schema.prisma"
cwd = "Backend"
env = { PRISMA_SCHEMA_ENGINE_BINARY = "./scripts/schema-engine-shim" }
[backup]
dir = "backups"
[tasks.backup]
uses = "backup"
[tasks.deploy]
deps = ["backup"]
uses = "prisma-deploy"
[tasks.deploy-fleet]
uses = "fleet-deploy"
[fleet]
targets = "targets.jsonl"
workers = $1
per_server = $1
TOML
}
cd "$app"
checksum() { sha256sum "$1" | cut -d' ' -f1; }
c1=$(checksum "$mig/20260301000000_tenant_users/migration.sql")
c2=$(checksum "$mig/20260302000000_unique_email/migration.sql")
# A template database at the first migration (as Prisma records it), and one at the head.
seed_sql() { # $1: 1 or 2 migrations
  echo 'CREATE TABLE "_prisma_migrations" ("id" VARCHAR(36) PRIMARY KEY NOT NULL, "checksum" VARCHAR(64) NOT NULL, "finished_at" TIMESTAMPTZ, "migration_name" VARCHAR(255) NOT NULL, "logs" TEXT, "rolled_back_at" TIMESTAMPTZ, "started_at" TIMESTAMPTZ NOT NULL DEFAULT now(), "applied_steps_count" INTEGER NOT NULL DEFAULT 0);'
  cat "$mig/20260301000000_tenant_users/migration.sql"
  echo "INSERT INTO _prisma_migrations VALUES ('s1', '$c1', now(), '20260301000000_tenant_users', NULL, NULL, now(), 1);"
  echo "INSERT INTO tenant_user (email) SELECT 'u' || i || '@x' FROM generate_series(1, 1000) i;"
  if [ "$1" = 2 ]; then
    cat "$mig/20260302000000_unique_email/migration.sql"
    echo "INSERT INTO _prisma_migrations VALUES ('s2', '$c2', now(), '20260302000000_unique_email', NULL, NULL, now(), 1);"
  fi
}
sql "CREATE DATABASE seed_pending"; sql "$(seed_sql 1)" seed_pending
sql "CREATE DATABASE seed_head"; sql "$(seed_sql 2)" seed_head
make_tenants() { # $1 count, $2 template (one psql session rather than two per tenant)
  for i in $(seq -w 1 "$1"); do
    echo "DROP DATABASE IF EXISTS tenant_$i;"
    echo "CREATE DATABASE tenant_$i TEMPLATE $2;"
  done | "$pgbin/psql" -X -q -At -v ON_ERROR_STOP=1 -d "postgresql://postgres@127.0.0.1:$port/postgres" >/dev/null 2>&1
  : >"$app/targets.jsonl"
  for i in $(seq -w 1 "$1"); do
    printf '{"id": "t%s", "url": "postgresql://postgres:${PW}@127.0.0.1:%s/tenant_%s"}\n' "$i" "$port" "$i" >>"$app/targets.jsonl"
  done
}
secs() { python3 -c 'import sys; print(f"{float(sys.argv[1]):.1f}")' "$1"; }
now() { date +%s.%N; }
# CPU seconds the PostgreSQL server has used so far: the postmaster's own time and that
# of its exited children (backends, reaped by it), plus its live children (checkpointer,
# walwriter, autovacuum, open sessions).
server_cpu() {
  python3 - "$(head -n 1 "$work/data/postmaster.pid")" <<'PY'
import os, sys
hz = os.sysconf("SC_CLK_TCK")
pm = sys.argv[1]
def fields(pid):
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()
f = fields(pm)
total = sum(int(x) for x in f[11:15])  # utime stime cutime cstime
for pid in os.listdir("/proc"):
    if pid.isdigit() and pid != pm:
        try:
            g = fields(pid)
        except OSError:
            continue
        if g[1] == pm:
            total += int(g[11]) + int(g[12])
print(total / hz)
PY
}
# Busy and total CPU jiffies of the whole machine (every process, other sessions too).
machine_cpu() { awk '/^cpu /{print $2+$3+$4+$7+$8+$9, $2+$3+$4+$5+$6+$7+$8+$9}' /proc/stat; }
# Every tenant at the head (both migrations finished, none rolled back), or the run stops.
# One psql session (\c to each tenant): 200 psql starts took minutes at load 20.
check_at_head() { # $1 count, $2 what ran
  local ok
  ok=$(for i in $(seq -w 1 "$1"); do
    echo "\\c tenant_$i"
    echo "SELECT count(*) FROM _prisma_migrations WHERE finished_at IS NOT NULL AND rolled_back_at IS NULL;"
  done | "$pgbin/psql" -X -q -At -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$port" -U postgres -d postgres | grep -cx 2 || true)
  [ "$ok" = "$1" ] || { echo "bench-fleet.sh: after $2, $(($1 - ok)) of $1 tenants are not at the head" >&2; exit 1; }
}
# Runs "$@" as one measured configuration; sets wall, cpu (client user+sys), srv (server
# CPU s), busy (share of the machine's CPUs busy meanwhile, %), up0/up1 (load averages).
measure() { # $1 label, $2 log, then the command
  local label=$1 log=$2 s0 m0 t0 el us sy s1 m1
  shift 2
  up0=$(cut -d' ' -f1-3 /proc/loadavg)
  echo "$label: before: $(uptime)" >&2
  s0=$(server_cpu); m0=$(machine_cpu); t0=$(now)
  /usr/bin/time -f '%e %U %S' -o "$work/time" "$@" >"$log" 2>&1 || { tail -n 30 "$log" >&2; exit 1; }
  wall=$(python3 -c "print($(now) - $t0)")
  s1=$(server_cpu); m1=$(machine_cpu)
  read -r el us sy < <(tail -n 1 "$work/time")
  cpu=$(python3 -c "print($us + $sy)")
  srv=$(python3 -c "print($s1 - $s0)")
  busy=$(python3 -c "b0,t0,b1,t1=map(float,'$m0 $m1'.split()); print(round(100*(b1-b0)/(t1-t0)))")
  up1=$(cut -d' ' -f1-3 /proc/loadavg)
  echo "$label: after: $(uptime); wall ${wall}s, client cpu ${cpu}s, server cpu ${srv}s, machine busy ${busy}%" >&2
}
row() { # $1 label, $2 ratio text
  echo "| $1 | $(secs "$wall") s | $2 | $(secs "$cpu") + $(secs "$srv") s | $(python3 -c "print(f'{($cpu + $srv) / $DEPLOY_TENANTS:.2f}')") s | $(python3 -c "print(f'{($cpu + $srv) / $(nproc) / $wall:.0%}')") / $busy% | $up0 / $up1 |"
}

echo "## Fleet deploys (issue 20)"
echo
echo "Measured by \`scripts/bench-fleet.sh\` ($(date -u +%Y-%m-%d), $(nproc) CPUs, dev binary), on a throwaway"
echo "PostgreSQL 15 cluster; each tenant database has 1,000 rows and one pending migration (a"
echo "unique index); every target runs the full pipeline (lock, verified backup, schema"
echo "rehearsal, \`prisma migrate deploy\`, audit) both ways."
echo
if want deploy; then
echo "### $DEPLOY_TENANTS tenant databases: a shell loop of \`xtask deploy\` against \`deploy-fleet\`"
echo
echo "| run | wall time | against the loop | CPU: client + server | CPU per target | $(nproc) CPUs busy: this run / all | load before / after |"
echo '| --- | --- | --- | --- | --- | --- | --- |'
write_toml 1
make_tenants "$DEPLOY_TENANTS" seed_pending
rm -rf "$app/backups"
cd "$app"
# The loop teams write today: one `xtask deploy` per tenant, the URL in the environment.
cat >"$work/loop.sh" <<'SH'
set -eu
cd "$1"
while read -r line; do
  db=${line##*/}; db=${db%%\"*}
  DATABASE_URL="postgresql://postgres:$PW@127.0.0.1:$2/$db" "$3" --no-progress deploy >/dev/null 2>&1 \
    || echo "loop: $db failed" >&2
done <targets.jsonl
SH
measure loop "$work/loop.log" bash "$work/loop.sh" "$app" "$port" "$xtask"
check_at_head "$DEPLOY_TENANTS" "the loop"
loop=$wall
row "shell loop of \`xtask deploy\`" "1.00"
for w in $WORKERS; do
  write_toml "$w"
  t0=$(now)
  make_tenants "$DEPLOY_TENANTS" seed_pending
  rm -rf "$app/backups"
  echo "workers $w: tenants recreated in $(secs "$(python3 -c "print($(now) - $t0)")") s" >&2
  measure "workers $w" "$work/fleet.log" "$xtask" --no-progress deploy-fleet
  check_at_head "$DEPLOY_TENANTS" "workers = $w"
  row "\`deploy-fleet\`, workers = $w" "$(python3 -c "r = $loop / $wall; print(f'{r:.2f}x ' + ('faster' if r >= 1 else 'slower'))")"
  # One target's pipeline as it ran (what each of them did), on stderr.
  first=$(head -n 1 "$app/targets.jsonl" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
  grep -v '^\s*$' "$app/backups/fleet/logs/$first.log" | head -n 40 >&2 || true
done
echo
echo "Load: $(load) at the end."
echo
fi
if want head; then
echo "### $AT_HEAD tenant databases already at the head: the plan's check"
echo
write_toml 8
make_tenants "$AT_HEAD" seed_head
rm -rf "$app/backups"
# HEAD_BASELINE_BIN (optional): another build's binary, run on the same tenants
# in turn with this one (HEAD_ROUNDS times each, interleaved), for a ratio.
head_run() { # $1 binary, $2 log; prints the check's seconds, the run's client CPU s and the server's CPU s
  local s0 s1
  rm -rf "$app/backups"
  s0=$(server_cpu)
  /usr/bin/time -f '%U %S' -o "$work/htime" "$1" --no-progress deploy-fleet >/dev/null 2>"$2" || true
  s1=$(server_cpu)
  echo "$(grep -o 'checked in [0-9.]*s' "$2" | head -1 | grep -o '[0-9.]*[0-9]')" \
    "$(python3 -c "u, s = open('$work/htime').read().split()[-2:]; print(round(float(u) + float(s), 2))")" \
    "$(python3 -c "print(round($s1 - $s0, 2))")"
}
echo "at head: $(load)" >&2
load_before=$(load)
t0=$(now)
"$xtask" --no-progress deploy-fleet >/dev/null 2>"$work/head.log"
t=$(python3 -c "print($(now) - $t0)")
checked=$(grep -o 'checked in [0-9.]*s' "$work/head.log" | head -1)
psqls=$(grep -o 'by [0-9]* psql process(es)[^:]*' "$work/head.log" | head -1)
started=$(grep -c 'started (attempt' "$work/head.log" || true)
echo "Whole run $(secs "$t") s; the read-only check of the $AT_HEAD targets ($checked $psqls, up to 8 at once):"
echo "$started Prisma or pipeline starts. $load_before before, $(load) after."
if [ -n "${HEAD_BASELINE_BIN:-}" ]; then
  ours=() theirs=()
  for _ in $(seq "${HEAD_ROUNDS:-3}"); do
    theirs+=("$(head_run "$HEAD_BASELINE_BIN" "$work/base.log")")
    ours+=("$(head_run "$xtask" "$work/head.log")")
  done
  python3 - "$(printf '%s;' "${ours[@]}")" "$(printf '%s;' "${theirs[@]}")" "$HEAD_BASELINE_BIN" <<'PY'
import statistics, sys
def rounds(arg):
    return [[float(x) for x in r.split()] for r in arg.split(";") if r.strip()]
ours, theirs = rounds(sys.argv[1]), rounds(sys.argv[2])
med = lambda rs, i: statistics.median(r[i] for r in rs)
o, t = med(ours, 0), med(theirs, 0)
print()
print(f"Interleaved with the baseline `{sys.argv[3]}` on the same tenants ({len(ours)} rounds each), the check's median:")
print(f"{o:.2f} s against {t:.2f} s ({t / o:.1f}x faster; rounds: {[r[0] for r in ours]} against {[r[0] for r in theirs]}).")
print(f"CPU per run (median; the client: xtask and its children, the whole run; the server: PostgreSQL):")
print(f"client {med(ours, 1):.2f} s against {med(theirs, 1):.2f} s, server {med(ours, 2):.2f} s against {med(theirs, 2):.2f} s.")
PY
  echo "$(load) after the rounds."
fi
echo
fi
if want plan; then
write_toml 8
echo "### A $PLAN_TARGETS-target inventory: plan time and memory"
echo
: >"$app/targets.jsonl"
python3 - "$app/targets.jsonl" "$PLAN_TARGETS" <<'PY'
import sys
path, n = sys.argv[1], int(sys.argv[2])
with open(path, "w") as f:
    for i in range(n):
        server = 1 + i % 1000  # ports 1-1000 on 127.0.0.2: nothing listens, refused at once
        ring = "canary" if i % 997 == 0 else "main"
        f.write('{"id": "t%06d", "url": "postgresql://app:${PW}@127.0.0.2:%d/tenant_%d", "labels": {"ring": "%s"}}\n' % (i, server, i, ring))
PY
cat >>"$app/tasks.toml" <<'TOML'
[[fleet.waves]]
name = "canary"
labels = { ring = "canary" }
[[fleet.waves]]
name = "ten"
percent = 10
max_failure_ratio = 0.02
[[fleet.waves]]
name = "rest"
max_failure_ratio = 0.02
TOML
for n in $((PLAN_TARGETS / 10)) "$PLAN_TARGETS"; do
  head -n "$n" "$app/targets.jsonl" >"$work/t.jsonl"; cp "$work/t.jsonl" "$app/targets-$n.jsonl"
  sed -i "s|^targets = .*|targets = \"targets-$n.jsonl\"|" "$app/tasks.toml"
  /usr/bin/time -f '%e %M' -o "$work/time" "$xtask" --no-progress --dry-run deploy-fleet --shard 0/1000 >"$work/plan.txt" 2>&1 || true; head -c 600 "$work/plan.txt" >&2
  read -r el rss < <(tail -n 1 "$work/time")
  grep -q "the plan cannot be made" "$work/plan.txt" && { cat "$work/plan.txt" >&2; exit 1; }
  echo "- $n targets: $(secs "$el") s, peak memory $((rss / 1024)) MiB ($(grep -c '^\s*t[0-9]' "$work/plan.txt" || true) targets in shard 0/1000 listed and checked)"
done
echo
fi

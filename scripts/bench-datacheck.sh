#!/usr/bin/env bash
# The data checks' cost (issue 19): each check `deploy` derives from a Prisma-shaped
# migration, run as the tool runs it (one READ ONLY transaction) on a table of ROWS
# rows where it passes (the worst case: nothing to stop at), with its time and the
# buffers it reads (EXPLAIN (ANALYZE, BUFFERS)), against a baseline in the same run:
# `SELECT count(*)` of the same table (one sequential scan). Benchmarks run on demand
# only, never in the test suite.
#
#   scripts/bench-datacheck.sh                 # 10 million rows, about 5 minutes on 2 cores
#   ROWS=1000000 scripts/bench-datacheck.sh    # quicker
#   WORK_MEM=4MB scripts/bench-datacheck.sh    # the server's default work_mem (the tool sets 64MB)
#
# Needs the PostgreSQL 15 server binaries (/usr/lib/postgresql/15/bin) and cargo.
set -euo pipefail
ROWS=${ROWS:-10000000}
REPS=${REPS:-3}
root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/scripts/lib/bench-cluster.sh"
bench_workdir bench-datacheck
bench_cluster_start
psql_() { "$pgbin/psql" -X -q -h "$work" -p "$port" -U postgres -d postgres -v ON_ERROR_STOP=1 "$@"; }
load() { cut -d' ' -f1-3 /proc/loadavg; }

echo "== $ROWS rows (load $(load))" >&2
psql_ <<SQL
CREATE TYPE kind AS ENUM ('A', 'B', 'C');
CREATE TABLE team (id integer PRIMARY KEY);
INSERT INTO team SELECT g FROM generate_series(1, 1000) g;
CREATE TABLE acct (id bigint PRIMARY KEY, email text, nick text, code text, views integer,
                   slug varchar(100), kind kind, team_id integer);
INSERT INTO acct SELECT g, 'user' || g || '@example.org', 'n' || g, (g % 100000)::text, g % 1000,
                        's' || (g % 10000), (ARRAY['A','B']::kind[])[1 + g % 2], 1 + g % 1000
  FROM generate_series(1, $ROWS) g;
VACUUM ANALYZE acct;
SQL
size=$(psql_ -At -c "SELECT pg_size_pretty(pg_table_size('acct'))")
cat >"$work/migration.sql" <<'SQL'
ALTER TABLE "acct" ADD COLUMN "plan" TEXT NOT NULL;
ALTER TABLE "acct" ALTER COLUMN "nick" SET NOT NULL;
CREATE UNIQUE INDEX "acct_email_key" ON "acct"("email");
ALTER TABLE "acct" ADD CONSTRAINT "acct_team_id_fkey" FOREIGN KEY ("team_id") REFERENCES "team"("id") ON DELETE SET NULL ON UPDATE CASCADE;
ALTER TABLE "acct" ADD CONSTRAINT "acct_views_check" CHECK (views >= 0);
ALTER TABLE "acct" ALTER COLUMN "code" SET DATA TYPE INTEGER USING "code"::integer;
ALTER TABLE "acct" ALTER COLUMN "slug" SET DATA TYPE VARCHAR(20);
CREATE TYPE "kind_new" AS ENUM ('A', 'B');
ALTER TABLE "acct" ALTER COLUMN "kind" TYPE "kind_new" USING ("kind"::text::"kind_new");
SQL
(cd "$root" && DATACHECK_SQL="$work/migration.sql" cargo test -q -p xtask --lib datacheck::tests::print_check_queries \
  -- --ignored --nocapture 2>/dev/null) | grep '^CHECK' >"$work/checks.tsv"

# Milliseconds and buffers (shared hit + read) of one query, read-only, best of REPS.
measure() {
  local q=$1 best=
  for _ in $(seq "$REPS"); do
    local j
    j=$(psql_ -At <<SQL
BEGIN TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY;
SET LOCAL work_mem = '${WORK_MEM:-64MB}';
EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) $q
ROLLBACK;
SQL
)
    local ms blocks
    ms=$(python3 -c 'import json,sys; p=json.loads(sys.argv[1])[0]; print(round(p["Execution Time"], 1))' "$j")
    blocks=$(python3 -c 'import json,sys; p=json.loads(sys.argv[1])[0]["Plan"]; print(p.get("Shared Hit Blocks",0)+p.get("Shared Read Blocks",0))' "$j")
    if [ -z "$best" ] || awk "BEGIN{exit !($ms < ${best%% *})}"; then best="$ms $blocks"; fi
  done
  echo "$best"
}
base=$(measure "SELECT count(*) FROM acct;")
printf '| check (line of the migration) | ms | buffers (8 KiB) | x baseline time |\n| --- | ---: | ---: | ---: |\n'
printf '| baseline: `SELECT count(*) FROM acct` (one sequential scan) | %s | %s | 1.0 |\n' ${base}
while IFS=$'\t' read -r _ line query; do
  stmt=$(sed -n "${line}p" "$work/migration.sql" | cut -c1-70)
  r=$(measure "${query/\'xtask-hit\'/\'hit\'}")
  ratio=$(awk "BEGIN { printf \"%.1f\", ${r%% *} / ${base%% *} }")
  printf '| %s: `%s` | %s | %s | %s |\n' "$line" "$stmt" ${r} "$ratio"
done <"$work/checks.tsv"
echo
echo "table acct: $ROWS rows, $size; PostgreSQL $(psql_ -At -c 'SHOW server_version'); load average $(load) at the end"

#!/usr/bin/env bash
# Benchmark of `cargo xtask backup` (issue 3): on a throwaway PostgreSQL cluster holding a
# pgbench database (scale 40 is about 600 MB), interleaves bare `pg_dump -F p -f` with
# `xtask backup` (plain) and the other formats the tool offers, in one run, and reports
# the median wall time of each, its ratio to bare pg_dump's and the median of the
# per-repetition ratios (target for plain: at most 1.03), plus the median CPU time of
# the client processes (pg_dump, psql, xtask; not the server's).
#
#   scripts/bench-backup.sh                 # REPS=5 SCALE=40
#   REPS=7 SCALE=60 scripts/bench-backup.sh
#
# Needs the PostgreSQL 15 server binaries (XTASK_PG_BINDIR, default
# /usr/lib/postgresql/15/bin), the client tools and pgbench on PATH. As root the
# server runs as the `postgres` OS user. Honors CARGO_TARGET_DIR.
set -euo pipefail

REPS=${REPS:-5}
SCALE=${SCALE:-40}
root=$(cd "$(dirname "$0")/.." && pwd)
pgbin=${XTASK_PG_BINDIR:-/usr/lib/postgresql/15/bin}

echo "building the release binary..." >&2
cargo build --quiet --release -p xtask --manifest-path "$root/Cargo.toml"
bin=${XTASK_BIN:-${CARGO_TARGET_DIR:-$root/target}/release/xtask}

work=$(mktemp -d /tmp/bench-backup.XXXXXX)
as_server=()
if [ "$(id -u)" = 0 ]; then
  chown postgres "$work"
  as_server=(runuser -u postgres --)
fi
cleanup() {
  "${as_server[@]}" "$pgbin/pg_ctl" -D "$work/data" -m fast -w stop >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

password=bench-$RANDOM-$RANDOM
printf '%s\n' "$password" >"$work/pw"
chmod 0644 "$work/pw"
"${as_server[@]}" "$pgbin/initdb" -D "$work/data" -U postgres --pwfile="$work/pw" \
  --auth-host=scram-sha-256 --auth-local=trust -E UTF8 --locale=C.UTF-8 >/dev/null
rm "$work/pw"
port=""
for _ in $(seq 50); do
  p=$((20000 + RANDOM % 20000))
  if ! (exec 3<>/dev/tcp/127.0.0.1/$p) 2>/dev/null; then port=$p; break; fi
done
[ -n "$port" ] || { echo "no free port found" >&2; exit 1; }
"${as_server[@]}" "$pgbin/pg_ctl" -D "$work/data" -l "$work/server.log" -w \
  -o "-p $port -k $work -c listen_addresses=127.0.0.1" start >/dev/null

export PGPASSWORD=$password
url="postgresql://postgres@127.0.0.1:$port/bench"
createdb -h 127.0.0.1 -p "$port" -U postgres bench
echo "pgbench -i -s $SCALE..." >&2
pgbench -h 127.0.0.1 -p "$port" -U postgres -i -q -s "$SCALE" bench >/dev/null 2>&1
size=$(psql -X -At -d "$url" -c "select pg_size_pretty(pg_database_size('bench'))")
unset PGPASSWORD

# One project per configuration; the tool reads the URL with the password from the environment.
project() { # name, [backup] lines
  mkdir -p "$work/$1"
  printf '[tasks.backup]\nuses = "backup"\n\n[backup]\ndir = "out"\n%b' "$2" >"$work/$1/tasks.toml"
}
project plain ''
project dir-z0-j2 'format = "directory"\ncompress = 0\njobs = 2\n'
project dir-z1-j2 'format = "directory"\ncompress = 1\njobs = 2\n'
project custom-z1 'format = "custom"\ncompress = 1\n'

# Wall time and the CPU time of the command and its children (pg_dump, psql):
# bash's `time`, so no other tool is needed. The server's CPU is not included.
TIMEFORMAT='%R %U %S'
declare -A wall cpu bytes
tool_url="postgresql://postgres:$password@127.0.0.1:$port/bench?schema=public&connection_limit=5"
measure() { # configuration
  local c=$1 out t real user sys
  if [ "$c" = bare ]; then
    out=$work/bare.sql
    t=$({ time env PGPASSWORD="$password" pg_dump --no-password -F p -d "$url" -f "$out" >"$work/bare.log" 2>&1; } 2>&1) \
      || { cat "$work/bare.log" >&2; exit 1; }
  else
    out=$work/$c/out
    t=$({ time env DATABASE_URL="$tool_url" "$bin" --config "$work/$c/tasks.toml" backup --no-progress >"$work/$c.log" 2>&1; } 2>&1) \
      || { cat "$work/$c.log" >&2; exit 1; }
  fi
  read -r real user sys <<<"$t"
  wall[$c]+="$real "
  cpu[$c]+="$(awk -v u="$user" -v s="$sys" 'BEGIN { printf "%.2f", u + s }') "
  bytes[$c]=$(find "$out" -type f -printf '%s\n' | awk '{ n += $1 } END { print n }')
  rm -rf "$out"
}
median() { tr ' ' '\n' | sed '/^$/d' | sort -n | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a / b }'; }
# Median of the per-repetition ratios to bare pg_dump (the two ran back to back, so a
# change of machine load between repetitions cancels out).
paired() { awk -v a="$1" -v b="$2" 'BEGIN { n = split(a, x, " "); split(b, y, " "); for (i = 1; i <= n; i++) printf "%.4f\n", x[i] / y[i] }' | median; }

configs=(bare plain dir-z0-j2 dir-z1-j2 custom-z1)
echo "warm-up..." >&2
measure bare; measure plain
wall=(); cpu=()
echo "$REPS repetitions..." >&2
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
for i in $(seq "$REPS"); do
  # Rotate the order, so that no configuration always runs first or after the same one.
  for j in "${!configs[@]}"; do
    measure "${configs[$(((i + j) % ${#configs[@]}))]}"
  done
  echo "  $i/$REPS done" >&2
done

bare=$(median <<<"${wall[bare]}")
bare_cpu=$(median <<<"${cpu[bare]}")
echo "database: pgbench scale $SCALE, $size; $REPS repetitions, order rotated; $(nproc) CPUs, load average $load_before before, $(cut -d' ' -f1-3 /proc/loadavg) after"
echo "$(pg_dump --version), $(uname -sr)"
printf '%-30s %8s %7s %7s %9s %7s %11s  %s\n' configuration "wall" ratio paired "cpu" ratio "output B" "wall of each run (s)"
for c in "${configs[@]}"; do
  label="xtask backup ($c)"
  [ "$c" = bare ] && label="pg_dump -F p -f FILE (bare)"
  m=$(median <<<"${wall[$c]}")
  mc=$(median <<<"${cpu[$c]}")
  printf '%-30s %7.3fs %7s %7.3f %8.2fs %7s %11s  %s\n' "$label" "$m" "$(ratio "$m" "$bare")" "$(paired "${wall[$c]}" "${wall[bare]}")" \
    "$mc" "$(ratio "$mc" "$bare_cpu")" "${bytes[$c]}" "${wall[$c]}"
done

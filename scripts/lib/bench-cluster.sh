# Sourced by the benchmark scripts: a throwaway PostgreSQL 15 cluster in a work
# directory, stopped and removed when the script exits. One copy of what each script
# used to spell out: as root the server runs as the `postgres` OS user (initdb refuses
# root), a free TCP port, a random password (the tool's URLs carry one, as users' do).
#
#   . "$root/scripts/lib/bench-cluster.sh"
#   bench_workdir NAME          # sets work=/tmp/NAME.XXXXXX, as_server, pgbin; cleans up on exit
#   bench_cluster_start [ARG]...  # sets port, password, PGPASSWORD; ARGs go to postgres (-c ...)
#
# The cluster listens on 127.0.0.1 (scram-sha-256) and on a socket in $work (trust).

pgbin=${XTASK_PG_BINDIR:-/usr/lib/postgresql/15/bin}

bench_workdir() {
  work=$(mktemp -d "/tmp/$1.XXXXXX")
  chmod 0755 "$work"
  as_server=()
  if [ "$(id -u)" = 0 ]; then
    as_server=(runuser -u postgres --)
    chown postgres "$work"
  fi
  trap bench_cleanup EXIT
}

bench_cleanup() {
  [ -d "$work/data" ] && "${as_server[@]}" "$pgbin/pg_ctl" -D "$work/data" -m fast -w stop >/dev/null 2>&1 || true
  rm -rf "$work"
}

bench_cluster_start() {
  password=bench-$RANDOM-$RANDOM-$RANDOM
  printf '%s\n' "$password" >"$work/pw"
  chmod 0644 "$work/pw"
  "${as_server[@]}" "$pgbin/initdb" -D "$work/data" -U postgres --pwfile="$work/pw" \
    --auth-host=scram-sha-256 --auth-local=trust -E UTF8 --locale=C.UTF-8 >/dev/null
  rm "$work/pw"
  port=""
  local p
  for _ in $(seq 50); do
    p=$((20000 + RANDOM % 20000))
    if ! (exec 3<>/dev/tcp/127.0.0.1/$p) 2>/dev/null; then port=$p; break; fi
  done
  [ -n "$port" ] || { echo "no free port found" >&2; exit 1; }
  local opts="-p $port -k $work -c listen_addresses=127.0.0.1" a
  for a in "$@"; do opts+=" $a"; done
  "${as_server[@]}" "$pgbin/pg_ctl" -D "$work/data" -l "$work/server.log" -w -o "$opts" start >/dev/null
  export PGPASSWORD=$password
}

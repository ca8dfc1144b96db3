# shellcheck shell=bash
# A private PostgreSQL server for the tests: its own cluster in a directory of its own, on a free
# loopback port, a generated superuser password (scram over TCP; trust only on its private socket
# directory). Nothing here touches the machine's own cluster or its authentication settings.
#
#   source scripts/lib/postgres.sh
#   pg_private_up DIR      # creates and starts the cluster; exports TEST_DATABASE_URL
#   pg_private_down DIR    # stops it (by the postmaster's PID) and removes DIR
#
# pg_test_server_begin / pg_test_server_end wrap the two for the test scripts: a server named by
# TEST_DATABASE_URL is used as it is, otherwise a private one is started (and later stopped).

pg_say() { printf '[postgres] %s\n' "$*" >&2; }

# The directory holding initdb, pg_ctl and postgres; installs Debian's postgresql when missing.
pg_bindir() {
  local d
  for d in $(printf '%s\n' /usr/lib/postgresql/*/bin | sort -rV); do
    [ -x "$d/initdb" ] && { echo "$d"; return 0; }
  done
  if command -v pg_config >/dev/null 2>&1 && [ -x "$(pg_config --bindir)/initdb" ]; then
    pg_config --bindir; return 0
  fi
  if [ -z "${PG_INSTALL_TRIED:-}" ] && [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
    PG_INSTALL_TRIED=1
    pg_say "PostgreSQL is not installed; apt-get install postgresql"
    apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2 &&
      pg_bindir && return 0
  fi
  pg_say "PostgreSQL's server binaries (initdb, pg_ctl) are missing: install Debian's postgresql package"
  return 1
}

# Runs a command as the postgres OS user when we are root (initdb and postgres refuse root).
pg_as_owner() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# A TCP port on 127.0.0.1 that nothing listens on.
pg_free_port() {
  local port
  for _ in $(seq 1 200); do
    port=$((20000 + RANDOM % 30000))
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null || { echo "$port"; return 0; }
  done
  return 1
}

# pg_private_up DIR: initdb into DIR/data, start on a free port, export TEST_DATABASE_URL.
pg_private_up() {
  local dir=$1 bindir port password
  bindir=$(pg_bindir) || return 1
  mkdir -p "$dir"
  chmod 700 "$dir"
  [ "$(id -u)" -eq 0 ] && chown postgres:postgres "$dir"
  password=$(head -c 24 /dev/urandom | base64 | tr -d '+/=\n')
  (umask 077 && printf '%s\n' "$password" >"$dir/pwfile")
  [ "$(id -u)" -eq 0 ] && chown postgres:postgres "$dir/pwfile"
  pg_as_owner "$bindir/initdb" -D "$dir/data" -U postgres --pwfile="$dir/pwfile" \
    --auth-local=trust --auth-host=scram-sha-256 --encoding=UTF8 --locale=C >"$dir/initdb.log" 2>&1 ||
    { pg_say "initdb failed:"; cat "$dir/initdb.log" >&2; return 1; }
  rm -f "$dir/pwfile"
  port=$(pg_free_port) || { pg_say "no free port"; return 1; }
  # A throw-away cluster: room for the suites' parallel pools, and durability off unless
  # PG_PRIVATE_DURABLE=1 (benchmarks measure the server as it would run) or =process (commits
  # reach the kernel before they are acknowledged, so a crash or immediate shutdown of the
  # server loses nothing acknowledged, as the reliability suite checks; only fsync is skipped).
  local opts="-p $port -k $dir -c listen_addresses=127.0.0.1 -c max_connections=400"
  case "${PG_PRIVATE_DURABLE:-0}" in
    1) ;;
    process) opts+=" -c fsync=off -c full_page_writes=off" ;;
    *) opts+=" -c fsync=off -c synchronous_commit=off -c full_page_writes=off" ;;
  esac
  pg_as_owner "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 -o "$opts" start >/dev/null || { pg_say "the server did not start:"; tail -n 20 "$dir/server.log" >&2; return 1; }
  export TEST_DATABASE_URL="postgres://postgres:$password@127.0.0.1:$port/postgres"
  pg_say "private cluster in $dir on 127.0.0.1:$port"
}

# pg_private_down DIR: fast shutdown, then SIGKILL the postmaster by PID if it lingers.
pg_private_down() {
  local dir=$1 bindir pid
  [ -d "$dir/data" ] || { rm -rf "$dir"; return 0; }
  pid=$(head -n 1 "$dir/data/postmaster.pid" 2>/dev/null || true)
  if bindir=$(pg_bindir 2>/dev/null); then
    pg_as_owner "$bindir/pg_ctl" -D "$dir/data" -m fast -w -t 30 stop >/dev/null 2>&1 || true
  fi
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -rf "$dir"
}

# pg_private_restart DIR [MODE]: stop (MODE fast or immediate, as the reliability suite's faults)
# and start again with the same port and options (pg_ctl keeps them in postmaster.opts).
pg_private_restart() {
  local dir=$1 mode=${2:-fast} bindir
  bindir=$(pg_bindir) || return 1
  pg_as_owner "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -m "$mode" -w -t 60 restart >/dev/null
}

PG_TEST_DIR=''
# Uses TEST_DATABASE_URL when set, else starts a private cluster in a new temporary directory.
pg_test_server_begin() {
  if [ -n "${TEST_DATABASE_URL:-}" ]; then return 0; fi
  PG_TEST_DIR=$(mktemp -d "${TMPDIR:-/tmp}/chatplane-pg.XXXXXX")
  pg_private_up "$PG_TEST_DIR"
}

# Stops what pg_test_server_begin started (nothing when the server was given).
pg_test_server_end() {
  if [ -n "$PG_TEST_DIR" ]; then
    pg_private_down "$PG_TEST_DIR"
    PG_TEST_DIR=''
    unset TEST_DATABASE_URL
  fi
}

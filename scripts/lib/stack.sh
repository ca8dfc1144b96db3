# shellcheck shell=bash
# Shell functions behind `make dev` (scripts/dev.sh): a private PostgreSQL, least-privilege
# databases and roles, and the processes of the local stack. Source it; it defines functions only.

stack_say() { printf '\033[1m[dev]\033[0m %s\n' "$*" >&2; }
stack_die() { printf '[dev] error: %s\n' "$*" >&2; exit 1; }

# A random secret of 48 base64url characters.
stack_secret() { head -c 36 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n'; }

# True when something accepts TCP connections on 127.0.0.1:$1.
stack_port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Runs a command as the postgres OS user when we are root (initdb and postgres refuse root).
stack_as_pg() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# The directory holding the PostgreSQL binaries (initdb, pg_ctl, postgres).
stack_pg_bindir() {
  local d
  if command -v pg_config >/dev/null 2>&1 && [ -x "$(pg_config --bindir)/initdb" ]; then
    pg_config --bindir; return 0
  fi
  d=$(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
  if [ -n "$d" ] && [ -x "$d/initdb" ]; then echo "$d"; return 0; fi
  command -v initdb >/dev/null 2>&1 && { dirname "$(readlink -f "$(command -v initdb)")"; return 0; }
  return 1
}

# stack_pg_init DATA_DIR: creates the cluster once (superuser `postgres`, peer/trust on the private
# socket only, passwords over TCP).
stack_pg_init() {
  local data=$1 bindir
  bindir=$(stack_pg_bindir) || stack_die "PostgreSQL is not installed (apt-get install postgresql), or pass DATABASE_URL"
  if [ -f "$data/PG_VERSION" ]; then return 0; fi
  mkdir -p "$data"
  [ "$(id -u)" -eq 0 ] && chown postgres:postgres "$data"
  chmod 700 "$data"
  stack_say "initialising a private PostgreSQL cluster in $data"
  stack_as_pg "$bindir/initdb" -D "$data" -U postgres --auth-local=trust --auth-host=scram-sha-256 \
    --encoding=UTF8 --locale=C >/dev/null
}

# stack_pg_start DATA_DIR PORT SOCKET_DIR LOG_FILE: starts the cluster unless it already runs.
# Prints "started" when it started it, "running" when it was already up.
stack_pg_start() {
  local data=$1 port=$2 sock=$3 logf=$4 bindir
  bindir=$(stack_pg_bindir)
  mkdir -p "$sock"
  [ "$(id -u)" -eq 0 ] && chown postgres:postgres "$sock"
  chmod 700 "$sock"
  if stack_as_pg "$bindir/pg_ctl" -D "$data" status >/dev/null 2>&1; then
    echo running; return 0
  fi
  touch "$logf"
  [ "$(id -u)" -eq 0 ] && chown postgres:postgres "$logf"
  # setsid: the server gets a session of its own, away from our process group and terminal.
  stack_as_pg setsid -w "$bindir/pg_ctl" -D "$data" -l "$logf" -w -t 60 \
    -o "-p $port -k $sock -c listen_addresses=127.0.0.1" start >/dev/null ||
    stack_die "PostgreSQL did not start; see $logf"
  echo started
}

# stack_pg_stop DATA_DIR
stack_pg_stop() {
  local bindir
  bindir=$(stack_pg_bindir)
  stack_as_pg "$bindir/pg_ctl" -D "$1" -m fast -w -t 60 stop >/dev/null 2>&1 || true
}

# stack_sql ADMIN SQL...: runs SQL as the administrator. ADMIN is either a postgres:// URL or
# "socket:DIR:PORT" for the private cluster.
stack_sql() {
  local admin=$1; shift
  if [[ $admin == socket:* ]]; then
    local rest=${admin#socket:}
    stack_as_pg psql -X -q -v ON_ERROR_STOP=1 -h "${rest%:*}" -p "${rest##*:}" -U postgres -d postgres -At "$@"
  else
    psql -X -q -v ON_ERROR_STOP=1 "$admin" -At "$@"
  fi
}

# The one provisioning SQL file (also the operator's and the end-to-end tests').
STACK_PROVISION_SQL="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/sql/provision.sql"

# stack_provision ADMIN AUTH_ROLE AUTH_PW AUTH_DB API_ROLE API_PW API_DB: two roles, two
# databases, each database reachable by its own role only. Idempotent: existing roles get their
# password set again, existing databases are kept.
stack_provision() {
  # On stdin: the postgres OS user (a socket ADMIN) need not be able to read the checkout.
  stack_sql "$1" -v auth_role="$2" -v auth_password="$3" -v auth_db="$4" \
    -v api_role="$5" -v api_password="$6" -v api_db="$7" <"$STACK_PROVISION_SQL"
}

# stack_db_url HOST PORT USER PASSWORD DB
stack_db_url() { printf 'postgres://%s:%s@%s:%s/%s' "$3" "$4" "$1" "$2" "$5"; }

# stack_wait_http URL PID SECONDS: waits for a 2xx from URL while PID lives.
stack_wait_http() {
  local url=$1 pid=$2 secs=$3 i
  for ((i = 0; i < secs * 4; i++)); do
    kill -0 "$pid" 2>/dev/null || return 1
    curl -fsS -o /dev/null --max-time 2 "$url" 2>/dev/null && return 0
    sleep 0.25
  done
  return 1
}

# stack_stop_pid PID NAME: SIGTERM, then SIGKILL after 20 s.
stack_stop_pid() {
  local pid=$1 name=$2 i
  kill -0 "$pid" 2>/dev/null || return 0
  stack_say "stopping $name (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 80; i++)); do
    kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
    sleep 0.25
  done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

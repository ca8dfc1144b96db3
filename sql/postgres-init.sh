#!/bin/sh
# The managed PostgreSQL's init step: the operator's init container runs it (same image as the
# server, before the server container's plain `postgres -D …`), so no image entrypoint script is
# relied on (no POSTGRES_* contract, no /docker-entrypoint-initdb.d). Any image that carries the
# PostgreSQL server works: it needs /bin/sh and initdb, pg_ctl and psql on PATH (or in PG_BIN_DIR).
#
# 1. An empty data directory (no PG_VERSION) is initialized: initdb with the superuser `postgres`
#    and its password (scram-sha-256), trust only on the local socket, scram for every TCP client.
# 2. A temporary server on a socket only (no TCP listener, so no client reaches it half-provisioned)
#    runs the one provisioning SQL (provision.sql, idempotent: roles, databases, privileges).
# 3. The temporary server stops (fast); a failure stops it too and fails the step.
#
# Environment: PGDATA; POSTGRES_PASSWORD (set only by initdb), AUTH_DB_PASSWORD, API_DB_PASSWORD;
# AUTH_DB_NAME, API_DB_NAME (each role owns the database of its name); PROVISION_SQL (default:
# provision.sql beside this script); PG_SOCKET_DIR (default /var/run/postgresql); PG_BIN_DIR.
set -eu

: "${PGDATA:?PGDATA is not set}"
: "${AUTH_DB_NAME:?AUTH_DB_NAME is not set}" "${API_DB_NAME:?API_DB_NAME is not set}"
: "${AUTH_DB_PASSWORD:?AUTH_DB_PASSWORD is not set}" "${API_DB_PASSWORD:?API_DB_PASSWORD is not set}"
PROVISION_SQL="${PROVISION_SQL:-${0%/*}/provision.sql}"
PG_SOCKET_DIR="${PG_SOCKET_DIR:-/var/run/postgresql}"
if [ -n "${PG_BIN_DIR:-}" ]; then PATH="$PG_BIN_DIR:$PATH"; fi
[ -r "$PROVISION_SQL" ] || { echo "postgres-init: $PROVISION_SQL is not readable" >&2; exit 1; }

if [ -s "$PGDATA/PG_VERSION" ]; then
  read -r version <"$PGDATA/PG_VERSION"
  echo "postgres-init: $PGDATA holds a PostgreSQL $version cluster; not initializing"
else
  : "${POSTGRES_PASSWORD:?POSTGRES_PASSWORD is not set}"
  echo "postgres-init: initializing $PGDATA"
  # The password reaches initdb on a pipe, never on a command line or in a file.
  printf '%s\n' "$POSTGRES_PASSWORD" | initdb --pgdata="$PGDATA" --username=postgres \
    --pwfile=/dev/stdin --auth-local=trust --auth-host=scram-sha-256 --encoding=UTF8 --locale=C
  # initdb allows TCP from loopback only; the Service's clients come from the pod network.
  {
    echo "# Written by chatplane's postgres-init.sh when it initialized this cluster."
    echo "local all all trust"
    echo "host  all all all scram-sha-256"
  } >"$PGDATA/pg_hba.conf"
fi

stop_server() { pg_ctl --pgdata="$PGDATA" --mode=fast --wait --timeout=60 stop >/dev/null; }
trap 'stop_server 2>/dev/null || true' EXIT
pg_ctl --pgdata="$PGDATA" --wait --timeout=60 \
  -o "-c listen_addresses='' -c unix_socket_directories='$PG_SOCKET_DIR' -c password_encryption=scram-sha-256" \
  start
psql -X -q -v ON_ERROR_STOP=1 --host="$PG_SOCKET_DIR" --username=postgres --dbname=postgres \
  -v auth_role="$AUTH_DB_NAME" -v auth_db="$AUTH_DB_NAME" -v auth_password="$AUTH_DB_PASSWORD" \
  -v api_role="$API_DB_NAME" -v api_db="$API_DB_NAME" -v api_password="$API_DB_PASSWORD" \
  -f "$PROVISION_SQL"
trap - EXIT
stop_server
echo "postgres-init: provisioned $AUTH_DB_NAME and $API_DB_NAME"

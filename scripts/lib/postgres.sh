# shellcheck shell=bash
# Helpers for a PostgreSQL server the tests can use.

# Starts the machine's PostgreSQL cluster when it is installed but not running (CI, a rebooted box).
ensure_system_postgres() {
  if pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
    return 0
  fi
  if [ -d /etc/postgresql ]; then
    local version
    version=$(ls /etc/postgresql | sort -V | tail -n 1)
    echo "starting PostgreSQL $version (main cluster)"
    pg_ctlcluster --skip-systemctl-redirect "$version" main start
  fi
  for _ in $(seq 1 30); do
    pg_isready -q -h 127.0.0.1 -p 5432 && return 0
    sleep 1
  done
  echo "PostgreSQL is not reachable on 127.0.0.1:5432" >&2
  return 1
}

# Drops the per-test databases (chatplane_test_*) that earlier runs left behind.
drop_test_databases() {
  local url=$1 db
  for db in $(psql "$url" -Atqc "SELECT datname FROM pg_database WHERE datname LIKE 'chatplane\_test\_%'"); do
    psql "$url" -qc "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" >/dev/null
  done
}

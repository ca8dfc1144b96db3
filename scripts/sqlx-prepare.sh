#!/usr/bin/env bash
# Writes `.sqlx/` (the query data the compile-time SQL checks read offline) from a freshly
# migrated database; with --check, fails instead when the committed data is not current.
#
#   scripts/sqlx-prepare.sh [--check]
#
# The database is made on TEST_DATABASE_URL's server (make test's private cluster) and dropped
# afterwards; without TEST_DATABASE_URL a private cluster is started and stopped. sqlx-cli, at
# the version of sqlx in Cargo.lock, is installed into ~/.cache/chatplane/tools when missing.
set -euo pipefail
cd "$(dirname "$0")/.."

check=()
case "${1:-}" in
  --check) check=(--check) ;;
  '') ;;
  *) echo "usage: $0 [--check]" >&2; exit 2 ;;
esac

say() { printf '[sqlx] %s\n' "$*" >&2; }

version=$(awk '$0 == "name = \"sqlx\"" { getline; gsub(/^version = "|"$/, ""); print; exit }' Cargo.lock)
[ -n "$version" ] || { say "no sqlx package in Cargo.lock"; exit 1; }
root="$HOME/.cache/chatplane/tools/sqlx-cli-$version"
if ! [ -x "$root/bin/cargo-sqlx" ] || ! [ -x "$root/bin/sqlx" ]; then
  say "installing sqlx-cli $version into $root"
  # Its own temporary build directory, not the workspace's target.
  env -u CARGO_TARGET_DIR cargo install sqlx-cli --locked --version "$version" \
    --no-default-features --features postgres,rustls --root "$root"
fi
export PATH="$root/bin:$PATH"

source scripts/lib/postgres.sh
DATABASE_URL=''
cleanup() {
  if [ -n "$DATABASE_URL" ]; then
    sqlx database drop -y --database-url "$DATABASE_URL" >/dev/null 2>&1 || say "could not drop the scratch database"
  fi
  pg_test_server_end
}
trap cleanup EXIT
pg_test_server_begin

DATABASE_URL="${TEST_DATABASE_URL%/*}/chatplane_sqlx_$(date +%s)_$$"
export DATABASE_URL
sqlx database create
sqlx migrate run --source migrations >/dev/null

log=$(mktemp)
trap 'rm -f "$log"; cleanup' EXIT
fix="run \`make sqlx-prepare\` (scripts/sqlx-prepare.sh) and commit .sqlx/"
# `--all-targets`: the features clippy --all-targets built the dependencies with, so after it
# only the workspace crates are checked again.
if ! cargo sqlx prepare --workspace "${check[@]}" -- --all-targets --locked 2>&1 | tee "$log"; then
  [ ${#check[@]} -eq 0 ] || say ".sqlx/ is not current: $fix"
  exit 1
fi
# `--check` only warns about query files nothing uses any more; stale data is stale either way.
if [ ${#check[@]} -gt 0 ] && grep -q 'potentially unused queries' "$log"; then
  say ".sqlx/ holds queries the code no longer has: $fix"
  exit 1
fi

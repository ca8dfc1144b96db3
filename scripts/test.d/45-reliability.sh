#!/usr/bin/env bash
# The reliability suite's short form (e2e/reliability/fault-run.test.js): PostgreSQL restarts, an
# auth-server outage, a slow then failing model, slow clients and a junk-token flood against the
# real stack. It restarts its database, so it gets a durable cluster of its own and never
# disturbs the server the other suites share. The long form: bench/reliability.sh.
set -euo pipefail
cd "$(dirname "$0")/../.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/chatplane/target}"
source scripts/lib/postgres.sh

for tool in node npm psql; do
  command -v "$tool" >/dev/null || { echo "45-reliability: $tool is required" >&2; exit 1; }
done
for dir in auth-server e2e; do
  [ -d "$dir/node_modules" ] || (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
done
cargo build -p chatplane-api --locked

pg_dir=$(mktemp -d "${TMPDIR:-/tmp}/chatplane-rel-pg.XXXXXX")
trap 'pg_private_down "$pg_dir"' EXIT
# Commits wait for the kernel: an immediate shutdown must not lose what was acknowledged.
PG_PRIVATE_DURABLE=process pg_private_up "$pg_dir"
export PG_PRIVATE_DIR="$pg_dir" CHATPLANE_API_BIN="$CARGO_TARGET_DIR/debug/chatplane-api"

echo "-- reliability (short form)"
(cd e2e && node --test --test-concurrency=1 reliability/fault-run.test.js)

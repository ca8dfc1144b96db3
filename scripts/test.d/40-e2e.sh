#!/usr/bin/env bash
# End to end: the auth server's own tests, then the real Better Auth server + the real chatplane-api
# + a private PostgreSQL (scripts/lib/postgres.sh), over HTTP (e2e/), including a run of `make dev`.
set -euo pipefail
cd "$(dirname "$0")/../.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/chatplane/target}"
# The server scripts/test.sh started, or a private one of our own when run alone.
source scripts/lib/postgres.sh
trap pg_test_server_end EXIT
pg_test_server_begin

for tool in node npm curl psql; do
  command -v "$tool" >/dev/null || { echo "40-e2e: $tool is required" >&2; exit 1; }
done

echo "-- npm ci (auth-server, e2e)"
(cd auth-server && npm ci --no-audit --no-fund --loglevel=error)
(cd e2e && npm ci --no-audit --no-fund --loglevel=error)

echo "-- cargo build -p chatplane-api"
cargo build -p chatplane-api --locked
export CHATPLANE_API_BIN="$CARGO_TARGET_DIR/debug/chatplane-api"

echo "-- auth-server tests"
(cd auth-server && node --test test/*.test.js)

echo "-- end-to-end tests"
(cd e2e && node --test --test-concurrency=2 test/*.test.js)

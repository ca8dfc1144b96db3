#!/usr/bin/env bash
# The web UI: npm ci, type check and build (app + widget.js), Vitest component tests, then the
# browser tests: Debian's chromium (installed when missing) driven by playwright-core against the
# real stack (Better Auth, chatplane-api serving web/dist from WEB_DIR, PostgreSQL).
set -euo pipefail
cd "$(dirname "$0")/../.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/chatplane/target}"
# The server scripts/test.sh started, or a private one of our own when run alone.
source scripts/lib/postgres.sh
trap pg_test_server_end EXIT
pg_test_server_begin

for tool in node npm; do
  command -v "$tool" >/dev/null || { echo "35-web: $tool is required" >&2; exit 1; }
done

echo "-- npm ci (web, auth-server, e2e)"
(cd web && npm ci --no-audit --no-fund --loglevel=error)
(cd auth-server && npm ci --no-audit --no-fund --loglevel=error)
(cd e2e && npm ci --no-audit --no-fund --loglevel=error)

echo "-- web: type check and build"
(cd web && npm run build)

echo "-- web: component tests (vitest)"
(cd web && npx vitest run)

if [ ! -x /usr/bin/chromium ]; then
  echo "-- installing chromium (Debian)"
  if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
    echo "35-web: /usr/bin/chromium is missing; install Debian's chromium package" >&2
    exit 1
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi

echo "-- cargo build -p chatplane-api"
cargo build -p chatplane-api --locked
export CHATPLANE_API_BIN="$CARGO_TARGET_DIR/debug/chatplane-api"

echo "-- web: browser tests (chromium $(/usr/bin/chromium --version 2>/dev/null | awk '{print $2}'))"
(cd web && WEB_DIR="$PWD/dist" node --test --test-concurrency=1 browser/*.test.js)

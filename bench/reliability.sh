#!/usr/bin/env bash
# The reliability suite's long form (docs/RELIABILITY.md): the release API, the real auth server,
# a cluster of its own; 200 Better Auth users for 75 s with two PostgreSQL restarts, a 30 s auth
# outage and a slow then failing model, then 3,000 idle + 500 trickling connections and a
# 6,000-token junk flood. Sizes: REL_* (see e2e/reliability/main.js). Writes
# bench/results/reliability-<UTC date>.json and exits 1 when a promise is broken.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/chatplane/target}"
source scripts/lib/postgres.sh

for dir in auth-server e2e; do
  [ -d "$dir/node_modules" ] || (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
done
# REL_PROFILE=debug measures the debug build (quicker to build; slower to serve).
profile="${REL_PROFILE:-release}"
if [ "$profile" = release ]; then cargo build --release -p chatplane-api --locked; else cargo build -p chatplane-api --locked; fi

pg_dir=$(mktemp -d "${TMPDIR:-/tmp}/chatplane-relbench-pg.XXXXXX")
trap 'pg_private_down "$pg_dir"' EXIT
PG_PRIVATE_DURABLE=process pg_private_up "$pg_dir"
mkdir -p bench/results
out="bench/results/reliability-$(date -u +%Y%m%dT%H%M%SZ).json"
export PG_PRIVATE_DIR="$pg_dir" CHATPLANE_API_BIN="$CARGO_TARGET_DIR/$profile/chatplane-api" REL_OUT="$PWD/$out"
echo "reliability: $profile build, load average $(cut -d' ' -f1-3 /proc/loadavg) before the run" >&2
(cd e2e && node reliability/main.js)
echo "reliability: report in $out" >&2

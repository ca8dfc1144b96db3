#!/usr/bin/env bash
# The history benchmark of DESIGN.md §9: an authenticated read of a 50-message page and an
# authenticated append through the API (release build), driven by `wrk` at a fixed concurrency
# (closed loop), beside pgbench running the same SQL at the same concurrency against the same
# database, in the same run. Then the API again at half its peak rate (open loop, `hey -q`), for
# p50/p99 there.
#
# Each of WORKERS workers is its own user with its own conversation (one wrk thread and
# connection each; one hey process each at half rate); pgbench runs WORKERS clients. Results: a
# markdown table on stdout and in bench/results/history.md.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/chatplane/target}"
WORKERS="${WORKERS:-8}"
DURATION="${DURATION:-15}"
PORT="${PORT:-18080}"
PGURL="${BENCH_PG:-postgres://postgres@127.0.0.1:5432}"
DB="chatplane_bench_$$"

source scripts/lib/postgres.sh
ensure_system_postgres
if ! command -v hey >/dev/null || ! command -v wrk >/dev/null; then
  apt-get update -qq && apt-get install -y -qq hey wrk >/dev/null
fi

cargo build --release --locked -p chatplane-api --bin chatplane-api --example bench_auth
BIN="$CARGO_TARGET_DIR/release/chatplane-api"
AUTH_BIN="$CARGO_TARGET_DIR/release/examples/bench_auth"

work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  psql -q "$PGURL/postgres" -c "DROP DATABASE IF EXISTS $DB" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

psql -q "$PGURL/postgres" -c "CREATE DATABASE $DB"
DATABASE_URL="$PGURL/$DB" "$BIN" migrate >/dev/null
psql -q "$PGURL/$DB" -v workers="$WORKERS" -f bench/sql/seed.sql >/dev/null

"$AUTH_BIN" "$WORKERS" >"$work/auth.json" &
pids+=($!)
for _ in $(seq 100); do [ -s "$work/auth.json" ] && break; sleep 0.1; done
auth_url=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["auth_url"])' "$work/auth.json")
issuer=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["issuer"])' "$work/auth.json")
token() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["tokens"][int(sys.argv[2])])' "$work/auth.json" "$1"; }

DATABASE_URL="$PGURL/$DB" AUTH_URL="$auth_url" AUTH_ISSUER="$issuer" AUTH_AUDIENCE="$issuer" \
  LISTEN_ADDR="127.0.0.1:$PORT" LOG_DIR="$work/logs" DATABASE_MAX_CONNECTIONS=$((WORKERS + 2)) \
  "$BIN" serve &
pids+=($!)
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null && break; sleep 0.2; done

conv() { printf '00000000-0000-4000-8000-%012d' "$1"; }

# wrk_run NAME METHOD PATH_SUFFIX: peak rate, one thread and connection per worker.
wrk_run() {
  local name=$1 method=$2 suffix=$3
  : >"$work/$name.targets"
  for i in $(seq 0 $((WORKERS - 1))); do
    echo "$method /conversations/$(conv "$i")/messages$suffix $(token "$i")" >>"$work/$name.targets"
  done
  BENCH_TARGETS="$work/$name.targets" wrk -t "$WORKERS" -c "$WORKERS" -d "${DURATION}s" \
    -s bench/wrk.lua "http://127.0.0.1:$PORT" >"$work/$name.wrk"
}

# hey_run NAME METHOD PATH_SUFFIX RATE_PER_WORKER: open loop at a fixed rate, raw latencies as CSV.
hey_run() {
  local name=$1 method=$2 suffix=$3 rate=$4
  local hp=()
  for i in $(seq 0 $((WORKERS - 1))); do
    local args=(-z "${DURATION}s" -c 1 -q "$rate" -m "$method" -o csv -H "Authorization: Bearer $(token "$i")")
    [ "$method" = POST ] && args+=(-T application/json -d '{"role":"user","content":"benchmark message"}')
    hey "${args[@]}" "http://127.0.0.1:$PORT/conversations/$(conv "$i")/messages$suffix" >"$work/$name.$i.csv" &
    hp+=($!)
  done
  wait "${hp[@]}"
}

pgbench_run() {
  local name=$1 sql=$2
  (cd "$work" && pgbench -n -M prepared -c "$WORKERS" -j 2 -T "$DURATION" -l --log-prefix="$name" \
     -f "$OLDPWD/$sql" "$PGURL/$DB" >"$work/$name.out" 2>&1)
}

summary() { python3 bench/summarize.py "$@"; }

wrk_run read_api GET '?limit=50'
pgbench_run read_pg bench/sql/read_page.sql
wrk_run append_api POST ''
pgbench_run append_pg bench/sql/append.sql
read_rate=$(summary rate "$work/read_api.wrk")
append_rate=$(summary rate "$work/append_api.wrk")
hey_run read_half GET '?limit=50' "$(python3 -c "print(max(1, int($read_rate / 2 / $WORKERS)))")"
hey_run append_half POST '' "$(python3 -c "print(max(1, int($append_rate / 2 / $WORKERS)))")"

mkdir -p bench/results
summary table "$work" "$WORKERS" "$DURATION" | tee bench/results/history.md

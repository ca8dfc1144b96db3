#!/usr/bin/env bash
# The history benchmark of DESIGN.md §9: an authenticated read of a 50-message page and an
# authenticated append through the API (release build), driven by `wrk` at a fixed concurrency
# (closed loop), beside pgbench running the same SQL at the same concurrency against the same
# database, in the same run. Then the API again at half its peak rate (open loop, `hey -q`), for
# p50/p99 there.
#
# Each of WORKERS workers is its own user with a conversation it reads and another it appends to
# (one wrk thread and connection each; one hey process each at half rate), so every read is of
# the same 50 seeded messages; pgbench runs WORKERS clients.
#
# Two CPU layouts, one after the other:
#   shared  everything on all cores (on a 2-core machine the API, the load tool and PostgreSQL
#           compete, so the API's own CPU comes out of the database's);
#   split   PostgreSQL on core 0; the API, wrk/hey and the pgbench client on the other cores, so
#           the database has the same CPU in the API run as in the pgbench run.
# The postmaster's affinity is set for the split runs and restored afterwards.
#
# API_BINS="label=path ...": prebuilt API binaries (e.g. an older commit's release build) run one
# after the other in each layout, beside the one pgbench run, for before/after tables from one run
# (default: this tree's build as `this`). Where perf can count tracepoints, each wrk run also
# reports the API's system calls and context switches per request (all its threads).
#
# Results: markdown tables on stdout and in bench/results/history.md. After each layout's table,
# one of CPU per request: the API with wrk's own CPU beside it; pgbench at each API's measured rate
# (-R), as the database's CPU per statement rises when its rate falls; the store's statements
# alone through the API's sqlx pool (api/examples/store_floor.rs, no HTTP); and pgbench at its peak.
#
# PROFILE=1: instead, the API runs under callgrind (one load at a time, WORKERS connections for
# DURATION seconds after a warm-up), and each load reports the instructions the API spent per
# request with the functions that spent them: bench/results/profile-read.txt, profile-append.txt
# (the dumps beside them, callgrind-*.out, for callgrind_annotate).
#
# SYSCALLS=1: instead, each load runs with `perf trace -s` attached to the API (all its threads),
# for its system calls per request by name: bench/results/syscalls-read.txt, syscalls-append.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/chatplane/target}"
WORKERS="${WORKERS:-8}"
DURATION="${DURATION:-15}"
PORT="${PORT:-18080}"
LAYOUTS="${LAYOUTS:-shared split}"
DB="chatplane_bench_$$"

# BENCH_PG: an administrator's URL without the database part; else a private, durable cluster.
source scripts/lib/postgres.sh
PG_DIR=''
if [ -n "${BENCH_PG:-}" ]; then
  PGURL=$BENCH_PG
else
  PG_DIR=$(mktemp -d "${TMPDIR:-/tmp}/chatplane-bench-pg.XXXXXX")
  PG_PRIVATE_DURABLE=1 pg_private_up "$PG_DIR"
  PGURL=${TEST_DATABASE_URL%/postgres}
fi
if ! command -v hey >/dev/null || ! command -v wrk >/dev/null || ! command -v valgrind >/dev/null \
  || ! command -v perf >/dev/null; then
  apt-get update -qq && apt-get install -y -qq hey wrk valgrind linux-perf >/dev/null
fi
# Tracepoint counting needs a kernel that allows it (perf_event_paranoid, tracefs).
COUNT_SYSCALLS=''
perf stat -e raw_syscalls:sys_enter,context-switches -o /dev/null true 2>/dev/null && COUNT_SYSCALLS=1

cargo build --release --locked -p chatplane-api --bin chatplane-api --example bench_auth \
  --example store_floor
BIN="$CARGO_TARGET_DIR/release/chatplane-api"
read -ra APIS <<<"${API_BINS:-this=$BIN}"
AUTH_BIN="$CARGO_TARGET_DIR/release/examples/bench_auth"
FLOOR_BIN="$CARGO_TARGET_DIR/release/examples/store_floor"
CORES=$(nproc)
POSTMASTER=$(head -n 1 "$(psql -Atqc 'SHOW data_directory' "$PGURL/postgres")/postmaster.pid")

work=$(mktemp -d)
pids=()
api_pid=""
cleanup() {
  taskset -a -cp "0-$((CORES - 1))" "$POSTMASTER" >/dev/null 2>&1 || true
  [ -n "$api_pid" ] && kill "$api_pid" 2>/dev/null
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  psql -q "$PGURL/postgres" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf "$work"
  [ -z "$PG_DIR" ] || pg_private_down "$PG_DIR"
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
# Worker N's conversation for METHOD: GET reads …-8000-N, POST appends to …-9000-N (seed.sql).
conv() { if [ "$1" = POST ]; then printf '00000000-0000-4000-9000-%012d' "$2"; else printf '00000000-0000-4000-8000-%012d' "$2"; fi; }

# The client side of a layout: all cores, or every core but the database's.
PIN=()
set_layout() {
  if [ "$1" = split ] && [ "$CORES" -ge 2 ]; then
    taskset -a -cp 0 "$POSTMASTER" >/dev/null
    PIN=(taskset -c "1-$((CORES - 1))")
  else
    taskset -a -cp "0-$((CORES - 1))" "$POSTMASTER" >/dev/null
    PIN=()
  fi
}

WRAP=()
start_api() {
  DATABASE_URL="$PGURL/$DB" AUTH_URL="$auth_url" AUTH_ISSUER="$issuer" AUTH_AUDIENCE="$issuer" \
    LISTEN_ADDR="127.0.0.1:$PORT" METRICS_ADDR=127.0.0.1:0 LOG_DIR="$work/logs" DATABASE_MAX_CONNECTIONS=$((WORKERS + 2)) \
    MAX_MESSAGES_PER_CONVERSATION=100000000 \
    "${PIN[@]}" "${WRAP[@]}" "$BIN" serve &
  api_pid=$!
  for _ in $(seq 300); do curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null && return; sleep 0.2; done
  echo "the API did not become ready" >&2
  return 1
}

stop_api() {
  kill "$api_pid"
  wait "$api_pid" 2>/dev/null || true
  api_pid=""
}

# CPU seconds the API process has used so far (user + system), and of them in the kernel.
api_cpu() { awk -v hz="$(getconf CLK_TCK)" '{ printf "%.3f\n", ($14 + $15) / hz }' "/proc/$api_pid/stat"; }
api_sys() { awk -v hz="$(getconf CLK_TCK)" '{ printf "%.3f\n", $15 / hz }' "/proc/$api_pid/stat"; }
# CPU seconds the whole PostgreSQL cluster has used so far (every backend and helper process).
db_cpu() { python3 bench/summarize.py dbcpu "$POSTMASTER"; }

# timed OUT CMD...: runs CMD with its output into OUT, then adds the CPU seconds it used (user +
# system, then system alone) as a CLIENTCPU line: the load tool's own cost, or the client's.
timed() {
  local out=$1 TIMEFORMAT='%U %S' t u s
  shift
  t=$({ time "$@" >"$out" 2>&1; } 2>&1)
  read -r u s <<<"$t"
  echo "CLIENTCPU $(python3 -c "print($u + $s, $s)")" >>"$out"
}

# wrk_run NAME METHOD PATH_SUFFIX: peak rate, one thread and connection per worker.
wrk_run() {
  local name=$1 method=$2 suffix=$3 before sys_before db_before
  : >"$work/$name.targets"
  for i in $(seq 0 $((WORKERS - 1))); do
    echo "$method /conversations/$(conv "$method" "$i")/messages$suffix $(token "$i")" >>"$work/$name.targets"
  done
  local perf_pid=''
  if [ -n "$COUNT_SYSCALLS" ] && [ -z "${WRAP[*]}" ]; then
    perf stat -x, -e raw_syscalls:sys_enter,context-switches -o "$work/$name.perf" -p "$api_pid" &
    perf_pid=$!
  fi
  before=$(api_cpu)
  sys_before=$(api_sys)
  db_before=$(db_cpu)
  timed "$work/$name.wrk" env BENCH_TARGETS="$work/$name.targets" "${PIN[@]}" wrk -t "$WORKERS" \
    -c "$WORKERS" -d "${DURATION}s" -s bench/wrk.lua "http://127.0.0.1:$PORT"
  {
    echo "CPU $(python3 -c "print($(api_cpu) - $before)")"
    echo "SYSCPU $(python3 -c "print($(api_sys) - $sys_before)")"
    echo "DBCPU $(python3 -c "print($(db_cpu) - $db_before)")"
  } >>"$work/$name.wrk"
  if [ -n "$perf_pid" ]; then
    kill -INT "$perf_pid"
    wait "$perf_pid" || true
    awk -F, '$3 ~ /sys_enter/ { print "SYSCALLS " $1 } $3 ~ /context-switches/ { print "SWITCHES " $1 }' \
      "$work/$name.perf" >>"$work/$name.wrk"
  fi
}

# hey_run NAME METHOD PATH_SUFFIX RATE_PER_WORKER: open loop at a fixed rate, raw latencies as CSV.
hey_run() {
  local name=$1 method=$2 suffix=$3 rate=$4
  local hp=()
  for i in $(seq 0 $((WORKERS - 1))); do
    local args=(-z "${DURATION}s" -c 1 -q "$rate" -m "$method" -o csv -H "Authorization: Bearer $(token "$i")")
    [ "$method" = POST ] && args+=(-T application/json -d '{"role":"user","content":"benchmark message"}')
    "${PIN[@]}" hey "${args[@]}" "http://127.0.0.1:$PORT/conversations/$(conv "$method" "$i")/messages$suffix" \
      >"$work/$name.$i.csv" &
    hp+=($!)
  done
  wait "${hp[@]}"
}

# db_client NAME CMD...: `timed` for a client with connections of its own, then the cluster's CPU
# over its run as a DBCPU line.
db_client() {
  local out="$work/$1.out" db_before
  shift
  db_before=$(db_cpu)
  timed "$out" "$@"
  sleep 1 # the client's backends exit after it does: let the postmaster reap them into its count
  echo "DBCPU $(python3 -c "print($(db_cpu) - $db_before)")" >>"$out"
}

# pgbench_run NAME SQL [PGBENCH_ARGS...]: pgbench's peak (or, with -R, a fixed rate).
pgbench_run() {
  local name=$1 sql=$2
  shift 2
  db_client "$name" "${PIN[@]}" pgbench -n -M prepared -c "$WORKERS" -j 2 -T "$DURATION" -l \
    --log-prefix="$work/$name" -f "$sql" "$@" "$PGURL/$DB"
}

# floor_run NAME read|append: the store's statements through sqlx alone, at their peak
# (api/examples/store_floor.rs): what the API's database client costs without HTTP around it.
floor_run() {
  db_client "$1" env DATABASE_URL="$PGURL/$DB" "${PIN[@]}" "$FLOOR_BIN" "$2" "$WORKERS" "$DURATION"
}

summary() { python3 bench/summarize.py "$@"; }

# profile NAME METHOD PATH_SUFFIX: callgrind's count from after a warm-up to the end of the load.
profile() {
  local name=$1 method=$2 suffix=$3 out="$work/callgrind.$1"
  WRAP=(valgrind --tool=callgrind --callgrind-out-file="$out" --instr-atstart=no)
  start_api
  DURATION=2 wrk_run "warm-$name" "$method" "$suffix"
  callgrind_control --instr=on "$api_pid" >/dev/null
  wrk_run "$name" "$method" "$suffix"
  callgrind_control --instr=off "$api_pid" >/dev/null
  stop_api
  WRAP=()
  cp "$out" "bench/results/callgrind-$name.out"
  python3 bench/summarize.py profile "$work/$name.wrk" "bench/results/callgrind-$name.out" \
    | tee "bench/results/profile-$name.txt"
}

# syscalls NAME METHOD PATH_SUFFIX: the API's system calls by name over one load, after a warm-up.
syscalls() {
  local name=$1 method=$2 suffix=$3 trace_pid
  start_api
  DURATION=2 wrk_run "warm-$name" "$method" "$suffix"
  perf trace -s -p "$api_pid" -o "$work/$name.trace" &
  trace_pid=$!
  pids+=("$trace_pid")
  sleep 1 # attached before the load starts
  wrk_run "$name" "$method" "$suffix"
  kill -INT "$trace_pid"
  wait "$trace_pid" || true
  stop_api
  python3 bench/summarize.py syscalls "$work/$name.wrk" "$work/$name.trace" \
    | tee "bench/results/syscalls-$name.txt"
}

mkdir -p bench/results
# PROFILE and SYSCALLS measure each load on its own instead of the tables.
per_load=''
[ -z "${PROFILE:-}" ] || per_load=profile
[ -z "${SYSCALLS:-}" ] || per_load=syscalls
if [ -n "$per_load" ]; then
  for entry in "${APIS[@]}"; do
    label=${entry%%=*}
    BIN=${entry#*=}
    tag=''
    [ "$label" = this ] || tag="-$label"
    "$per_load" "read$tag" GET '?limit=50'
    "$per_load" "append$tag" POST ''
  done
  exit 0
fi

: >bench/results/history.md
labels=()
for entry in "${APIS[@]}"; do labels+=("${entry%%=*}"); done
# Reads first, then appends; after seeding and after every run that appended, VACUUM ANALYZE and
# a CHECKPOINT outside the measurement, so that no run pays for work another run's rows left
# (autovacuum, a checkpoint's writes).
vacuum() { psql -q "$PGURL/$DB" -c 'VACUUM ANALYZE' -c 'CHECKPOINT' >/dev/null; }
vacuum
for layout in $LAYOUTS; do
  set_layout "$layout"
  dir="$work/$layout"
  mkdir -p "$dir"
  for op in read append; do
    if [ "$op" = read ]; then method=GET suffix='?limit=50'; else method=POST suffix=''; fi
    sql="bench/sql/$([ "$op" = read ] && echo read_page || echo append).sql"
    for entry in "${APIS[@]}"; do
      label=${entry%%=*}
      BIN=${entry#*=}
      start_api
      # Unmeasured: the new process's connections, prepared statements and caches.
      DURATION=2 wrk_run "$layout/${op}_warm.$label" "$method" "$suffix"
      wrk_run "$layout/${op}_api.$label" "$method" "$suffix"
      rate=$(summary rate "$dir/${op}_api.$label.wrk")
      hey_run "$layout/${op}_half.$label" "$method" "$suffix" "$(python3 -c "print(max(1, int($rate / 2 / $WORKERS)))")"
      stop_api
      [ "$op" = read ] || vacuum
      # The database's CPU per statement grows as its rate falls (it sleeps and wakes between
      # statements), so it is compared with pgbench's at the API's own rate too.
      pgbench_run "$layout/${op}_pgat.$label" "$sql" -R "${rate%.*}"
      [ "$op" = read ] || vacuum
    done
    pgbench_run "$layout/${op}_pg" "$sql"
    [ "$op" = read ] || vacuum
    floor_run "$layout/${op}_floor" "$op"
    [ "$op" = read ] || vacuum
  done
  {
    summary table "$dir" "$layout" "$WORKERS" "$DURATION" "${labels[@]}"
    echo
    summary cpu "$dir" "$layout" "$DURATION" "${labels[@]}"
    echo
  } | tee -a bench/results/history.md
done

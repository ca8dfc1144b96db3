#!/usr/bin/env bash
# `make bench`: every benchmark of docs/BENCHMARKS.md, one after the other (they share 2 cores,
# so they never run at once). BENCHES picks a subset: history jwt retrieval operator.
#
#   history    bench/history.sh: the API beside pgbench (installs wrk and hey when missing)
#   jwt        criterion: JWT verification with a cached key
#   retrieval  top-3 retrieval over a 10,000-chunk corpus (BENCH_CORPUS picks the corpus)
#   operator   criterion: the desired state; the cache's memory with 1,000 ChatDeployments
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/chatplane/target}"
BENCHES=${BENCHES:-history jwt retrieval operator}

source scripts/lib/postgres.sh
trap pg_test_server_end EXIT

for bench in $BENCHES; do
  echo "== bench: $bench"
  case $bench in
    history) bash bench/history.sh ;;
    jwt) cargo bench --locked -p chatplane-api --bench jwt_verify -- --warm-up-time 1 --measurement-time 4 ;;
    retrieval)
      PG_PRIVATE_DURABLE=1 pg_test_server_begin
      cargo bench --locked -p chatplane-api --bench retrieval
      pg_test_server_end
      ;;
    operator)
      cargo bench --locked -p chatplane-operator --bench desired_state -- --warm-up-time 1 --measurement-time 4
      cargo bench --locked -p chatplane-operator --bench cache_memory
      ;;
    *) echo "unknown benchmark $bench (history jwt retrieval operator)" >&2; exit 2 ;;
  esac
done

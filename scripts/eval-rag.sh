#!/usr/bin/env bash
# `make eval-rag CORPUS=dir QUESTIONS=file`: recall@3 of a question set on any corpus, with the
# misses, through the real ingest and Retriever (api/examples/eval_rag.rs) on a private
# PostgreSQL (or the server TEST_DATABASE_URL names). Without arguments: the fixture corpus and
# its question set, the ones the tests assert on.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/chatplane/target}"
CORPUS=${CORPUS:-api/tests/data/corpus}
QUESTIONS=${QUESTIONS:-api/tests/data/retrieval_questions.json}
[ -d "$CORPUS" ] || { echo "eval-rag: CORPUS=$CORPUS is not a directory" >&2; exit 2; }
[ -f "$QUESTIONS" ] || { echo "eval-rag: QUESTIONS=$QUESTIONS is not a file" >&2; exit 2; }
# Absolute paths: cargo runs the example from the crate's directory.
CORPUS=$(realpath "$CORPUS")
QUESTIONS=$(realpath "$QUESTIONS")

source scripts/lib/postgres.sh
trap pg_test_server_end EXIT
pg_test_server_begin

echo "== eval-rag: $CORPUS with $QUESTIONS"
cargo run --locked --quiet -p chatplane-api --example eval_rag -- "$CORPUS" "$QUESTIONS"

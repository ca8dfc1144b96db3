#!/usr/bin/env bash
# Runs every test: formatting and lints, the Rust workspace against a real PostgreSQL, then each
# extra suite in scripts/test.d/ (auth server end to end, manifest validation, ...), in name order.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/chatplane/target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

source scripts/lib/postgres.sh
ensure_system_postgres
export TEST_DATABASE_URL="${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}"

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "== cargo test"
# Each integration test makes its own database; clear what earlier runs left, and ours after.
drop_test_databases "$TEST_DATABASE_URL"
cargo test --workspace --locked
drop_test_databases "$TEST_DATABASE_URL"

shopt -s nullglob
for suite in scripts/test.d/*.sh; do
  echo "== $suite"
  bash "$suite"
done
echo "all test suites passed"

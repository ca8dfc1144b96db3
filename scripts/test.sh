#!/usr/bin/env bash
# Runs every test: formatting and lints, the Rust workspace against a real PostgreSQL, then each
# extra suite in scripts/test.d/ (auth server end to end, manifest validation, ...), in name order.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/chatplane/target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

# A private PostgreSQL for every suite (or the server TEST_DATABASE_URL names), stopped on exit.
source scripts/lib/postgres.sh
trap pg_test_server_end EXIT
pg_test_server_begin

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== shellcheck"
if ! command -v shellcheck >/dev/null; then
  [ "$(id -u)" -eq 0 ] || { echo "shellcheck is missing: apt-get install shellcheck" >&2; exit 1; }
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq shellcheck >/dev/null
fi
git ls-files -co --exclude-standard -z '*.sh' | xargs -0 shellcheck -x
echo "== cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "== cargo sqlx prepare --check"
# The committed .sqlx/ query data (what offline builds check the SQL against) matches the code.
bash scripts/sqlx-prepare.sh --check
echo "== cargo test"
# Each integration test makes its own database in the private cluster.
cargo test --workspace --locked

shopt -s nullglob
for suite in scripts/test.d/*.sh; do
  echo "== $suite"
  bash "$suite"
done
echo "all test suites passed"

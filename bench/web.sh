#!/usr/bin/env bash
# The web UI's numbers for docs/BENCHMARKS.md: the built bundle's size (raw and gzip -9) and the
# time to the first answer token in headless Chromium (from the browser tests, which also
# refresh the README's screenshots in docs/screenshots/).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/chatplane/target}"
source scripts/lib/postgres.sh
trap pg_test_server_end EXIT
pg_test_server_begin

(cd web && npm ci --no-audit --no-fund --loglevel=error && npm run -s build >/dev/null)
(cd auth-server && npm ci --no-audit --no-fund --loglevel=error)
(cd e2e && npm ci --no-audit --no-fund --loglevel=error)

echo "| file | bytes | gzip -9 |"
echo "|---|---:|---:|"
for f in web/dist/assets/*.js web/dist/assets/*.css web/dist/widget.js; do
  # shellcheck disable=SC2016 # backticks are Markdown
  printf '| `%s` | %s | %s |\n' "${f#web/dist/}" "$(wc -c <"$f")" "$(gzip -9 -c "$f" | wc -c)"
done

cargo build -q -p chatplane-api --locked
export CHATPLANE_API_BIN="$CARGO_TARGET_DIR/debug/chatplane-api"
mkdir -p bench/results
out=bench/results/web-first-token.json
(cd web && WEB_DIR="$PWD/dist" SCREENSHOT_DIR="$PWD/../docs/screenshots" WEB_BENCH_OUT="$PWD/../$out" \
  node --test --test-concurrency=1 browser/*.test.js)
echo "time to first answer token: $(cat "$out")"

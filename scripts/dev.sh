#!/usr/bin/env bash
# `make dev`: the whole stack on this machine, in the foreground.
#
#   PostgreSQL  a private cluster in .dev/pg (port 55432), or the server named by DATABASE_URL
#               (an administrator's URL); two databases and two roles, each role limited to its own
#   auth server Better Auth on :3000 (auth-server/, migrates itself)
#   chat API    chatplane-api on :8080 (migrated with `chatplane-api migrate` first), serving
#               the web UI (web/, built here) at http://localhost:8080/
#
# Ctrl-C stops everything it started. Running it again reuses the cluster, the roles, the
# databases and the secrets in .dev/ (created once). Overrides: DEV_DIR, AUTH_PORT, API_PORT, METRICS_PORT,
# DEV_PG_PORT, DEV_DB_PREFIX, DEV_TRUSTED_ORIGINS, RAG_CORPUS_DIR, DOCS_BASE_URL, CHATPLANE_API_BIN
# (skip the cargo build), WEB_DIR (a built web/dist: skip the web build).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
source scripts/lib/stack.sh

DEV_DIR=${DEV_DIR:-$ROOT/.dev}
AUTH_PORT=${AUTH_PORT:-3000}
API_PORT=${API_PORT:-8080}
METRICS_PORT=${METRICS_PORT:-9090}
DEV_PG_PORT=${DEV_PG_PORT:-55432}
PREFIX=${DEV_DB_PREFIX:-chatplane}
AUTH_ROLE=${PREFIX}_auth API_ROLE=${PREFIX}_api
AUTH_DB=${PREFIX}_auth API_DB=${PREFIX}_api
AUTH_URL=http://localhost:$AUTH_PORT
API_URL=http://localhost:$API_PORT
ORIGINS=${DEV_TRUSTED_ORIGINS:-http://localhost:$API_PORT,http://127.0.0.1:$API_PORT,http://localhost:5173}
# The corpus the API answers from, and where its citations link (DOCS_BASE_URL + slug + #anchor;
# empty: site-relative links). Point DOCS_BASE_URL at the site that publishes RAG_CORPUS_DIR.
RAG_CORPUS_DIR=${RAG_CORPUS_DIR:-$ROOT/docs}
DOCS_BASE_URL=${DOCS_BASE_URL:-}
[ -d "$RAG_CORPUS_DIR" ] || stack_die "RAG_CORPUS_DIR $RAG_CORPUS_DIR is not a directory"
RAG_CORPUS_DIR=$(cd "$RAG_CORPUS_DIR" && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/chatplane/target}

for tool in node npm psql curl; do
  command -v "$tool" >/dev/null || stack_die "$tool is not installed"
done
[[ $PREFIX =~ ^[a-z_][a-z0-9_]*$ ]] || stack_die "DEV_DB_PREFIX must be a lower-case SQL identifier"
for port in "$AUTH_PORT" "$API_PORT" "$METRICS_PORT"; do
  if stack_port_busy "$port"; then
    stack_die "port $port is already in use (is \`make dev\` already running?); nothing was started"
  fi
done

mkdir -p "$DEV_DIR/logs"
chmod 755 "$DEV_DIR"
# Secrets: generated once, then kept (a new BETTER_AUTH_SECRET would make the stored keys unusable).
if [ ! -f "$DEV_DIR/secrets.env" ]; then
  (umask 077 && cat >"$DEV_DIR/secrets.env" <<EOF
BETTER_AUTH_SECRET=$(stack_secret)
AUTH_DB_PASSWORD=$(stack_secret)
API_DB_PASSWORD=$(stack_secret)
EOF
  )
fi
# shellcheck disable=SC1091
source "$DEV_DIR/secrets.env"

PG_STARTED='' AUTH_PID='' API_PID='' PG_DATA=''
cleanup() {
  local rc=$?
  trap - INT TERM EXIT
  [ -n "$API_PID" ] && stack_stop_pid "$API_PID" "chat API"
  [ -n "$AUTH_PID" ] && stack_stop_pid "$AUTH_PID" "auth server"
  if [ -n "$PG_STARTED" ]; then
    stack_say "stopping PostgreSQL"
    stack_pg_stop "$PG_DATA"
  fi
  stack_say "stopped"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 0' INT TERM

# --- PostgreSQL -------------------------------------------------------------------------------
if [ -n "${DATABASE_URL:-}" ]; then
  ADMIN=$DATABASE_URL
  read -r DB_HOST DB_PORT < <(node -e 'const u=new URL(process.argv[1]);console.log(u.hostname||"127.0.0.1",u.port||5432)' "$DATABASE_URL")
  stack_say "using the PostgreSQL server at $DB_HOST:$DB_PORT (DATABASE_URL)"
else
  if stack_port_busy "$DEV_PG_PORT" && [ ! -f "$DEV_DIR/pg/data/postmaster.pid" ]; then
    stack_die "port $DEV_PG_PORT is taken by another program; set DEV_PG_PORT"
  fi
  PG_HOME=$DEV_DIR/pg
  mkdir -p "$PG_HOME"
  # The postgres user must reach its data directory; when the project lives where it cannot, the
  # cluster goes to a directory of its own under /var/tmp.
  if [ "$(id -u)" -eq 0 ] && ! runuser -u postgres -- test -x "$PG_HOME"; then
    PG_HOME=/var/tmp/chatplane-dev-$(printf '%s' "$DEV_DIR" | sha256sum | head -c 12)
    stack_say "the postgres user cannot enter $DEV_DIR; the cluster lives in $PG_HOME"
    mkdir -p "$PG_HOME"
  fi
  [ "$(id -u)" -eq 0 ] && chown postgres:postgres "$PG_HOME"
  PG_DATA=$PG_HOME/data
  PG_SOCK=$PG_HOME/run
  if [ ${#PG_SOCK} -gt 90 ]; then PG_SOCK=/tmp/chatplane-pg-$(printf '%s' "$PG_HOME" | sha256sum | head -c 12); fi
  stack_pg_init "$PG_DATA"
  pg_state=$(stack_pg_start "$PG_DATA" "$DEV_PG_PORT" "$PG_SOCK" "$DEV_DIR/logs/postgres.log")
  case $pg_state in
    started) PG_STARTED=1 ;;
    running) PG_STARTED=1; stack_say "PostgreSQL in $PG_DATA was left running; adopting it" ;;
  esac
  ADMIN=socket:$PG_SOCK:$DEV_PG_PORT DB_HOST=127.0.0.1 DB_PORT=$DEV_PG_PORT
fi
stack_provision "$ADMIN" "$AUTH_ROLE" "$AUTH_DB_PASSWORD" "$AUTH_DB" "$API_ROLE" "$API_DB_PASSWORD" "$API_DB"
AUTH_DATABASE_URL=$(stack_db_url "$DB_HOST" "$DB_PORT" "$AUTH_ROLE" "$AUTH_DB_PASSWORD" "$AUTH_DB")
API_DATABASE_URL=$(stack_db_url "$DB_HOST" "$DB_PORT" "$API_ROLE" "$API_DB_PASSWORD" "$API_DB")
stack_say "databases: $AUTH_DB (role $AUTH_ROLE), $API_DB (role $API_ROLE)"

# --- builds -----------------------------------------------------------------------------------
if [ ! -f auth-server/node_modules/.package-lock.json ] ||
  [ auth-server/package-lock.json -nt auth-server/node_modules/.package-lock.json ]; then
  stack_say "installing the auth server's packages (npm ci)"
  (cd auth-server && npm ci --no-audit --no-fund --loglevel=error)
fi
if [ -n "${CHATPLANE_API_BIN:-}" ]; then
  API_BIN=$CHATPLANE_API_BIN
else
  stack_say "building chatplane-api"
  cargo build -q -p chatplane-api --locked
  API_BIN=$CARGO_TARGET_DIR/debug/chatplane-api
fi
[ -x "$API_BIN" ] || stack_die "no chatplane-api binary at $API_BIN"
# The web UI, served by the API at $API_URL/ (a WEB_DIR from the environment is used as it is).
if [ -z "${WEB_DIR:-}" ]; then
  if [ ! -f web/node_modules/.package-lock.json ] ||
    [ web/package-lock.json -nt web/node_modules/.package-lock.json ]; then
    stack_say "installing the web UI's packages (npm ci)"
    (cd web && npm ci --no-audit --no-fund --loglevel=error)
  fi
  # Rebuilt only when a source is newer than the last build (`make test` type-checks it).
  if [ ! -f web/dist/index.html ] || [ ! -f web/dist/widget.js ] || [ -n "$(find web/src web/public \
    web/index.html web/package-lock.json web/vite.config.ts web/vite.widget.config.ts \
    -newer web/dist/widget.js -print -quit)" ]; then
    stack_say "building the web UI (web/dist)"
    (cd web && npm run -s build:dist >"$DEV_DIR/logs/web-build.log" 2>&1) ||
      stack_die "the web UI did not build; see $DEV_DIR/logs/web-build.log"
  fi
  WEB_DIR=$ROOT/web/dist
fi

# --- migrations and services ------------------------------------------------------------------
stack_say "migrating the chat database"
DATABASE_URL=$API_DATABASE_URL "$API_BIN" migrate >>"$DEV_DIR/logs/api.log" 2>&1 ||
  stack_die "chatplane-api migrate failed; see $DEV_DIR/logs/api.log"

stack_say "starting the auth server on $AUTH_URL"
env DATABASE_URL="$AUTH_DATABASE_URL" BETTER_AUTH_SECRET="$BETTER_AUTH_SECRET" BETTER_AUTH_URL="$AUTH_URL" \
  JWT_ISSUER="$AUTH_URL" JWT_AUDIENCE=chatplane-api JWT_EXPIRATION="${JWT_EXPIRATION:-15m}" \
  TRUSTED_ORIGINS="$ORIGINS" PORT="$AUTH_PORT" HOST=127.0.0.1 \
  node auth-server/src/main.js >>"$DEV_DIR/logs/auth.log" 2>&1 &
AUTH_PID=$!
stack_wait_http "http://127.0.0.1:$AUTH_PORT/readyz" "$AUTH_PID" 60 ||
  stack_die "the auth server did not become ready; see $DEV_DIR/logs/auth.log"

stack_say "starting the chat API on $API_URL"
env DATABASE_URL="$API_DATABASE_URL" AUTH_URL="http://127.0.0.1:$AUTH_PORT" AUTH_ISSUER="$AUTH_URL" \
  AUTH_AUDIENCE=chatplane-api CORS_ALLOWED_ORIGINS="$ORIGINS" LISTEN_ADDR="127.0.0.1:$API_PORT" \
  METRICS_ADDR="127.0.0.1:$METRICS_PORT" RAG_CORPUS_DIR="$RAG_CORPUS_DIR" DOCS_BASE_URL="$DOCS_BASE_URL" \
  WEB_DIR="$WEB_DIR" WEB_AUTH_URL="$AUTH_URL" \
  "$API_BIN" serve >>"$DEV_DIR/logs/api.log" 2>&1 &
API_PID=$!
stack_wait_http "http://127.0.0.1:$API_PORT/readyz" "$API_PID" 60 ||
  stack_die "the chat API did not become ready; see $DEV_DIR/logs/api.log"

cat <<EOF

  chatplane is up.
    web app      $API_URL/   (sign up and ask; the widget is $API_URL/widget.js)
    auth server  $AUTH_URL   (Better Auth: $AUTH_URL/api/auth/*, JWKS $AUTH_URL/api/auth/jwks)
    chat API     $API_URL   (health $API_URL/healthz, metrics http://127.0.0.1:$METRICS_PORT/metrics)
    PostgreSQL   $DB_HOST:$DB_PORT   databases $AUTH_DB, $API_DB
    corpus       $RAG_CORPUS_DIR   (citations link to ${DOCS_BASE_URL:-<site-relative>}/<slug>#<anchor>)
    logs         $DEV_DIR/logs/{auth,api,postgres}.log

  Try it (copy and paste):
# --- curl session ---
EMAIL="you+\$(date +%s)\$RANDOM@example.com"; PASSWORD="correct-horse-battery"
curl -s -X POST $AUTH_URL/api/auth/sign-up/email -H 'content-type: application/json' \\
  -d "{\"email\":\"\$EMAIL\",\"password\":\"\$PASSWORD\",\"name\":\"You\"}"; echo
TOKEN=\$(curl -s -X POST $AUTH_URL/api/auth/sign-in/email -H 'content-type: application/json' \\
  -d "{\"email\":\"\$EMAIL\",\"password\":\"\$PASSWORD\"}" | sed -n 's/.*"token":"\([^"]*\)".*/\1/p')
JWT=\$(curl -s $AUTH_URL/api/auth/token -H "authorization: Bearer \$TOKEN" | sed -n 's/.*"token":"\([^"]*\)".*/\1/p')
curl -s -X POST $API_URL/conversations -H "authorization: Bearer \$JWT" \\
  -H 'content-type: application/json' -d '{"title":"My first conversation"}'; echo
curl -s $API_URL/conversations -H "authorization: Bearer \$JWT"; echo
# --- end ---

  Ctrl-C stops everything.
EOF

# Runs until Ctrl-C (or until a service dies, which stops the rest).
set +e
wait -n "$AUTH_PID" "$API_PID"
rc=$?
if [ "$rc" -le 128 ]; then
  kill -0 "$AUTH_PID" 2>/dev/null || stack_say "the auth server exited ($rc); see $DEV_DIR/logs/auth.log"
  kill -0 "$API_PID" 2>/dev/null || stack_say "the chat API exited ($rc); see $DEV_DIR/logs/api.log"
  exit 1
fi

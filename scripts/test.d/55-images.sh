#!/usr/bin/env bash
# The offline OCI images (scripts/images.sh, built or reused by content):
# 1. each image's config (entrypoint, cmd, user, ports, working directory, environment, stop
#    signal) is what its Dockerfile sets, over what the Dockerfile's base image sets;
# 2. each image starts from its own root filesystem (unpacked from the archive) as a runtime would
#    start it, with the config's user, working directory and environment (scripts/lib/oci_image.py
#    under a private mount namespace, loopback only), and they work together: the PostgreSQL image
#    runs the operator's init step (sql/postgres-init.sh) and serves; the auth image migrates its
#    database and answers /readyz; the API image migrates, answers /readyz (database reachable,
#    the auth image's JWKS loaded) and serves the web UI from its WEB_DIR; the operator image
#    renders a ChatDeployment; the pause image waits and exits 0 on SIGTERM.
set -euo pipefail
cd "$(dirname "$0")/../.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/chatplane/target}"
source scripts/lib/postgres.sh # pg_free_port

say() { printf -- '-- %s\n' "$*"; }
fail() { printf '55-images: %s\n' "$*" >&2; exit 1; }
for tool in python3 unshare curl jq; do
  command -v "$tool" >/dev/null || fail "$tool is required"
done

WORK=$(mktemp -d "${TMPDIR:-/tmp}/chatplane-images-test.XXXXXX")
chmod 755 "$WORK"
PIDS=()
STARTED=
# Every process started here, by PID: SIGTERM (SIGINT for PostgreSQL, its stop signal), then a
# bounded wait, then SIGKILL.
stop_pid() {
  local pid=$1 signal=${2:-TERM}
  kill -0 "$pid" 2>/dev/null || return 0
  kill "-$signal" "$pid" 2>/dev/null || true
  for _ in $(seq 1 100); do
    kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}
cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do stop_pid "$pid"; done
  rm -rf "$WORK"
}
trap cleanup EXIT

say "building the images (scripts/images.sh build)"
started=$(date +%s)
bash scripts/images.sh build >/dev/null
say "images ready in $(($(date +%s) - started)) s"
for name in pause api operator auth postgres; do
  archive=$(bash scripts/images.sh archive "$name")
  python3 scripts/lib/oci_image.py config "$archive" >"$WORK/$name.json"
  size=$(python3 scripts/lib/oci_image.py size "$archive")
  printf '   %-9s %-45s %4d MB compressed, %4d MB unpacked\n' "$name" "$(bash scripts/images.sh ref "$name")" \
    "$(jq '.compressed / 1048576 | round' <<<"$size")" "$(jq '.unpacked / 1048576 | round' <<<"$size")"
done

say "image config = Dockerfile"
path=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
# What the FROM images set that the Dockerfiles do not: distroless/cc's PATH and SSL_CERT_FILE
# (and :nonroot's working directory), node:20-bookworm-slim's PATH. Not carried over: the node
# image's NODE_VERSION/YARN_VERSION and its docker-entrypoint.sh, which execs `node …` unchanged.
distroless="{\"Env\": {\"PATH\": \"$path\", \"SSL_CERT_FILE\": \"/etc/ssl/certs/ca-certificates.crt\"}}"
for check in "api api/Dockerfile $distroless" \
  "operator operator/Dockerfile $(jq -c '. + {WorkingDir: "/home/nonroot"}' <<<"$distroless")" \
  "auth auth-server/Dockerfile {\"Env\": {\"PATH\": \"$path\"}}"; do
  read -r name dockerfile base <<<"$check"
  echo "   $name ($dockerfile)"
  python3 scripts/lib/dockerfile_config.py compare "$dockerfile" "$WORK/$name.json" "$base" ||
    fail "$name: the image's config differs from $dockerfile"
done
# No Dockerfile: what the operator's pod spec and the node rely on.
pg_major=$(bash scripts/images.sh ref postgres | sed 's/.*://')
jq -e --arg bin "/usr/lib/postgresql/$pg_major/bin" '.config
  | .User == "999:999" and .Cmd == ["postgres"] and .Entrypoint == null
    and (.ExposedPorts | keys) == ["5432/tcp"] and .StopSignal == "SIGINT"
    and (.Env | index("PGDATA=/var/lib/postgresql/data") != null)
    and (.Env[] | select(startswith("PATH=")) | startswith("PATH=" + $bin + ":"))' \
  "$WORK/postgres.json" >/dev/null || fail "postgres: unexpected config $(jq -c .config "$WORK/postgres.json")"
jq -e '.config | .User == "65535:65535" and .Entrypoint == ["/pause"]' "$WORK/pause.json" >/dev/null ||
  fail "pause: unexpected config $(jq -c .config "$WORK/pause.json")"
echo "   postgres, pause: ok"

say "unpacking the root filesystems"
for name in pause api operator auth postgres; do
  python3 scripts/lib/oci_image.py unpack "$(bash scripts/images.sh archive "$name")" "$WORK/$name"
done

# Runs an image's process (its config's entrypoint + cmd, or the given args replacing cmd) from
# its root filesystem: the mounts of /dev and /proc live only in a private mount namespace.
run_image() {
  local name=$1
  shift
  unshare --mount --propagation private -- \
    python3 scripts/lib/oci_image.py run "$WORK/$name" "$WORK/$name.json" "$@"
}
# The same in the background, output to LOG: unshare and python exec, so the PID recorded (and
# stopped at exit) is the image process's own.
start_image() {
  local name=$1 log=$2
  shift 2
  unshare --mount --propagation private -- \
    python3 scripts/lib/oci_image.py run "$WORK/$name" "$WORK/$name.json" "$@" >"$log" 2>&1 &
  STARTED=$!
  PIDS+=("$STARTED")
}

# wait_for COMMAND…: retries it for up to 60 s.
wait_for() {
  for _ in $(seq 1 120); do
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.5
  done
  return 1
}

secret() { head -c 24 /dev/urandom | base64 | tr -d '+/=\n'; }
su_pw=$(secret) auth_pw=$(secret) api_pw=$(secret)
pg_port=$(pg_free_port) auth_port=$(pg_free_port) api_port=$(pg_free_port) metrics_port=$(pg_free_port)

say "postgres: the operator's init step, then the server (uid 999)"
mkdir -p "$WORK/postgres/chatplane-init"
cp sql/postgres-init.sh sql/provision.sql "$WORK/postgres/chatplane-init/"
init_env=(-e PGDATA=/var/lib/postgresql/data/pgdata -e "POSTGRES_PASSWORD=$su_pw"
  -e AUTH_DB_NAME=chatplane_auth -e "AUTH_DB_PASSWORD=$auth_pw"
  -e API_DB_NAME=chatplane_api -e "API_DB_PASSWORD=$api_pw"
  -e PROVISION_SQL=/chatplane-init/provision.sql -e PG_SOCKET_DIR=/var/run/postgresql)
for round in 1 2; do
  run_image postgres "${init_env[@]}" -- sh /chatplane-init/postgres-init.sh >"$WORK/pg-init-$round.log" 2>&1 ||
    { cat "$WORK/pg-init-$round.log" >&2; fail "postgres-init.sh failed in the image (run $round)"; }
done
grep -q "initializing" "$WORK/pg-init-1.log" || fail "the first init run did not initialize"
grep -q "not initializing" "$WORK/pg-init-2.log" || fail "the second init run initialized again"
[ "$(stat -c %u "$WORK/postgres/var/lib/postgresql/data/pgdata")" = 999 ] || fail "PGDATA is not owned by uid 999"
start_image postgres "$WORK/postgres.log" -- postgres -D /var/lib/postgresql/data/pgdata \
  -c listen_addresses=127.0.0.1 -c "port=$pg_port" -c unix_socket_directories=/var/run/postgresql
pg_pid=$STARTED
# The StatefulSet's probe command, from the image.
wait_for run_image postgres -- pg_isready --host 127.0.0.1 --port "$pg_port" --username postgres ||
  { tail -n 20 "$WORK/postgres.log" >&2; fail "postgres is not ready after 60 s"; }
echo "   ready on 127.0.0.1:$pg_port (pg_isready from the image)"

say "auth: Better Auth on the image's node, migrating its database"
start_image auth "$WORK/auth.log" \
  -e "DATABASE_URL=postgres://chatplane_auth:$auth_pw@127.0.0.1:$pg_port/chatplane_auth" \
  -e "BETTER_AUTH_SECRET=$(secret)$(secret)" -e "BETTER_AUTH_URL=http://127.0.0.1:$auth_port" \
  -e HOST=127.0.0.1 -e "PORT=$auth_port"
wait_for curl -fsS "http://127.0.0.1:$auth_port/readyz" ||
  { tail -n 20 "$WORK/auth.log" >&2; fail "the auth server is not ready after 60 s"; }
curl -fsS "http://127.0.0.1:$auth_port/api/auth/jwks" | jq -e '.keys | length > 0' >/dev/null ||
  fail "the auth server serves no JWKS"
echo "   /readyz 200, JWKS served"

say "api: migrate, then serve (JWKS from the auth image, web UI from WEB_DIR)"
api_db="postgres://chatplane_api:$api_pw@127.0.0.1:$pg_port/chatplane_api"
run_image api -e "DATABASE_URL=$api_db" -- migrate >"$WORK/api-migrate.log" 2>&1 ||
  { cat "$WORK/api-migrate.log" >&2; fail "chatplane-api migrate failed in the image"; }
start_image api "$WORK/api.log" -e "DATABASE_URL=$api_db" -e "AUTH_URL=http://127.0.0.1:$auth_port" \
  -e "AUTH_ISSUER=http://127.0.0.1:$auth_port" -e "AUTH_AUDIENCE=http://127.0.0.1:$auth_port" \
  -e "LISTEN_ADDR=127.0.0.1:$api_port" -e "METRICS_ADDR=127.0.0.1:$metrics_port"
wait_for curl -fsS "http://127.0.0.1:$api_port/readyz" ||
  { tail -n 20 "$WORK/api.log" >&2; fail "the API is not ready after 60 s"; }
curl -fsS -o "$WORK/index.html" "http://127.0.0.1:$api_port/"
grep -qi '<!doctype html' "$WORK/index.html" || fail "the API does not serve the web UI at /"
curl -fsS -o "$WORK/config.js" "http://127.0.0.1:$api_port/config.js"
grep -q "127.0.0.1:$auth_port" "$WORK/config.js" || fail "the web UI's config.js does not name the auth server"
code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$api_port/conversations")
[ "$code" = 401 ] || fail "an unauthenticated request got $code, not 401"
code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$api_port/metrics")
[ "$code" = 404 ] || fail "/metrics on the API port got $code, not 404"
metrics=$(curl -fsS "http://127.0.0.1:$metrics_port/metrics") || fail "METRICS_ADDR does not serve /metrics"
[[ $metrics == *chatplane_api_http_requests_total* ]] || fail "no request counters on METRICS_ADDR's /metrics"
echo "   /readyz 200, / serves the UI, /conversations 401 without a token, /metrics only on METRICS_ADDR"

say "operator: render a ChatDeployment from the image"
cp examples/minimal.yaml "$WORK/operator/tmp/minimal.yaml"
run_image operator -- render -f /tmp/minimal.yaml >"$WORK/render.yaml"
{ grep -q '^kind: StatefulSet' "$WORK/render.yaml" && grep -q 'postgres-init.sh' "$WORK/render.yaml"; } ||
  fail "the operator image's render printed no StatefulSet with the init step"
echo "   $(grep -c '^kind:' "$WORK/render.yaml") objects rendered"

say "pause: waits, exits 0 on SIGTERM"
start_image pause "$WORK/pause.log"
pause_pid=$STARTED
is_pause() { [ "$(cat "/proc/$pause_pid/comm" 2>/dev/null)" = pause ]; }
wait_for is_pause || fail "the pause process did not start"
kill -TERM "$pause_pid"
rc=0
wait "$pause_pid" || rc=$?
[ "$rc" = 0 ] || fail "pause exited $rc on SIGTERM"
echo "   ok"

stop_pid "$pg_pid" INT
grep -q "database system is shut down" "$WORK/postgres.log" || fail "postgres did not shut down cleanly on SIGINT"
echo "55-images: all images passed"

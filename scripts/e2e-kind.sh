#!/usr/bin/env bash
# `make e2e-kind`: the whole product on a real Kubernetes cluster (kind), the way a platform team
# installs it, then a real user flow through it.
#
#   1. builds the three images (api/Dockerfile, operator/Dockerfile, auth-server/Dockerfile)
#   2. creates the kind cluster of kind-config.yaml (or reuses it) and loads the images into it
#   3. installs the chart (charts/chatplane) with those images, applies examples/minimal.yaml and
#      waits for the ChatDeployment's Ready condition
#   4. through port-forwards: signs a user up with Better Auth, gets a JWT, creates a conversation
#      at the API, lists it back, and checks that a second user cannot read it (404)
#
# Needs docker (a running engine), kind, kubectl, helm, curl and jq. A cluster this script
# created is deleted at the end unless KEEP_CLUSTER=1; a cluster that already existed is kept.
# Overrides: KIND_CLUSTER (default: the name in kind-config.yaml), E2E_TAG (image tag, default
# e2e), E2E_AUTH_PORT / E2E_API_PORT (local port-forward ports, default 13000 / 18080),
# E2E_TIMEOUT (seconds for each wait, default 600), SKIP_BUILD=1 (use images already built).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"

KIND_CONFIG=kind-config.yaml
EXAMPLE=examples/minimal.yaml
CLUSTER=${KIND_CLUSTER:-$(sed -n 's/^name:[[:space:]]*//p' "$KIND_CONFIG" | head -n 1)}
CLUSTER=${CLUSTER:-chatplane}
CONTEXT=kind-$CLUSTER
TAG=${E2E_TAG:-e2e}
API_IMAGE=ghcr.io/chatplane/chatplane-api:$TAG
AUTH_IMAGE=ghcr.io/chatplane/chatplane-auth:$TAG
OPERATOR_REPO=ghcr.io/chatplane/chatplane-operator
OPERATOR_IMAGE=$OPERATOR_REPO:$TAG
RELEASE=chatplane
OPERATOR_NS=chatplane-system
TIMEOUT=${E2E_TIMEOUT:-600}
AUTH_PORT=${E2E_AUTH_PORT:-13000}
API_PORT=${E2E_API_PORT:-18080}

say() { printf '\n== e2e-kind: %s\n' "$*"; }
FAILURE=''
die() {
  FAILURE=$*
  printf 'e2e-kind: FAILED: %s\n' "$*" >&2
  exit 1
}

# --- prerequisites ----------------------------------------------------------------------------
missing=()
for tool in docker kind kubectl helm curl jq; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
if [ ${#missing[@]} -gt 0 ]; then
  die "missing on this machine: ${missing[*]} (docker: https://docs.docker.com/engine/install/, kind: https://kind.sigs.k8s.io/docs/user/quick-start/#installation, kubectl, helm: https://helm.sh/docs/intro/install/, curl, jq)"
fi
if ! docker info >/dev/null 2>&1; then
  die "docker is installed but no Docker engine answers (is the daemon running, may this user use it?)"
fi

# The example's namespace, name and public URL: the auth server trusts that origin.
CHAT_NS=$(sed -n 's/^  namespace:[[:space:]]*//p' "$EXAMPLE" | head -n 1)
CHAT_NS=${CHAT_NS:-default}
CHAT=$(sed -n 's/^  name:[[:space:]]*//p' "$EXAMPLE" | head -n 1)
PUBLIC_URL=$(sed -n 's/^  publicUrl:[[:space:]]*//p' "$EXAMPLE" | head -n 1)
if [ -z "$CHAT" ] || [ -z "$PUBLIC_URL" ]; then
  die "cannot read metadata.name and spec.publicUrl from $EXAMPLE"
fi

k() { kubectl --context "$CONTEXT" "$@"; }

WORK=$(mktemp -d)
CREATED_CLUSTER='' PF_PIDS=() SUCCESS=''

diagnostics() {
  say "diagnostics (cluster $CLUSTER)"
  k get chatdeployments.chatplane.dev -A -o wide || true
  k describe chatdeployments.chatplane.dev -n "$CHAT_NS" "$CHAT" || true
  k get pods,deployments,statefulsets,services,pvc -A -o wide || true
  k get events -A --sort-by=.lastTimestamp 2>/dev/null | tail -n 40 || true
  k logs -n "$OPERATOR_NS" -l app.kubernetes.io/instance="$RELEASE" --tail=100 --all-containers || true
  local component
  for component in auth api postgres; do
    k logs -n "$CHAT_NS" -l app.kubernetes.io/instance="$CHAT",app.kubernetes.io/component="$component" \
      --tail=60 --all-containers --prefix || true
  done
  local f
  for f in "$WORK"/port-forward-*.log; do
    if [ -f "$f" ]; then
      echo "--- $f"
      cat "$f"
    fi
  done
}

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  set +e # a failing clean-up step must not skip the ones after it
  local pid
  for pid in ${PF_PIDS[@]+"${PF_PIDS[@]}"}; do
    kill "$pid" 2>/dev/null || true
  done
  if [ -z "$SUCCESS" ] && [ -n "${CLUSTER_UP:-}" ]; then
    diagnostics
  fi
  if [ -n "$CREATED_CLUSTER" ]; then
    if [ "${KEEP_CLUSTER:-}" = 1 ]; then
      say "KEEP_CLUSTER=1: the cluster stays (kubectl --context $CONTEXT ...; kind delete cluster --name $CLUSTER)"
    else
      say "deleting the kind cluster $CLUSTER"
      kind delete cluster --name "$CLUSTER" || true
    fi
  elif [ -n "${CLUSTER_UP:-}" ]; then
    say "the cluster $CLUSTER existed before this run and is kept"
  fi
  rm -rf "$WORK"
  if [ -n "$SUCCESS" ]; then
    say "PASSED"
  else
    echo "e2e-kind: FAILED (exit $rc)${FAILURE:+: $FAILURE}" >&2
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- images -----------------------------------------------------------------------------------
if [ "${SKIP_BUILD:-}" = 1 ]; then
  say "SKIP_BUILD=1: using the images already built"
  for image in "$API_IMAGE" "$OPERATOR_IMAGE" "$AUTH_IMAGE"; do
    docker image inspect "$image" >/dev/null 2>&1 || die "SKIP_BUILD=1 but there is no image $image"
  done
else
  export DOCKER_BUILDKIT=1
  say "building $API_IMAGE (api/Dockerfile)"
  docker build -f api/Dockerfile -t "$API_IMAGE" . || die "docker build of the API image failed"
  say "building $OPERATOR_IMAGE (operator/Dockerfile)"
  docker build -f operator/Dockerfile -t "$OPERATOR_IMAGE" . || die "docker build of the operator image failed"
  say "building $AUTH_IMAGE (auth-server/Dockerfile)"
  docker build -t "$AUTH_IMAGE" auth-server || die "docker build of the auth server image failed"
fi

# --- cluster ----------------------------------------------------------------------------------
if kind get clusters 2>/dev/null | grep -qx "$CLUSTER"; then
  say "reusing the kind cluster $CLUSTER"
  kind export kubeconfig --name "$CLUSTER" >/dev/null
else
  say "creating the kind cluster $CLUSTER from $KIND_CONFIG"
  CREATED_CLUSTER=1
  kind create cluster --name "$CLUSTER" --config "$KIND_CONFIG" --wait "${TIMEOUT}s" ||
    die "kind create cluster failed (host port 8080 and 30080 must be free: see $KIND_CONFIG)"
fi
CLUSTER_UP=1
k cluster-info >/dev/null || die "the cluster $CLUSTER does not answer on context $CONTEXT"

say "loading the images into the cluster"
kind load docker-image --name "$CLUSTER" "$API_IMAGE" "$OPERATOR_IMAGE" "$AUTH_IMAGE" ||
  die "kind load docker-image failed"

# --- operator ---------------------------------------------------------------------------------
# Helm installs CRDs but never upgrades them; on a reused cluster the committed CRD is applied.
k apply --server-side --force-conflicts -f charts/chatplane/crds/ >/dev/null ||
  die "cannot apply the ChatDeployment CRD"
reinstall=''
helm --kube-context "$CONTEXT" status "$RELEASE" -n "$OPERATOR_NS" >/dev/null 2>&1 && reinstall=1
say "installing the chart (release $RELEASE in $OPERATOR_NS, images tagged $TAG)"
helm --kube-context "$CONTEXT" upgrade --install "$RELEASE" charts/chatplane \
  --namespace "$OPERATOR_NS" --create-namespace \
  --set image.repository="$OPERATOR_REPO" --set image.tag="$TAG" --set image.pullPolicy=IfNotPresent \
  --set defaultImages.api="$API_IMAGE" --set defaultImages.auth="$AUTH_IMAGE" \
  --wait --timeout "${TIMEOUT}s" || die "helm upgrade --install did not finish"
if [ -n "$reinstall" ]; then
  # Same tag, possibly a new image: start fresh pods from what was just loaded.
  k -n "$OPERATOR_NS" rollout restart deployment -l app.kubernetes.io/instance="$RELEASE"
  k -n "$OPERATOR_NS" rollout status deployment -l app.kubernetes.io/instance="$RELEASE" --timeout "${TIMEOUT}s" ||
    die "the operator did not roll out"
  if k -n "$CHAT_NS" get chatdeployments.chatplane.dev "$CHAT" >/dev/null 2>&1; then
    # The pods of the last run would keep the last images; the data (deletionPolicy Retain) stays.
    say "deleting the ChatDeployment $CHAT of an earlier run"
    k -n "$CHAT_NS" delete chatdeployments.chatplane.dev "$CHAT" --wait --timeout "${TIMEOUT}s" ||
      die "the earlier ChatDeployment was not deleted"
  fi
fi

# --- the ChatDeployment -----------------------------------------------------------------------
say "applying $EXAMPLE and waiting for Ready (at most ${TIMEOUT}s)"
k apply -f "$EXAMPLE"
k -n "$CHAT_NS" wait "chatdeployments.chatplane.dev/$CHAT" --for=condition=Ready --timeout "${TIMEOUT}s" ||
  die "the ChatDeployment $CHAT did not become Ready within ${TIMEOUT}s"
k -n "$CHAT_NS" get chatdeployments.chatplane.dev "$CHAT" -o wide

# --- port-forwards ----------------------------------------------------------------------------
port_forward() { # SERVICE LOCAL_PORT REMOTE_PORT
  k -n "$CHAT_NS" port-forward "service/$1" "$2:$3" --address 127.0.0.1 >"$WORK/port-forward-$1.log" 2>&1 &
  local pid=$! i
  PF_PIDS+=("$pid")
  for i in $(seq 1 60); do
    if curl -fsS -o /dev/null --max-time 2 "http://127.0.0.1:$2/healthz"; then
      return 0
    fi
    kill -0 "$pid" 2>/dev/null || die "kubectl port-forward to $1 exited: $(cat "$WORK/port-forward-$1.log")"
    [ "$i" -lt 60 ] && sleep 1
  done
  die "service $1 did not answer /healthz through 127.0.0.1:$2 within 60 s"
}
AUTH=http://127.0.0.1:$AUTH_PORT
API=http://127.0.0.1:$API_PORT
say "port-forwarding $CHAT-auth to $AUTH and $CHAT-api to $API"
port_forward "$CHAT-auth" "$AUTH_PORT" 3000
port_forward "$CHAT-api" "$API_PORT" 8080

# --- the user flow ----------------------------------------------------------------------------
# call NAME METHOD URL [curl args...]: the body lands in $WORK/NAME.body, the headers in
# $WORK/NAME.headers; prints the HTTP status (000 when no answer came).
call() {
  local name=$1 method=$2 url=$3
  shift 3
  curl -sS --max-time 30 -X "$method" -o "$WORK/$name.body" -D "$WORK/$name.headers" \
    -w '%{http_code}' "$@" "$url" || true
}
expect() { # NAME WANTED_STATUS GOT_STATUS WHAT
  [ "$3" = "$2" ] && return 0
  die "$4: HTTP $3 where $2 was expected; body: $(head -c 600 "$WORK/$1.body" 2>/dev/null)"
}

# sign_up WHO: a new Better Auth user; sets SESSION (its set-auth-token) and JWT.
sign_up() {
  local who=$1 email status session jwt
  email="e2e-kind-$(date +%s)-$RANDOM-$who@example.com"
  status=$(call "signup-$who" POST "$AUTH/api/auth/sign-up/email" \
    -H "Origin: $PUBLIC_URL" -H 'Content-Type: application/json' \
    --data "$(jq -nc --arg e "$email" --arg n "E2E $who" '{email: $e, password: "e2e-kind-password-123", name: $n}')")
  expect "signup-$who" 200 "$status" "sign-up of $email (POST /api/auth/sign-up/email)"
  session=$(sed -n 's/^[Ss][Ee][Tt]-[Aa][Uu][Tt][Hh]-[Tt][Oo][Kk][Ee][Nn]:[[:space:]]*//p' "$WORK/signup-$who.headers" | tr -d '\r' | tail -n 1)
  [ -n "$session" ] || die "the sign-up response has no set-auth-token header (bearer plugin)"
  status=$(call "token-$who" GET "$AUTH/api/auth/token" -H "Origin: $PUBLIC_URL" -H "Authorization: Bearer $session")
  expect "token-$who" 200 "$status" "GET /api/auth/token for $email"
  jwt=$(jq -er '.token' "$WORK/token-$who.body") || die "GET /api/auth/token returned no token"
  [ "$(tr -cd '.' <<<"$jwt" | wc -c)" -eq 2 ] || die "GET /api/auth/token returned something that is not a JWT"
  SESSION=$session JWT=$jwt
  echo "signed up $email"
}

say "user flow through $AUTH and $API (Origin: $PUBLIC_URL)"
SESSION='' JWT=''
sign_up alice
ALICE_SESSION=$SESSION ALICE_JWT=$JWT
sign_up bob
BOB_JWT=$JWT

status=$(call anonymous GET "$API/conversations")
expect anonymous 401 "$status" "GET /conversations without a credential"

status=$(call create POST "$API/conversations" -H "Authorization: Bearer $ALICE_JWT" \
  -H 'Content-Type: application/json' --data '{"title":"e2e-kind conversation"}')
expect create 201 "$status" "POST /conversations as alice"
CONVERSATION=$(jq -er '.id' "$WORK/create.body") || die "POST /conversations returned no id"
echo "alice created conversation $CONVERSATION"

status=$(call list-alice GET "$API/conversations" -H "Authorization: Bearer $ALICE_JWT")
expect list-alice 200 "$status" "GET /conversations as alice"
jq -e --arg id "$CONVERSATION" 'any(.[]; .id == $id and .title == "e2e-kind conversation")' \
  "$WORK/list-alice.body" >/dev/null || die "alice's list does not hold conversation $CONVERSATION"
status=$(call get-alice GET "$API/conversations/$CONVERSATION" -H "Authorization: Bearer $ALICE_JWT")
expect get-alice 200 "$status" "GET /conversations/$CONVERSATION as alice"
echo "alice lists and reads it back"

# The session token (set-auth-token) is accepted too: the API asks the auth server whose it is.
status=$(call list-session GET "$API/conversations" -H "Authorization: Bearer $ALICE_SESSION")
expect list-session 200 "$status" "GET /conversations as alice with her session token"

status=$(call get-bob GET "$API/conversations/$CONVERSATION" -H "Authorization: Bearer $BOB_JWT")
expect get-bob 404 "$status" "GET /conversations/$CONVERSATION as bob (someone else's conversation)"
status=$(call list-bob GET "$API/conversations" -H "Authorization: Bearer $BOB_JWT")
expect list-bob 200 "$status" "GET /conversations as bob"
jq -e --arg id "$CONVERSATION" 'all(.[]; .id != $id)' "$WORK/list-bob.body" >/dev/null ||
  die "bob's list shows alice's conversation"
echo "bob gets 404 for alice's conversation and does not see it in his list"

SUCCESS=1

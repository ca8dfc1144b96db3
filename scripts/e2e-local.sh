#!/usr/bin/env bash
# `make e2e-local`: the user path of a cluster-hosted chatplane, on this machine's own test cluster
# (scripts/cluster.sh up --node: upstream Kubernetes, a real kubelet and containerd, no Docker),
# with the images scripts/images.sh builds offline.
#
#   1. cluster up with a node; images built and imported; `helm install` of the chart: the
#      operator runs as a pod, with its ServiceAccount, from its image
#   2. examples/minimal.yaml with a corpus ConfigMap: Ready because its pods are (real probes)
#   3. through the Services: sign-up on the auth server, a JWT, /agents/run answers from the corpus
#      with sources, the history reads back; a second user sees none of it
#   4. `kubectl rollout restart` of the API while a client appends and reads for 60 s: no failed
#      request, every acknowledged append stored exactly once
#   5. the PostgreSQL pod deleted: it comes back on its volume, the history intact
#   6. the ChatDeployment deleted (deletionPolicy Retain) and applied again: the history is back
#   7. the operator's NetworkPolicies enforced (kube-router): a pod of another app cannot reach
#      PostgreSQL, while the API (which answered all of the above) can; the API's metrics port
#      answers only a pod labelled as the monitoring peer, its API port everyone
#
# Part of `make test` (scripts/test.d/65-e2e-local.sh).
#
# Prints the time of each step (docs/BENCHMARKS.md). Needs root. Knobs: CLUSTER_NAME,
# CLUSTER_NODE_IP, E2E_WAIT (seconds for any one condition, default 300), E2E_APPEND_SECONDS (60).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/chatplane/target}"
export CLUSTER_NAME="${CLUSTER_NAME:-chatplane-e2e}" CLUSTER_NODE=1
export CLUSTER_NODE_IP="${CLUSTER_NODE_IP:-10.203.0.1}"
# shellcheck source=scripts/cluster.sh
source scripts/cluster.sh

WAIT=${E2E_WAIT:-300}
APPEND_SECONDS=${E2E_APPEND_SECONDS:-60}
RELEASE=chatplane
OPERATOR_NS=chatplane-system
EXAMPLE=examples/minimal.yaml
CHAT=chat
CHAT_NS=default
PUBLIC_URL=$(sed -n 's/^  publicUrl:[[:space:]]*//p' "$EXAMPLE" | head -n 1)
work=$(mktemp -d)
client_pid=""
declare -A took

say() { printf '\n== e2e-local: %s\n' "$*"; }
fail() {
  echo "e2e-local: FAILED: $*" >&2
  exit 1
}

k() { cluster_exec "$K8S_BIN_DIR/kubectl" --request-timeout=30s "$@"; }
kc() { k --namespace "$CHAT_NS" "$@"; }
helm() { HELM_CACHE_HOME="$work/helm" HELM_CONFIG_HOME="$work/helm" HELM_DATA_HOME="$work/helm" cluster_exec "$HELM" "$@"; }

eventually() {
  local what=$1
  shift
  local deadline=$((SECONDS + WAIT))
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || fail "timed out after ${WAIT}s: $what"
    sleep 1
  done
}

finish() {
  local rc=$?
  if [[ -n $client_pid ]] && kill -0 "$client_pid" 2>/dev/null; then
    kill -TERM "$client_pid" 2>/dev/null || true
    wait "$client_pid" 2>/dev/null || true
  fi
  if ((rc)); then
    echo "--- e2e-local failed; state of the cluster:" >&2
    k get chatdeployments -A -o wide >&2 2>/dev/null || true
    k get pods,pvc -A -o wide >&2 2>/dev/null || true
    k logs -n "$OPERATOR_NS" -l app.kubernetes.io/instance="$RELEASE" --tail=40 >&2 2>/dev/null || true
    local component
    for component in postgres auth api; do
      kc logs -l app.kubernetes.io/instance="$CHAT",app.kubernetes.io/component="$component" \
        --all-containers --prefix --tail=30 >&2 2>/dev/null || true
    done
  fi
  cluster_down quiet
  rm -rf "$work"
  exit "$rc"
}
trap finish EXIT

step() { # $1 name; records the seconds since the last call
  took[$1]=$((SECONDS - step_started))
  echo "e2e-local: $1 took ${took[$1]} s"
  step_started=$SECONDS
}

# --- 1. cluster, images, chart ---------------------------------------------------------------------

say "cluster up with a node ($CLUSTER_NAME, $CLUSTER_NODE_IP)"
step_started=$SECONDS
cluster_up >/dev/null
step "cluster up"

say "images (scripts/images.sh build, ctr import)"
bash scripts/images.sh build api operator auth postgres >/dev/null
IMAGES_SNAPSHOTTER=overlayfs bash scripts/images.sh import "$CONTAINERD_SOCK" api operator auth postgres 2>/dev/null
ref() { bash scripts/images.sh ref "$1"; }
operator_ref=$(ref operator)
step "images"

say "helm install (the operator as a pod, from $operator_ref)"
helm install "$RELEASE" charts/chatplane --namespace "$OPERATOR_NS" --create-namespace \
  --set image.repository="${operator_ref%:*}" --set image.tag="${operator_ref##*:}" \
  --set image.pullPolicy=Never --set defaultImages.api="$(ref api)" \
  --set defaultImages.auth="$(ref auth)" --set defaultImages.postgres="$(ref postgres)" \
  --wait --timeout "${WAIT}s" >/dev/null
[[ $(k get pods -n "$OPERATOR_NS" -l app.kubernetes.io/instance="$RELEASE" \
  -o jsonpath='{.items[0].spec.serviceAccountName}') == "$RELEASE"* ]] ||
  fail "the operator pod does not run with the chart's ServiceAccount"
step "helm install"

# --- 2. the ChatDeployment, Ready through real probes ------------------------------------------------

say "apply $EXAMPLE with a corpus ConfigMap (api/tests/data/corpus)"
corpus_args=()
while IFS= read -r -d '' f; do
  rel=${f#api/tests/data/corpus/}
  corpus_args+=("--from-file=${rel//\//.}=$f")
done < <(find api/tests/data/corpus -type f \( -name '*.md' -o -name '*.mdx' \) -print0 | sort -z)
kc create configmap corpus "${corpus_args[@]}" >/dev/null
chat_manifest() {
  k create --dry-run=client -o json -f "$EXAMPLE" |
    jq '.spec.rag.corpus.configMapRef.name = "corpus"'
}
chat_manifest | k apply -f - >/dev/null
eventually "ChatDeployment $CHAT Ready" kc wait "chatdeployments.chatplane.dev/$CHAT" --for=condition=Ready --timeout=2s
for component in postgres auth api; do
  [[ $(kc get pods -l app.kubernetes.io/instance="$CHAT",app.kubernetes.io/component="$component" \
    -o jsonpath='{.items[*].status.conditions[?(@.type=="Ready")].status}') == *True* ]] ||
    fail "no $component pod is Ready, yet the ChatDeployment is"
done
step "apply to Ready"

# --- 3. the user path through the Services ------------------------------------------------------------

svc_url() { echo "http://$(kc get service "$CHAT-$1" -o jsonpath='{.spec.clusterIP}'):$2"; }
AUTH=$(svc_url auth 3000)
API=$(svc_url api 8080)

# call NAME METHOD URL [curl args]: body in $work/NAME.body, headers in $work/NAME.headers; prints
# the HTTP status (000 when no answer came). curl runs inside the cluster's network namespace.
call() {
  local name=$1 method=$2 url=$3
  shift 3
  cluster_exec curl -sS --max-time 30 -X "$method" -o "$work/$name.body" -D "$work/$name.headers" \
    -w '%{http_code}' "$@" "$url" 2>/dev/null || true
}
expect() { # NAME WANTED GOT WHAT
  [[ $3 == "$2" ]] || fail "$4: HTTP $3 where $2 was expected; body: $(head -c 600 "$work/$1.body" 2>/dev/null)"
}

# jwt_for WHO (sign-up|sign-in): sets JWT.
jwt_for() {
  local who=$1 how=$2 status session
  local body
  body=$(jq -nc --arg e "$who@e2e.example" --arg n "$who" '{email: $e, password: "e2e-local-password-123", name: $n}')
  status=$(call "$how-$who" POST "$AUTH/api/auth/$how/email" -H "Origin: $PUBLIC_URL" \
    -H 'Content-Type: application/json' --data "$body")
  expect "$how-$who" 200 "$status" "$how of $who"
  session=$(sed -n 's/^[Ss]et-[Aa]uth-[Tt]oken:[[:space:]]*//p' "$work/$how-$who.headers" | tr -d '\r' | tail -n 1)
  [[ -n $session ]] || fail "the $how response has no set-auth-token header"
  status=$(call "token-$who" GET "$AUTH/api/auth/token" -H "Origin: $PUBLIC_URL" -H "Authorization: Bearer $session")
  expect "token-$who" 200 "$status" "GET /api/auth/token for $who"
  JWT=$(jq -er .token "$work/token-$who.body") || fail "no JWT for $who"
}

say "the user path through $AUTH and $API"
step_started=$SECONDS
JWT=""
jwt_for alice sign-up
alice=$JWT
jwt_for bob sign-up
bob=$JWT

status=$(call ask POST "$API/agents/run" -H "Authorization: Bearer $alice" -H 'Content-Type: application/json' \
  --data '{"query": "How large is the battery of a station?"}')
expect ask 200 "$status" "POST /agents/run as alice"
jq -e '(.message | length > 0) and (.sources | length > 0) and (.sources[0].slug | length > 0)' \
  "$work/ask.body" >/dev/null || fail "the answer has no message or no sources: $(head -c 600 "$work/ask.body")"
conversation=$(jq -er .session_id "$work/ask.body")
echo "alice asked; answer with $(jq '.sources | length' "$work/ask.body") sources (first: $(jq -r '.sources[0].slug' "$work/ask.body"))"

# Pages are kept in files and joined by jq from them: thousands of messages passed as one argument
# would pass the kernel's 128 KiB limit per argument.
messages() { # $1 name, $2 jwt: every message of the conversation, oldest first (all pages)
  local url="$API/conversations/$conversation/messages?limit=100" status next page=0
  rm -f "$work/$1".page.*
  while :; do
    status=$(call "$1" GET "$url" -H "Authorization: Bearer $2")
    [[ $status == 200 ]] || { echo "HTTP $status"; return 1; }
    page=$((page + 1))
    cp "$work/$1.body" "$work/$1.page.$(printf '%05d' "$page")"
    next=$(sed -n 's/^[Ll]ink:.*<\([^>]*\)>; *rel="next".*/\1/p' "$work/$1.headers" | tr -d '\r')
    [[ -n $next ]] || break
    [[ $next == http* ]] || next="$API$next"
    url=$next
  done
  # Each page is older than the one before it: the last page read comes first.
  jq -cs 'reverse | add // []' "$work/$1".page.*
}
history=$(messages history-alice "$alice") || fail "alice cannot read her history: $history"
[[ $(jq 'length' <<<"$history") == 2 ]] || fail "alice's history holds $(jq length <<<"$history") messages, not the question and the answer"
[[ $(jq -r '.[0].role + " " + .[1].role' <<<"$history") == "user assistant" ]] || fail "history: $history"
status=$(call bob-reads GET "$API/conversations/$conversation/messages" -H "Authorization: Bearer $bob")
expect bob-reads 404 "$status" "bob reads alice's conversation"
status=$(call bob-lists GET "$API/conversations" -H "Authorization: Bearer $bob")
expect bob-lists 200 "$status" "bob lists his conversations"
[[ $(jq length "$work/bob-lists.body") == 0 ]] || fail "bob sees conversations: $(cat "$work/bob-lists.body")"
echo "alice reads her history (2 messages); bob gets 404 for it and lists none"
step "user path"

# --- 4. a rolling restart under an appending client ------------------------------------------------------

say "rollout restart of $CHAT-api while a client appends and reads for ${APPEND_SECONDS} s"
# The client: one append then one read at a time; each line of its log is "ok N", "fail N STATUS".
append_client() {
  local n=0 deadline=$((SECONDS + APPEND_SECONDS)) status
  while ((SECONDS < deadline)); do
    n=$((n + 1))
    status=$(cluster_exec curl -sS --max-time 10 -o /dev/null -w '%{http_code}' -X POST \
      -H "Authorization: Bearer $alice" -H 'Content-Type: application/json' \
      --data "{\"role\": \"user\", \"content\": \"append $n\"}" \
      "$API/conversations/$conversation/messages" 2>/dev/null) || true
    if [[ $status == 201 ]]; then echo "ok $n"; else echo "fail $n append $status"; fi
    status=$(cluster_exec curl -sS --max-time 10 -o /dev/null -w '%{http_code}' \
      -H "Authorization: Bearer $alice" "$API/conversations/$conversation" 2>/dev/null) || true
    [[ $status == 200 ]] || echo "fail $n read $status"
  done
}
append_client >"$work/appends.log" &
client_pid=$!
sleep 5
kc rollout restart "deployment/$CHAT-api" >/dev/null
kc rollout status "deployment/$CHAT-api" --timeout="${WAIT}s" >/dev/null
wait "$client_pid" || true
client_pid=""
acked=$(grep -c '^ok ' "$work/appends.log" || true)
failed=$(grep -c '^fail ' "$work/appends.log" || true)
echo "appends acknowledged: $acked, failed requests: $failed"
((failed == 0)) || fail "$failed requests failed during the rollout: $(grep '^fail ' "$work/appends.log" | head -n 5 | tr '\n' ';')"
((acked > 0)) || fail "no append was acknowledged"
history=$(messages history-after-rollout "$alice") || fail "history after the rollout: $history"
printf '%s' "$history" >"$work/history.json"
wrong=$(sed -n 's/^ok /append /p' "$work/appends.log" | jq -R . | jq -sc --slurpfile h "$work/history.json" \
  '($h[0] | group_by(.content) | map({key: .[0].content, value: length}) | from_entries) as $stored
   | [.[] | {content: ., stored: ($stored[.] // 0)} | select(.stored != 1)]')
[[ $wrong == "[]" ]] || fail "acknowledged appends not stored exactly once: $wrong"
echo "every acknowledged append is stored exactly once"
step "rollout under load"

# --- 5. the PostgreSQL pod deleted ---------------------------------------------------------------------

say "delete the PostgreSQL pod"
before=$(jq length <<<"$history")
kc delete pod "$CHAT-postgres-0" --wait=true --timeout="${WAIT}s" >/dev/null
eventually "PostgreSQL back" kc wait pod/"$CHAT-postgres-0" --for=condition=Ready --timeout=2s
api_ready() { [[ $(call readyz GET "$API/readyz") == 200 ]]; }
eventually "the API answers again" api_ready
history=$(messages history-after-pg "$alice") || fail "history after PostgreSQL's restart: $history"
[[ $(jq length <<<"$history") == "$before" ]] || fail "history holds $(jq length <<<"$history") messages, not $before"
echo "the history is intact ($before messages)"
step "postgres pod restart"

# --- 6. delete (Retain) and apply again -------------------------------------------------------------------

say "delete the ChatDeployment (deletionPolicy Retain) and apply it again"
kc delete "chatdeployments.chatplane.dev/$CHAT" --wait=true --timeout="${WAIT}s" >/dev/null
workloads_gone() { [[ -z $(kc get statefulset,deployment -l app.kubernetes.io/instance="$CHAT" -o name) ]]; }
eventually "the owned workloads gone" workloads_gone
[[ -n $(kc get pvc -l app.kubernetes.io/instance="$CHAT" -o name) ]] || fail "the data claim is gone"
chat_manifest | k apply -f - >/dev/null
eventually "ChatDeployment $CHAT Ready again" kc wait "chatdeployments.chatplane.dev/$CHAT" --for=condition=Ready --timeout=2s
AUTH=$(svc_url auth 3000)
API=$(svc_url api 8080)
jwt_for alice sign-in
alice=$JWT
history=$(messages history-after-reapply "$alice") || fail "history after the re-apply: $history"
[[ $(jq length <<<"$history") == "$before" ]] || fail "history holds $(jq length <<<"$history") messages, not $before"
echo "alice signs in again and her history is back ($before messages)"
step "delete and re-apply"

# --- 7. the operator's NetworkPolicies, enforced ---------------------------------------------------------

say "NetworkPolicies: another app's pod cannot reach PostgreSQL"
[[ -n $(kc get networkpolicy -l app.kubernetes.io/instance="$CHAT" -o name) ]] || fail "the operator wrote no NetworkPolicy"
# client_pod NAME LABELS: a pod of the node's busybox image that only sleeps, once Ready.
client_pod() {
  kc apply -f - >/dev/null <<EOF
apiVersion: v1
kind: Pod
metadata: {name: $1, labels: $2}
spec:
  terminationGracePeriodSeconds: 0
  containers:
  - name: client
    image: $BUSYBOX_IMAGE
    imagePullPolicy: Never
    command: [/bin/busybox, sleep, "3600"]
EOF
  eventually "pod $1 Ready" kc wait "pod/$1" --for=condition=Ready --timeout=2s
}
client_pod other-app '{app: other}'
if out=$(kc exec other-app -- /bin/busybox nc -w 3 "$CHAT-postgres" 5432 </dev/null 2>&1); then
  fail "a pod of another app reached PostgreSQL: $out"
fi
# The same pod reaches the API port (its policy lets everyone in), so the refusal is PostgreSQL's policy's.
kc exec other-app -- /bin/busybox nc -w 3 "$CHAT-api" 8080 </dev/null >/dev/null 2>&1 ||
  fail "the other app's pod cannot reach the API either: the check above proves nothing"
status=$(call readyz GET "$API/readyz")
expect readyz 200 "$status" "the API's /readyz (its database reachable)"
echo "another app's pod is refused by PostgreSQL's policy; the API reaches its database"

# The API's metrics port (9090): refused to that pod, open to one labelled as the monitoring peer
# (the default of spec.monitoring), which reads the request counters there.
if out=$(kc exec other-app -- /bin/busybox nc -w 3 "$CHAT-api" 9090 </dev/null 2>&1); then
  fail "a pod of another app reached the API's metrics port: $out"
fi
client_pod scraper '{chatplane.dev/monitoring: "true"}'
# A request by hand through nc: the static busybox's wget crashes resolving a name (glibc's
# resolver, statically linked), while its nc resolves by itself.
scraped=$(printf 'GET /metrics HTTP/1.0\r\nHost: %s\r\n\r\n' "$CHAT-api" |
  kc exec -i scraper -- /bin/busybox nc -w 5 "$CHAT-api" 9090 2>&1) ||
  fail "the monitoring pod cannot scrape the API's metrics: $scraped"
[[ $scraped == "HTTP/1.0 200"* || $scraped == "HTTP/1.1 200"* ]] || fail "the scrape was not a 200: ${scraped:0:300}"
[[ $scraped == *chatplane_api_http_requests_total* ]] || fail "no request counters in the scrape: ${scraped:0:300}"
status=$(call metrics-on-api GET "$API/metrics")
expect metrics-on-api 404 "$status" "/metrics on the API port"
echo "the API's metrics port answers only the monitoring pod; /metrics on the API port is a 404"
step "network policies"

say "PASSED"
for name in "cluster up" images "helm install" "apply to Ready" "user path" "rollout under load" \
  "postgres pod restart" "delete and re-apply" "network policies"; do
  printf '  %-22s %4s s\n' "$name" "${took[$name]}"
done

# shellcheck shell=bash disable=SC2154
# Shell functions of the suites against the test control plane (scripts/test.d/50-cluster.sh,
# scripts/test.d/55-cluster-ha.sh) and of bench/operator-scale.sh. Source it after
# scripts/cluster.sh; it defines functions only. The caller sets `work` (a scratch directory),
# `release_ns` (the chart's namespace) and WAIT (seconds for any one condition), optionally
# `operator_flags` (more flags of `run`) and OPERATOR_PROFILE (debug or release), and stops the
# operators (`stop_operators`) in its exit trap.

# The tools these scripts and cluster.sh use, from Debian's packages when missing.
cluster_test_tools() {
  local missing=() pair
  for pair in jq:jq openssl:openssl ip:iproute2 nsenter:util-linux curl:curl; do
    command -v "${pair%%:*}" >/dev/null || missing+=("${pair#*:}")
  done
  if ((${#missing[@]})); then
    echo "cluster tests: apt-get install ${missing[*]}"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
}

fail() {
  echo "FAIL: $*" >&2
  exit 1
}

k() { cluster_exec "$K8S_BIN_DIR/kubectl" --request-timeout=20s "$@"; }
helm() { HELM_CACHE_HOME="$work/helm" HELM_CONFIG_HOME="$work/helm" HELM_DATA_HOME="$work/helm" cluster_exec "$HELM" "$@"; }

# Polls "$@" until it succeeds, at most $WAIT seconds (or $2 seconds with `eventually_within`).
eventually() {
  local what=$1
  shift
  eventually_within "$WAIT" "$what" "$@"
}
eventually_within() {
  local seconds=$1 what=$2
  shift 2
  local deadline=$((SECONDS + seconds))
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || fail "timed out after ${seconds}s: $what"
    sleep 1
  done
}

# --- the operator, with a token of the chart's ServiceAccount ------------------------------------

# Builds the operator (OPERATOR_PROFILE: debug or release) and sets `operator` to the binary.
operator_build() {
  local profile=${OPERATOR_PROFILE:-debug}
  if [[ $profile == release ]]; then
    cargo build --quiet --locked --release -p chatplane-operator --bin chatplane-operator
  else
    cargo build --quiet --locked -p chatplane-operator --bin chatplane-operator
  fi
  operator="$CARGO_TARGET_DIR/$profile/chatplane-operator"
}

# $work/operator.kubeconfig: a TokenRequest token of the chart's ServiceAccount, so RBAC is the
# chart's.
operator_kubeconfig() {
  local token
  token=$(k -n "$release_ns" create token chatplane --duration=2h)
  cat >"$work/operator.kubeconfig" <<KUBECONFIG
apiVersion: v1
kind: Config
clusters:
- name: test
  cluster:
    server: https://$CLUSTER_NODE_IP:6443
    certificate-authority-data: $(base64 -w0 <"$CLUSTER_STATE_DIR/pki/ca.crt")
users:
- name: chatplane
  user: {token: $token}
contexts:
- name: test
  context: {cluster: test, user: chatplane}
current-context: test
KUBECONFIG
  [[ $(KUBECONFIG="$work/operator.kubeconfig" in_netns "$K8S_BIN_DIR/kubectl" auth whoami -o jsonpath='{.status.userInfo.username}') == \
    "system:serviceaccount:$release_ns:chatplane" ]] || fail "the operator's kubeconfig is not the chart's ServiceAccount"
}

runs=0           # operator processes started; run N has identity test-operator-N, its own log and port
operator_pids=() # by run; empty once stopped
operator_flags=()
operator_port() { echo $((18080 + ${1:-$runs})); }

# Starts operator run N+1 and waits for its /readyz (a standby is ready too).
start_operator() {
  runs=$((runs + 1))
  # Directly in the background (nsenter execs the operator), so $! is the operator itself.
  KUBECONFIG="$work/operator.kubeconfig" RUST_LOG="${OPERATOR_LOG:-info,chatplane_operator=debug}" \
    nsenter --net="$NETNS_PATH" "$operator" run --identity "test-operator-$runs" \
    --lease-namespace "$release_ns" --metrics-addr "127.0.0.1:$(operator_port)" "${operator_flags[@]}" \
    </dev/null >"$work/operator-$runs.log" 2>&1 &
  operator_pids[runs]=$!
  disown "$!" # stopped by PID here; no "Killed" job report from bash
  eventually "operator $runs is ready (/readyz)" in_netns curl -fsS --max-time 2 "http://127.0.0.1:$(operator_port)/readyz"
}

# Stops run $1 (default: the last one) by its PID: TERM, then KILL after 10 s.
stop_operator() {
  local run=${1:-$runs}
  local pid=${operator_pids[run]:-}
  if [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid"
    for _ in {1..100}; do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  operator_pids[run]=""
}

stop_operators() {
  local run
  for run in "${!operator_pids[@]}"; do
    stop_operator "$run"
  done
}

operator_alive() { [[ -n ${operator_pids[${1:-$runs}]:-} ]] && kill -0 "${operator_pids[${1:-$runs}]}" 2>/dev/null; }

# /metrics of run $1 (default: the last one).
operator_metrics() { in_netns curl -fsS --max-time 2 "http://127.0.0.1:$(operator_port "${1:-}")/metrics"; }

# Reconciles finished by run $1 (every outcome).
reconciles_done() {
  operator_metrics "${1:-}" |
    awk '/^chatplane_operator_reconcile_duration_seconds_count/ {n += $2} END {print n + 0}'
}
more_reconciles_than() { (($(reconciles_done "${2:-}") > $1)); }

# Writes run $1 sent (chatplane_operator_api_requests_total), the Lease's own excepted.
operator_writes() {
  operator_metrics "${1:-}" | awk '/^chatplane_operator_api_requests_total/ && !/resource="leases"/ &&
    !/verb="(GET|LIST|WATCH)"/ {n += $2} END {print n + 0}'
}

# Run $1 holds the Lease (chatplane_operator_leader 1).
operator_leads() { [[ $(operator_metrics "$1" | awk '/^chatplane_operator_leader / {print $2}') == 1 ]]; }

no_forbidden() {
  # A quota's refusal (50-cluster's own check) is a 403 too, and not RBAC's.
  if grep -E 'Forbidden|forbidden|code: 403' "$work"/operator-*.log | grep -v 'exceeded quota' >&2; then
    fail "the operator was refused by RBAC (above): the chart's ClusterRole misses a rule"
  fi
}

# --- examples/minimal.yaml's objects ----------------------------------------------------------------

minimal_owned=(configmap/chat-postgres-init statefulset/chat-postgres service/chat-postgres
  service/chat-postgres-headless networkpolicy/chat-postgres deployment/chat-auth service/chat-auth
  deployment/chat-api service/chat-api networkpolicy/chat-api)
minimal_generated=(secret/chat-auth-secret secret/chat-database)

status_observed() { [[ $(k get chat "$1" -o jsonpath='{.status.observedGeneration}') == "$(k get chat "$1" -o jsonpath='{.metadata.generation}')" ]]; }

# Every object of examples/minimal.yaml with its resourceVersion (Secrets: and their data).
snapshot() {
  local object
  for object in "${minimal_owned[@]}"; do
    k get "$object" -o jsonpath='{.kind}/{.metadata.name} {.metadata.resourceVersion}{"\n"}'
  done
  for object in "${minimal_generated[@]}"; do
    k get "$object" -o json | jq -r '"\(.kind)/\(.metadata.name) \(.metadata.resourceVersion) \(.data | tojson | @base64)"'
  done
  k get chat chat -o jsonpath='{.kind}/{.metadata.name} {.metadata.resourceVersion}{"\n"}'
}
# The real controllers are done with the objects (the workloads' status settles with their pods
# Pending) when two snapshots a few seconds apart agree.
settled() {
  snapshot >"$work/settle.a"
  sleep 3
  snapshot >"$work/settle.b"
  cmp -s "$work/settle.a" "$work/settle.b"
}

#!/usr/bin/env bash
# The operator at scale against the real control plane (scripts/cluster.sh; no node): for each N,
# a fresh cluster, the chart installed, the release-built operator run with the chart's
# ServiceAccount, then N ChatDeployments applied at once. It reports
#
#   - seconds until every one has status.observedGeneration == metadata.generation,
#   - the operator's peak RSS (VmHWM) and CPU seconds,
#   - API requests per ChatDeployment: kube-apiserver's apiserver_request_total delta (all
#     clients) and the operator's own chatplane_operator_api_requests_total, by verb and resource,
#   - API Priority and Fairness: time requests waited in queues and rejections, by priority level,
#   - a steady-state window (STEADY_SECONDS, once the cluster settled: no write by any client but
#     Events and Leases for 10 s, waited for at most SETTLE_TIMEOUT) and the writes in it.
#
#   bash bench/operator-scale.sh [N ...]        (default: 100 1000; `make bench-operator-scale`)
#
# Knobs: OPERATOR_BIN (a prebuilt operator, e.g. an older commit's, instead of building this
# one), BENCH_TIMEOUT (seconds to wait for all N, default 900), STEADY_SECONDS (60),
# SETTLE_TIMEOUT (600), OPERATOR_FLAGS,
# FLOOR_CLIENTS=P: no operator; after the N ChatDeployments, P `kubectl apply --server-side`
# clients at once apply every one's owned objects as the operator renders them (`chatplane-operator
# render`, with the ChatDeployment's uid in the owner references): how long this control plane
# takes to accept the same objects with no reconcile at all, the floor under the operator's time.
# CLUSTER_NAME (default chatplane-bench), CLUSTER_NODE_IP. Needs root, like scripts/cluster.sh.
# Not part of `make test`: it measures, and asserts nothing about time.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/chatplane/target}"
export CLUSTER_NAME="${CLUSTER_NAME:-chatplane-bench}"
# shellcheck source=scripts/cluster.sh
source scripts/cluster.sh
# shellcheck source=scripts/lib/cluster-test.sh
source scripts/lib/cluster-test.sh
cluster_test_tools

WAIT=120
BENCH_TIMEOUT=${BENCH_TIMEOUT:-900}
STEADY_SECONDS=${STEADY_SECONDS:-60}
SETTLE_TIMEOUT=${SETTLE_TIMEOUT:-600}
work=$(mktemp -d)
release_ns=chatplane-system
sizes=("$@")
((${#sizes[@]})) || sizes=(100 1000)

finish() {
  local rc=$?
  stop_floor_clients
  stop_operators
  cluster_down quiet
  rm -rf "$work"
  exit "$rc"
}
trap finish EXIT

if [[ -n ${OPERATOR_BIN:-} ]]; then
  operator=$OPERATOR_BIN
else
  OPERATOR_PROFILE=release operator_build
fi
export OPERATOR_LOG=${OPERATOR_LOG:-info}
# OPERATOR_FLAGS: more flags of `chatplane-operator run` (e.g. --max-concurrent-reconciles 32).
read -ra operator_flags <<<"${OPERATOR_FLAGS:-}"

# kube-apiserver's request counter, summed by verb and resource: "VERB resource count" lines.
server_requests() {
  k get --raw /metrics | awk '/^apiserver_request_total\{/ {
      verb = $0; sub(/.*verb="/, "", verb); sub(/".*/, "", verb)
      res = $0; sub(/.*[{,]resource="/, "", res); sub(/".*/, "", res)
      sub_ = ""; if ($0 ~ /subresource="[^"]+"/) { sub_ = $0; sub(/.*subresource="/, "", sub_); sub(/".*/, "", sub_); res = res "/" sub_ }
      n[verb " " res] += $NF } END { for (key in n) print key, n[key] }' | sort
}
# APF: seconds waited in queues and requests rejected, by priority level.
server_flowcontrol() {
  k get --raw /metrics | awk '
    /^apiserver_flowcontrol_request_wait_duration_seconds_sum\{/ {
      pl = $0; sub(/.*priority_level="/, "", pl); sub(/".*/, "", pl); wait[pl] += $NF }
    /^apiserver_flowcontrol_rejected_requests_total\{/ {
      pl = $0; sub(/.*priority_level="/, "", pl); sub(/".*/, "", pl); rej[pl] += $NF }
    END { for (pl in wait) print "wait", pl, wait[pl]; for (pl in rej) print "rejected", pl, rej[pl] }' | sort
}
server_codes() {
  k get --raw /metrics | awk '/^apiserver_request_total\{/ { c = $0; sub(/.*code="/, "", c); sub(/".*/, "", c); n[c] += $NF }
    END { for (c in n) print "code", c, n[c] }' | sort
}
operator_requests() {
  operator_metrics | awk '/^chatplane_operator_api_requests_total\{/ {
      verb = $0; sub(/.*verb="/, "", verb); sub(/".*/, "", verb)
      res = $0; sub(/.*[{,]resource="/, "", res); sub(/".*/, "", res); n[verb " " res] += $NF }
    END { for (key in n) print key, n[key] }' | sort
}
# "key count" lines of two snapshots ($1 before, $2 after): the deltas, largest first.
delta() {
  awk 'NR == FNR { before[$1 " " $2] = $3; next } { d = $3 - before[$1 " " $2]; if (d > 0) print $1, $2, d }' "$1" "$2" |
    sort -k3,3nr
}
writes_of() { # $1 delta file: mutating requests, the Lease and Events excepted
  awk '$1 ~ /^(POST|PUT|PATCH|APPLY|DELETE|DELETECOLLECTION)$/ && $2 != "leases" && $2 != "events" { n += $3 } END { print n + 0 }' "$1"
}
observed_count() {
  k get chat -n bench -o json |
    jq '[.items[] | select(.status.observedGeneration != null and .status.observedGeneration == .metadata.generation)] | length'
}
proc_field() { awk -v f="$2:" '$1 == f {print $2}' "/proc/$1/status"; }
cpu_seconds() { awk -v hz="$(getconf CLK_TCK)" '{printf "%.1f", ($14 + $15) / hz}' "/proc/$1/stat"; }

# N ChatDeployments c0000… in namespace bench, as one multi-document file.
chat_deployments() {
  local i
  for ((i = 0; i < $1; i++)); do
    printf 'apiVersion: chatplane.dev/v1alpha1\nkind: ChatDeployment\nmetadata: {name: c%04d, namespace: bench}\nspec: {publicUrl: "https://c%04d.example.com"}\n---\n' "$i" "$i"
  done
}

floor_pids=()
stop_floor_clients() {
  local p
  for p in "${floor_pids[@]}"; do kill "$p" 2>/dev/null || true; done
  floor_pids=()
}

# FLOOR_CLIENTS mode for N = $1 on a cluster that is up: the report of the floor run.
floor_run() {
  local n=$1 clients=$FLOOR_CLIENTS placeholder i p failed=0
  chat_deployments 1 | sed '$d' >"$work/cd-template.yaml" # one document: render reads one
  "$operator" render -f "$work/cd-template.yaml" >"$work/owned-template.yaml"
  placeholder=$(awk '$1 == "uid:" {print $2; exit}' "$work/owned-template.yaml")
  chat_deployments "$n" >"$work/cds.yaml"
  server_requests >"$work/server.0"
  local started=$SECONDS
  k apply --server-side -f "$work/cds.yaml" >/dev/null
  local applied=$((SECONDS - started))
  # Each ChatDeployment's objects: the template's name and placeholder uid replaced, dealt out
  # to the clients in turn.
  k get chat -n bench -o jsonpath='{range .items[*]}{.metadata.name} {.metadata.uid}{"\n"}{end}' |
    awk -v tmpl="$work/owned-template.yaml" -v out="$work/owned" -v clients="$clients" -v placeholder="$placeholder" '
      BEGIN { while ((getline line < tmpl) > 0) t = t line "\n" }
      { doc = t; gsub(/c0000/, $1, doc); gsub(placeholder, $2, doc)
        printf "%s---\n", doc > (out "-" (NR % clients) ".yaml") }'
  for ((i = 0; i < clients; i++)); do
    KUBECONFIG="$KUBECONFIG_PATH" nsenter --net="$NETNS_PATH" "$K8S_BIN_DIR/kubectl" --request-timeout=60s \
      apply --server-side --field-manager=chatplane-operator -f "$work/owned-$i.yaml" >/dev/null &
    floor_pids+=("$!")
  done
  for p in "${floor_pids[@]}"; do wait "$p" || failed=$((failed + 1)); done
  floor_pids=()
  local elapsed=$((SECONDS - started))
  server_requests >"$work/server.1"
  delta "$work/server.0" "$work/server.1" >"$work/server.d"
  local objects total
  objects=$(grep -c '^kind:' "$work/owned-template.yaml")
  total=$(awk '{n += $3} END {print n + 0}' "$work/server.d")
  echo
  echo "## N = $n, no operator: $clients clients apply the $objects owned objects of each"
  echo
  echo "| N | seconds (of which the ChatDeployments' apply) | clients | failed clients | server requests / CD (all clients) |"
  echo "|---|---|---|---|---|"
  echo "| $n | $elapsed ($applied) | $clients | $failed | $(awk -v t="$total" -v n="$n" 'BEGIN {printf "%.1f", t / n}') |"
  echo
  echo "kube-apiserver requests, per ChatDeployment (all clients; top 12):"
  awk -v n="$n" '{printf "  %-7s %-28s %8d  %.2f/CD\n", $1, $2, $3, $3 / n}' "$work/server.d" | head -12
}

echo "# bench/operator-scale.sh $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, operator ${OPERATOR_BIN:-release build of $(git rev-parse --short HEAD)}"
for n in "${sizes[@]}"; do
  cluster_up >/dev/null
  k apply --server-side -f crds/ >/dev/null
  k wait --for condition=Established crd/chatdeployments.chatplane.dev --timeout=30s >/dev/null
  helm install chatplane charts/chatplane -n "$release_ns" --create-namespace >/dev/null
  k create namespace bench >/dev/null
  if ((${FLOOR_CLIENTS:-0})); then
    floor_run "$n"
    cluster_down quiet
    continue
  fi
  operator_kubeconfig
  start_operator
  pid=${operator_pids[runs]}
  chat_deployments "$n" >"$work/cds.yaml"
  sleep 5 # the operator's watches are established
  server_requests >"$work/server.0"
  server_flowcontrol >"$work/apf.0"
  server_codes >"$work/codes.0"
  operator_requests >"$work/op.0"
  load_start=$(cut -d' ' -f1-3 /proc/loadavg)
  started=$SECONDS
  k apply --server-side -f "$work/cds.yaml" >/dev/null
  applied=$((SECONDS - started))
  done_count=0
  until ((done_count == n)) || ((SECONDS - started >= BENCH_TIMEOUT)); do
    sleep 5
    done_count=$(observed_count || echo "$done_count")
  done
  elapsed=$((SECONDS - started))
  server_requests >"$work/server.1"
  server_flowcontrol >"$work/apf.1"
  server_codes >"$work/codes.1"
  operator_requests >"$work/op.1"
  load_end=$(cut -d' ' -f1-3 /proc/loadavg)
  # Steady state: kube-controller-manager (20 requests/s to the server by default) keeps creating
  # ReplicaSets and Pods and writing workload status for minutes after the operator is done, and
  # the operator rightly follows those status changes. So the window starts once no client but
  # Events and Leases wrote for 10 s, or after SETTLE_TIMEOUT.
  settle_started=$SECONDS settled=no
  while ((SECONDS - settle_started < SETTLE_TIMEOUT)); do
    server_requests >"$work/server.q0"
    sleep 10
    server_requests >"$work/server.q1"
    delta "$work/server.q0" "$work/server.q1" >"$work/server.qd"
    if (($(writes_of "$work/server.qd") == 0)); then
      settled=yes
      break
    fi
  done
  settle_seconds=$((SECONDS - settle_started))
  server_requests >"$work/server.s0"
  operator_requests >"$work/op.s0"
  sleep "$STEADY_SECONDS"
  server_requests >"$work/server.s1"
  operator_requests >"$work/op.s1"
  rss_peak=$(proc_field "$pid" VmHWM)
  rss_now=$(proc_field "$pid" VmRSS)
  cpu=$(cpu_seconds "$pid")

  delta "$work/server.0" "$work/server.1" >"$work/server.d"
  delta "$work/op.0" "$work/op.1" >"$work/op.d"
  delta "$work/server.s0" "$work/server.s1" >"$work/server.sd"
  delta "$work/op.s0" "$work/op.s1" >"$work/op.sd"
  server_total=$(awk '{n += $3} END {print n + 0}' "$work/server.d")
  op_total=$(awk '{n += $3} END {print n + 0}' "$work/op.d")
  echo
  echo "## N = $n"
  echo
  echo "| N | all observed | seconds | operator peak RSS | RSS after | operator CPU s | server requests / CD | operator requests / CD | operator writes in ${STEADY_SECONDS} s steady | load avg start → end |"
  echo "|---|---|---|---|---|---|---|---|---|---|"
  echo "| $n | $done_count/$n | $elapsed (apply took $applied) | $((rss_peak / 1024)) MiB | $((rss_now / 1024)) MiB | $cpu |" \
    "$(awk -v t="$server_total" -v n="$n" 'BEGIN {printf "%.1f", t / n}') |" \
    "$(awk -v t="$op_total" -v n="$n" 'BEGIN {printf "%.1f", t / n}') | $(writes_of "$work/op.sd") |" \
    "$load_start → $load_end |"
  echo
  echo "kube-apiserver requests while reconciling, per ChatDeployment (all clients; top 12):"
  awk -v n="$n" '{printf "  %-7s %-28s %8d  %.2f/CD\n", $1, $2, $3, $3 / n}' "$work/server.d" | head -12
  echo "the operator's own requests, per ChatDeployment:"
  awk -v n="$n" '{printf "  %-7s %-28s %8d  %.2f/CD\n", $1, $2, $3, $3 / n}' "$work/op.d"
  echo "responses by code (all clients): $(delta "$work/codes.0" "$work/codes.1" | awk '{printf "%s: %s, ", $2, $3}' | sed 's/, $//' || true)"
  echo "APF while reconciling (seconds waited in queue / rejected, by priority level):"
  delta "$work/apf.0" "$work/apf.1" | awk '{printf "  %s %s %s\n", $1, $2, $3}' || true
  echo "settled: $settled after $settle_seconds s (no write but Events and Leases for 10 s; SETTLE_TIMEOUT $SETTLE_TIMEOUT)"
  echo "steady ${STEADY_SECONDS} s: operator writes $(writes_of "$work/op.sd"), operator requests $(awk '{n += $3} END {print n + 0}' "$work/op.sd");" \
    "server writes (all clients) $(writes_of "$work/server.sd"):"
  awk '$1 ~ /^(POST|PUT|PATCH|APPLY|DELETE)$/ {printf "  %s %s %s\n", $1, $2, $3}' "$work/server.sd" | head -8

  stop_operators
  cluster_down quiet
done

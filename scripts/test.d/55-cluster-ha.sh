#!/usr/bin/env bash
# Leader election and an API server restart, against a real control plane of its own
# (scripts/cluster.sh): two operator processes with the chart's ServiceAccount; only the Lease
# holder writes; killing it hands over to the other, which reconciles what changed meanwhile; and
# the API server restarting under a running operator neither stops it nor makes it write twice.
#
# Who wrote what is read from each process's own /metrics (chatplane_operator_api_requests_total
# by verb and resource): every request goes through that counter, so a standby's write would show.
set -euo pipefail
cd "$(dirname "$0")/../.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/chatplane/target}"
export CLUSTER_NAME="${CLUSTER_NAME:-chatplane-ha}"
# shellcheck source=scripts/cluster.sh
source scripts/cluster.sh
# shellcheck source=scripts/lib/cluster-test.sh
source scripts/lib/cluster-test.sh
cluster_test_tools

WAIT=${CLUSTER_TEST_WAIT:-90} # seconds for any one condition
LEASE=10                      # the operators' --lease-duration-seconds
work=$(mktemp -d)
release_ns=chatplane-system
operator_flags=(--lease-duration-seconds "$LEASE")

finish() {
  local rc=$?
  stop_operators
  if ((rc)); then
    echo "--- 55-cluster-ha failed; operator logs:" >&2
    tail -n 30 "$work"/operator-*.log >&2 2>/dev/null || true
  fi
  cluster_down quiet
  rm -rf "$work"
  exit "$rc"
}
trap finish EXIT

cluster_up >/dev/null
k apply --server-side -f crds/ >/dev/null
k wait --for condition=Established crd/chatdeployments.chatplane.dev --timeout=30s >/dev/null
helm install chatplane charts/chatplane -n "$release_ns" --create-namespace >/dev/null
operator_build
operator_kubeconfig

lease_holder() { k -n "$release_ns" get lease chatplane-operator-leader -o jsonpath='{.spec.holderIdentity}'; }
holder_is() { [[ $(lease_holder) == "$1" ]]; }
leads() { operator_leads "$1" && holder_is "test-operator-$1"; }

# --- 7. two replicas: only the Lease holder writes ------------------------------------------------

start_operator
eventually "operator 1 takes the Lease" leads 1
start_operator
k apply -f examples/minimal.yaml >/dev/null
eventually "chat has a status for its generation" status_observed chat
eventually "the objects of chat settle" settled
# Two of the standby's retry periods (a fifth of the lease each) after everything settled: the
# standby has looked at the Lease and stayed a standby.
sleep $((2 * LEASE / 5 + 1))
holder_is test-operator-1 || fail "the Lease moved to $(lease_holder) while operator 1 ran"
! operator_leads 2 || fail "operator 2 reports leading beside operator 1"
writes_1=$(operator_writes 1)
((writes_1 > 0)) || fail "the leader sent no writes"
[[ $(operator_writes 2) == 0 ]] || fail "the standby wrote: $(operator_metrics 2 | grep api_requests_total)"
[[ $(reconciles_done 2) == 0 ]] || fail "the standby reconciled"
for object in "${minimal_owned[@]}"; do
  managers=$(k get "$object" -o json --show-managed-fields |
    jq -c '[.metadata.managedFields[] | select(.subresource == null) | .manager + "/" + .operation]')
  [[ $managers == '["chatplane-operator/Apply"]' ]] || fail "$object: field managers $managers"
done
no_forbidden
echo "ok: leader election: operator 1 holds the Lease and sent $writes_1 writes; the standby sent none and reconciled nothing"

# Killed (no chance to hand the Lease back), the leader's Lease expires and the standby takes it
# over within the lease duration plus one retry period (and some slack for a loaded machine).
transitions=$(k -n "$release_ns" get lease chatplane-operator-leader -o jsonpath='{.spec.leaseTransitions}')
kill -KILL "${operator_pids[1]}"
operator_pids[1]=""
k patch chat chat --type=merge -p '{"spec":{"rag":{"topK":5}}}' >/dev/null
eventually_within $((LEASE + LEASE / 5 + 10)) "operator 2 takes over the expired Lease" leads 2
[[ $(k -n "$release_ns" get lease chatplane-operator-leader -o jsonpath='{.spec.leaseTransitions}') == $((transitions + 1)) ]] ||
  fail "leaseTransitions did not count the takeover"
api_top_k() { k get deployment chat-api -o json | jq -r '.spec.template.spec.containers[0].env[] | select(.name == "RAG_TOP_K") | .value'; }
top_k_is() { status_observed chat && [[ $(api_top_k) == "$1" ]]; }
eventually "operator 2 reconciles the change made after the kill" top_k_is 5
(($(operator_writes 2) > 0)) || fail "the new leader sent no writes"
no_forbidden
echo "ok: the killed leader's Lease went to operator 2, which reconciled the change made meanwhile (RAG_TOP_K 5)"

# A graceful stop hands the Lease back: a new standby takes it at its next look, not after a
# whole lease duration of waiting (the bound below is shorter than the lease).
start_operator
stop_operator 2
grep -q '"released the lease"' "$work/operator-2.log" || fail "operator 2 did not release the Lease on SIGTERM"
eventually_within $((LEASE / 5 + 5)) "operator 3 takes the released Lease" leads 3
echo "ok: a SIGTERM'd leader releases the Lease and the standby takes it at once"

# --- 8. the API server restarts under the running operator --------------------------------------

k patch chat chat --type=merge -p '{"spec":{"rag":{"topK":6}}}' >/dev/null
eventually "operator 3 reconciles a change" top_k_is 6
eventually "the objects settle" settled
cp "$work/settle.b" "$work/before-restart"
pid=${operator_pids[3]}
log_lines() { wc -l <"$work/operator-3.log"; }
before=$(log_lines)
cluster_restart_apiserver 2>/dev/null
# A starting API server answers before its RBAC caches are filled (it is not /readyz yet) and
# refuses the operator's first retries with 403; those lines go to a log of their own, so
# no_forbidden below still fails on any refusal once the server is ready.
after=$(log_lines)
sed -n "$((before + 1)),${after}p" "$work/operator-3.log" >"$work/during-restart.log"
sed -i "$((before + 1)),${after}d" "$work/operator-3.log"
# Renewing again: the fence is open once more, the Lease still the same operator's.
eventually "operator 3 renews its Lease after the restart" leads 3
eventually "the objects settle after the restart" settled
diff "$work/before-restart" "$work/settle.b" >&2 || fail "the API server restart made the operator write the objects above"
if ! operator_alive 3 || [[ ${operator_pids[3]} != "$pid" ]]; then
  fail "the operator exited during the API server restart"
fi
# The watches resumed: a change after the restart is reconciled.
k patch chat chat --type=merge -p '{"spec":{"rag":{"topK":7}}}' >/dev/null
eventually "a change after the restart is reconciled" top_k_is 7
if grep -q 'panicked' "$work/operator-3.log"; then fail "the operator panicked"; fi
no_forbidden
echo "ok: API server restart: the operator kept running (pid $pid), renewed its Lease, wrote nothing on" \
  "reconnecting (resourceVersions unchanged) and reconciled a change made after it (RAG_TOP_K 7);" \
  "$(grep -c 'Forbidden' "$work/during-restart.log" || true) refusals while the server started"
echo "55-cluster-ha: all checks passed against kube-apiserver v$K8S_VERSION"

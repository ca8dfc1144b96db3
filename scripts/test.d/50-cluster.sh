#!/usr/bin/env bash
# The CRD, the chart and the operator against a real, upstream control plane (scripts/cluster.sh):
# what only a server decides — schema and CEL admission, server-side apply, RBAC with the chart's
# own ServiceAccount, the status subresource, garbage collection and finalizers.
#
# There is no node: pods stay Pending. Where a kubelet would report pods Ready, the test writes the
# pods' status itself (the kubelet's part), and the real Deployment and StatefulSet controllers
# turn that into the workloads' status the operator reads.
set -euo pipefail
cd "$(dirname "$0")/../.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/chatplane/target}"
export CLUSTER_NAME="${CLUSTER_NAME:-chatplane-test}"
# shellcheck source=scripts/cluster.sh
source scripts/cluster.sh

# shellcheck source=scripts/lib/cluster-test.sh
source scripts/lib/cluster-test.sh
cluster_test_tools

WAIT=${CLUSTER_TEST_WAIT:-90} # seconds for any one condition
work=$(mktemp -d)

release_ns=chatplane-system
finish() {
  local rc=$?
  stop_operators
  if ((rc)); then
    echo "--- 50-cluster failed; operator logs:" >&2
    tail -n 40 "$work"/operator-*.log >&2 2>/dev/null || true
  fi
  cluster_down quiet
  rm -rf "$work"
  exit "$rc"
}
trap finish EXIT

cluster_up >/dev/null
echo "cluster: $(k version -o json | jq -r '"client " + .clientVersion.gitVersion + ", server " + .serverVersion.gitVersion')"
[[ $(k version -o json | jq -r .serverVersion.gitVersion) == "v$K8S_VERSION" ]] ||
  fail "the server does not report v$K8S_VERSION"

# --- 1. the CRD, the examples and the refusal table -----------------------------------------------

k apply --server-side -f crds/ >/dev/null
k wait --for condition=Established crd/chatdeployments.chatplane.dev --timeout=30s >/dev/null
# The examples' namespaces, as a user would have them.
mapfile -t namespaces < <(awk '/^  namespace:/ {print $2}' examples/*.yaml | sort -u)
for namespace in "${namespaces[@]}"; do
  k get namespace "$namespace" >/dev/null 2>&1 || k create namespace "$namespace" >/dev/null
done
for example in examples/*.yaml; do
  k create --dry-run=server -f "$example" >/dev/null || fail "$example refused by the server"
done
echo "ok: CRD applied server-side; $(find examples -name '*.yaml' | wc -l) examples pass --dry-run=server"

# A case of crds/tests/cases.json as a ChatDeployment; $1 the case, $2 which spec (spec/old/new).
case_object() {
  jq -c --arg which "$2" '{apiVersion: "chatplane.dev/v1alpha1", kind: "ChatDeployment",
    metadata: {name: (.name // "chat"), namespace: "default"}, spec: .[$which]}' <<<"$1"
}

# Runs "$@" (a kubectl call reading the object on stdin) and checks the server refused it with
# the case's words.
expect_refused() {
  local case=$1 object=$2
  shift 2
  local description expected output
  description=$(jq -r .case <<<"$case")
  expected=$(jq -r '.server // .message' <<<"$case")
  if output=$("$@" <<<"$object" 2>&1); then
    fail "$description: accepted by the server, expected refusal with: $expected"
  fi
  [[ $output == *"$expected"* ]] || fail "$description: refused with: $output; expected: $expected"
}

mapfile -t invalid < <(jq -c '.invalid[]' crds/tests/cases.json)
((${#invalid[@]} >= 20)) || fail "crds/tests/cases.json lost its cases"
for case in "${invalid[@]}"; do
  expect_refused "$case" "$(case_object "$case" spec)" k create --dry-run=server -f -
done

# Updates start from a stored object: transition rules compare against it (oldSelf).
replace_spec() { # $1 case: store `old` under a fresh name, then replace its spec with `new`
  local name=$2
  case_object "$1" old | jq -c --arg n "$name" '.metadata.name = $n' | k create -f - >/dev/null
  k get chatdeployment "$name" -o json | jq -c --argjson new "$(jq -c .new <<<"$1")" '.spec = $new'
}
mapfile -t allowed < <(jq -c '.updates.allowed[]' crds/tests/cases.json)
mapfile -t refused < <(jq -c '.updates.refused[]' crds/tests/cases.json)
i=0
for case in "${allowed[@]}"; do
  i=$((i + 1))
  replace_spec "$case" "update-$i" | k replace --dry-run=server -f - >/dev/null ||
    fail "$(jq -r .case <<<"$case"): refused by the server"
done
for case in "${refused[@]}"; do
  i=$((i + 1))
  expect_refused "$case" "$(replace_spec "$case" "update-$i")" k replace --dry-run=server -f -
done
k delete chatdeployments --all -n default --wait=true --timeout=30s >/dev/null
echo "ok: the server refuses all ${#invalid[@]} invalid resources and ${#refused[@]} forbidden updates" \
  "with the client-side check's reason, and accepts ${#allowed[@]} allowed updates"

# --- 2. the chart, with the real helm -----------------------------------------------------------

helm install chatplane charts/chatplane -n "$release_ns" --create-namespace >/dev/null
[[ $(k -n "$release_ns" get deployment chatplane -o jsonpath='{.spec.replicas}') == 1 ]] ||
  fail "helm install: the operator Deployment is not at the chart's default of 1 replica"
for object in serviceaccount/chatplane role/chatplane-leader-election rolebinding/chatplane-leader-election \
  service/chatplane; do
  k -n "$release_ns" get "$object" >/dev/null || fail "helm install did not create $object"
done
k get clusterrole/chatplane clusterrolebinding/chatplane >/dev/null
# No node here: the operator's own pod is created, and scheduled nowhere.
operator_pod_pending() {
  [[ $(k -n "$release_ns" get pods -o jsonpath='{.items[*].status.phase}') == Pending ]]
}
eventually "the chart's operator pod exists, Pending" operator_pod_pending
helm upgrade chatplane charts/chatplane -n "$release_ns" --reuse-values \
  --set replicas=2 --set defaultImages.api=registry.example/chatplane-api:upgraded >/dev/null
deployment=$(k -n "$release_ns" get deployment chatplane -o json)
[[ $(jq .spec.replicas <<<"$deployment") == 2 ]] || fail "helm upgrade: replicas not 2"
[[ $(jq -r '.spec.template.spec.containers[0].env[] | select(.name == "CHATPLANE_API_IMAGE") | .value' \
  <<<"$deployment") == registry.example/chatplane-api:upgraded ]] || fail "helm upgrade: default API image not changed"
[[ $(helm -n "$release_ns" history chatplane -o json | jq length) == 2 ]] || fail "helm history is not 2 revisions"
echo "ok: helm install and helm upgrade (replicas 2, a new default image) as docs/OPERATOR.md says"

# --- 3. the operator, with a token of the chart's ServiceAccount --------------------------------

operator_build
operator_kubeconfig

start_operator
k apply -f examples/minimal.yaml >/dev/null
chat=chat
owned=("${minimal_owned[@]}")
generated=("${minimal_generated[@]}")
eventually "ChatDeployment chat has a status for its generation" status_observed $chat
uid=$(k get chat $chat -o jsonpath='{.metadata.uid}')
for object in "${owned[@]}"; do
  json=$(k get "$object" -o json --show-managed-fields) || fail "$object was not created"
  jq -e --arg uid "$uid" '[.metadata.ownerReferences[]? | select(.uid == $uid and .controller == true
      and .blockOwnerDeletion == true and .kind == "ChatDeployment")] | length == 1' <<<"$json" >/dev/null ||
    fail "$object has no controller owner reference to ChatDeployment chat"
  managers=$(jq -c '[.metadata.managedFields[] | select(.subresource == null) | .manager + "/" + .operation]' <<<"$json")
  [[ $managers == '["chatplane-operator/Apply"]' ]] || fail "$object: field managers $managers, expected only chatplane-operator (Apply)"
  jq -e '.metadata.labels["app.kubernetes.io/managed-by"] == "chatplane-operator"
      and .metadata.labels["app.kubernetes.io/instance"] == "chat"
      and .metadata.labels["app.kubernetes.io/name"] == "chatplane"
      and (.metadata.labels["app.kubernetes.io/component"] | length > 0)' <<<"$json" >/dev/null ||
    fail "$object lacks the documented labels: $(jq -c .metadata.labels <<<"$json")"
  case $object in
  deployment/* | statefulset/*)
    jq -e '.spec.template.metadata.annotations["chatplane.dev/config-hash"] | length > 0' <<<"$json" >/dev/null ||
      fail "$object has no config-hash annotation on its pod template"
    ;;
  esac
done
for object in "${generated[@]}"; do
  json=$(k get "$object" -o json) || fail "$object was not generated"
  jq -e '.metadata.ownerReferences == null' <<<"$json" >/dev/null || fail "$object has an owner reference"
done
# The API's metrics port: a named port of its Service, and in its NetworkPolicy open only to
# spec.monitoring's default peer (this namespace's pods labelled chatplane.dev/monitoring=true);
# the API port is open to every client.
ports=$(k get service/$chat-api -o jsonpath='{range .spec.ports[*]}{.name}={.port}>{.targetPort} {end}')
[[ $ports == "http=8080>http metrics=9090>metrics " ]] ||
  fail "service/$chat-api: ports [$ports], expected http 8080 and metrics 9090, each by name"
k get networkpolicy/$chat-api -o json | jq -e '.spec.policyTypes == ["Ingress"] and .spec.ingress == [
    {ports: [{port: 8080, protocol: "TCP"}]},
    {from: [{podSelector: {matchLabels: {"chatplane.dev/monitoring": "true"}}}],
     ports: [{port: 9090, protocol: "TCP"}]}]' >/dev/null ||
  fail "networkpolicy/$chat-api: ingress $(k get networkpolicy/$chat-api -o jsonpath='{.spec.ingress}')"
no_forbidden
echo "ok: examples/minimal.yaml: ${#owned[@]} owned objects with owner reference, one field manager," \
  "labels and config hash (the API's metrics port only to the monitoring peer); ${#generated[@]} generated Secrets without owner"

eventually "the new objects settle" settled
cp "$work/settle.b" "$work/before"

# A second reconcile with nothing changed (an annotation is not part of the spec) writes nothing.
done_before=$(reconciles_done)
k annotate chat "$chat" chatplane.dev/test-poke=1 >/dev/null
eventually "a reconcile after the annotation" more_reconciles_than "$done_before"
sleep 2
snapshot | grep -v '^ChatDeployment/' >"$work/after"
grep -v '^ChatDeployment/' "$work/before" | diff - "$work/after" >&2 ||
  fail "a reconcile with nothing changed wrote to the objects above"
# A restarted operator (a fresh cache, every object reconciled at start) writes nothing either.
snapshot >"$work/before"
stop_operator
start_operator
eventually "the restarted operator reconciles" more_reconciles_than 0
sleep 2
snapshot >"$work/after"
diff "$work/before" "$work/after" >&2 || fail "an operator restart wrote to the objects above"
no_forbidden
echo "ok: a second reconcile and an operator restart change nothing (resourceVersions, Secret data)"

# A spec change rolls exactly the workloads it reaches: rag.topK is the API's RAG_TOP_K only.
generations() {
  k get deployment/$chat-api deployment/$chat-auth statefulset/$chat-postgres \
    -o jsonpath='{range .items[*]}{.metadata.name}={.metadata.generation}:{.spec.template.metadata.annotations.chatplane\.dev/config-hash}{"\n"}{end}'
}
generations >"$work/gen.before"
k patch chat "$chat" --type=merge -p '{"spec":{"rag":{"topK":5}}}' >/dev/null
eventually "the topK change is reconciled" status_observed $chat
generations >"$work/gen.after"
changed=$(diff "$work/gen.before" "$work/gen.after" | sed -n 's/^> \([^=]*\)=.*/\1/p' | xargs || true)
[[ $changed == "$chat-api" ]] || fail "rag.topK rolled [$changed], expected only $chat-api"
[[ $(k get deployment $chat-api -o json | jq -r '.spec.template.spec.containers[0].env[] | select(.name == "RAG_TOP_K") | .value') == 5 ]] ||
  fail "RAG_TOP_K is not 5 after the change"
echo "ok: a spec change (rag.topK) rolls the API Deployment only"

# --- 4. status follows the workloads ------------------------------------------------------------

condition() { # $1 ChatDeployment, $2 type: "status reason"
  k get chat "$1" -o json | jq -r --arg t "$2" '.status.conditions[]? | select(.type == $t) | "\(.status) \(.reason)"'
}
condition_is() { [[ $(condition "$1" "$2") == "$3" ]]; }
[[ $(k get chat $chat -o jsonpath='{.status.phase}') == Progressing ]] || fail "with Pending pods the phase is not Progressing"
condition_is $chat Ready "False ComponentsNotReady" || fail "Ready: $(condition $chat Ready)"
# The kubelet's part: report each of the ChatDeployment's pods Running and Ready. The real
# ReplicaSet, Deployment and StatefulSet controllers derive the workloads' status from that.
pods_of_chat_exist() {
  (($(k get pods -l app.kubernetes.io/instance=$chat -o name | wc -l) >= 3))
}
eventually "the controllers create the pods of chat" pods_of_chat_exist
mark_pods_ready() {
  local pod now
  now=$(date -u +%Y-%m-%dT%H:%M:%SZ)
  for pod in $(k get pods -l app.kubernetes.io/instance=$chat -o name); do
    k patch "$pod" --subresource=status --type=merge -p "{\"status\": {\"phase\": \"Running\",
      \"conditions\": [{\"type\": \"Ready\", \"status\": \"True\", \"lastTransitionTime\": \"$now\"},
      {\"type\": \"ContainersReady\", \"status\": \"True\", \"lastTransitionTime\": \"$now\"}]}}" >/dev/null
  done
}
chat_ready() {
  mark_pods_ready # pods a rollout replaced come Pending again
  [[ $(k get chat $chat -o jsonpath='{.status.phase}') == Ready ]]
}
eventually "ChatDeployment chat becomes Ready once its pods are" chat_ready
for type in Ready DatabaseReady AuthReady ApiReady; do
  condition_is $chat $type "True $(case $type in Ready) echo AllComponentsReady ;; DatabaseReady) echo PostgresReady ;; *) echo DeploymentAvailable ;; esac)" ||
    fail "$type: $(condition $chat $type)"
done
k get events --field-selector involvedObject.name=$chat,reason=Ready -o name | grep -q . ||
  fail "no Ready event for chat"
echo "ok: pods reported Ready make the StatefulSet and Deployments available and chat Ready (with an event)"

# A missing referenced Secret: Degraded with the reason, and fixed without a restart.
ext=ext
k apply -f - >/dev/null <<YAML
apiVersion: chatplane.dev/v1alpha1
kind: ChatDeployment
metadata: {name: $ext, namespace: default}
spec:
  publicUrl: https://ext.example.com
  database:
    external:
      apiUrlSecretRef: {name: ext-db, key: api}
      authUrlSecretRef: {name: ext-db, key: auth}
YAML
eventually "ext becomes Degraded (SecretNotFound)" condition_is $ext Degraded "True SecretNotFound"
[[ $(k get chat $ext -o jsonpath='{.status.phase}') == Degraded ]] || fail "ext: phase is not Degraded"
k get chat $ext -o json | jq -e '.status.conditions[] | select(.type == "Degraded") | .message | contains("ext-db")' >/dev/null ||
  fail "the Degraded message does not name the Secret"
warning_event() { k get events --field-selector "involvedObject.name=$1,type=Warning,reason=$2" -o name | grep -q .; }
eventually "a Warning event SecretNotFound for ext" warning_event $ext SecretNotFound
k create secret generic ext-db --from-literal=api=postgres://a@db:5432/a >/dev/null
eventually "ext reports the missing key (SecretKeyMissing)" condition_is $ext Degraded "True SecretKeyMissing"
k patch secret ext-db --type=merge -p '{"stringData": {"auth": "postgres://b@db:5432/b"}}' >/dev/null
eventually "ext recovers without a restart" condition_is $ext Degraded "False ReconcileSucceeded"
k get deployment/$ext-api deployment/$ext-auth networkpolicy/$ext-api >/dev/null ||
  fail "ext's Deployments and API NetworkPolicy were not created after the fix"
no_forbidden
echo "ok: a missing Secret (then key) degrades ext with its reason and a Warning event; the fix recovers it"

# The API server refuses an owned object (a quota): Degraded ApplyFailed with the server's
# words and one Warning event; repeats patch nothing; lifting the quota recovers it.
k create namespace quota >/dev/null
k create quota no-services -n quota --hard=services=0 >/dev/null
# Admission enforces a quota once the controller manager has computed its status.
quota_counted() { [[ $(k -n quota get quota no-services -o jsonpath='{.status.hard.services}') == 0 ]]; }
eventually "the quota is counted" quota_counted
k apply -f - >/dev/null <<YAML
apiVersion: chatplane.dev/v1alpha1
kind: ChatDeployment
metadata: {name: chat, namespace: quota}
spec: {publicUrl: https://quota.example.com}
YAML
qk() { k -n quota "$@"; }
apply_failed() { [[ $(qk get chat chat -o json | jq -r '.status.conditions[]? | select(.type == "Degraded") | "\(.status) \(.reason)"') == "True ApplyFailed" ]]; }
eventually "quota/chat becomes Degraded (ApplyFailed)" apply_failed
quota_json=$(qk get chat chat -o json)
jq -e '.status.conditions[] | select(.type == "Degraded") | .message | contains("Service \"chat-postgres-headless\"") and contains("exceeded quota: no-services") and contains("403 Forbidden")' \
  <<<"$quota_json" >/dev/null || fail "the Degraded message lacks the object or the quota: $(jq -c .status <<<"$quota_json")"
jq -e '(.status.conditions[] | select(.type == "Ready") | .status == "False" and .reason == "SpecDegraded")
  and .status.observedGeneration == .metadata.generation and .status.phase == "Degraded"' <<<"$quota_json" >/dev/null ||
  fail "quota/chat: Ready, phase or observedGeneration wrong: $(jq -c .status <<<"$quota_json")"
quota_warnings() { qk get events --field-selector "involvedObject.name=chat,type=Warning,reason=ApplyFailed" -o name | wc -l; }
has_quota_warning() { (($(quota_warnings) >= 1)); }
eventually "a Warning event ApplyFailed in quota" has_quota_warning
version=$(jq -r .metadata.resourceVersion <<<"$quota_json")
refusals() { cat "$work"/operator-*.log | grep -c 'exceeded quota: no-services' || true; }
refusals_before=$(refusals)
more_refusals() { (($(refusals) > refusals_before)); }
eventually "the operator retries quota/chat" more_refusals
[[ $(qk get chat chat -o jsonpath='{.metadata.resourceVersion}') == "$version" ]] ||
  fail "a repeated refusal re-patched the status"
[[ $(quota_warnings) == 1 ]] || fail "a repeated refusal emitted another event ($(quota_warnings))"
qk delete quota no-services >/dev/null
quota_recovered() { [[ $(qk get chat chat -o json | jq -r '.status.conditions[]? | select(.type == "Degraded") | "\(.status) \(.reason)"') == "False ReconcileSucceeded" ]]; }
eventually "quota/chat recovers once the quota is gone" quota_recovered
qk get service chat-postgres-headless chat-api >/dev/null || fail "quota/chat's Services were not created after the quota went"
qk delete chat chat --wait=false >/dev/null
quota_chat_gone() { ! qk get chat chat >/dev/null 2>&1; }
eventually "quota/chat is deleted" quota_chat_gone
echo "ok: a ResourceQuota's refusal shows as Degraded ApplyFailed with the server's message and one Warning event; lifting it recovers"

# --- 5. deletion: the garbage collector and the finalizer ---------------------------------------

gone() { ! k get "$@" -o name >/dev/null 2>&1 || [[ -z $(k get "$@" -o name 2>/dev/null) ]]; }
exists() { [[ -n $(k get "$@" -o name 2>/dev/null) ]]; }
# The StatefulSet controller made the data claim from the volume claim template (it stays Pending:
# no storage here). A deleted ChatDeployment's children go with the garbage collector.
eventually "claim data-$chat-postgres-0 exists" exists pvc/data-$chat-postgres-0
k delete chat $chat --wait=false >/dev/null
eventually "ChatDeployment chat is deleted (finalizer released)" gone chat/$chat
for object in "${owned[@]}"; do
  eventually "the garbage collector removes $object" gone "$object"
done
exists pvc/data-$chat-postgres-0 || fail "Retain: the data claim was deleted"
for object in "${generated[@]}"; do
  exists "$object" || fail "Retain: $object was deleted"
done
k get events --field-selector involvedObject.name=$chat,reason=DataRetained -o name | grep -q . ||
  fail "no DataRetained event"
echo "ok: Retain: the garbage collector removed ${#owned[@]} owned objects; the claim and the Secrets stay"

# Delete, with the operator down when the resource is deleted: deletion waits for the finalizer,
# and completes (with the policy applied) once an operator runs again.
del=del
k apply -f - >/dev/null <<YAML
apiVersion: chatplane.dev/v1alpha1
kind: ChatDeployment
metadata: {name: $del, namespace: default}
spec:
  publicUrl: https://del.example.com
  database: {managed: {deletionPolicy: Delete}}
YAML
eventually "claim data-$del-postgres-0 exists" exists pvc/data-$del-postgres-0
eventually "del's generated Secrets exist" exists secret/$del-database secret/$del-auth-secret
has_finalizer() { [[ $(k get chat $del -o jsonpath='{.metadata.finalizers}') == *chatplane.dev/cleanup* ]]; }
eventually "del carries the finalizer" has_finalizer
stop_operator
k delete chat $del --wait=false >/dev/null
sleep 3
[[ -n $(k get chat $del -o jsonpath='{.metadata.deletionTimestamp}') ]] ||
  fail "del is gone without the operator: its data policy was not applied"
start_operator
eventually "ChatDeployment del is deleted once the operator is back" gone chat/$del
eventually "Delete: the data claim goes" gone pvc/data-$del-postgres-0
if ! gone secret/$del-database || ! gone secret/$del-auth-secret; then
  fail "Delete: the generated Secrets stay"
fi
eventually "the garbage collector removes del's StatefulSet" gone statefulset/$del-postgres
no_forbidden
echo "ok: Delete: the claim and the Secrets go; deleted while the operator was down, it completes when it is back"

# --- 6. helm uninstall keeps the CRD (and with it every ChatDeployment) -------------------------

stop_operator
helm uninstall chatplane -n "$release_ns" >/dev/null
eventually "helm uninstall removes the operator Deployment" gone -n "$release_ns" deployment/chatplane
gone clusterrole/chatplane || fail "helm uninstall left the ClusterRole"
exists crd/chatdeployments.chatplane.dev || fail "helm uninstall removed the CRD"
exists chat/$ext || fail "helm uninstall removed ChatDeployment ext"
no_forbidden
echo "ok: helm uninstall removes the operator and keeps the CRD and the ChatDeployments"
echo "50-cluster: all checks passed against kube-apiserver v$K8S_VERSION"

#!/usr/bin/env bash
# The test cluster's node (scripts/cluster.sh up --node, scripts/cluster-node.sh): a real kubelet
# runs pods through containerd. What a user's workload needs of a node, shown with pods of the
# node's own busybox image: Ready; a Secret volume and a passing readiness probe; a Service reached
# by its DNS name from another pod; no route out of the machine; a local-path volume a non-root pod
# writes and that outlives the pod; a NetworkPolicy that kube-router enforces.
set -euo pipefail
cd "$(dirname "$0")/../.."
export CLUSTER_NAME="${CLUSTER_NAME:-chatplane-node}" CLUSTER_NODE=1
export CLUSTER_NODE_IP="${CLUSTER_NODE_IP:-10.201.0.1}"
# shellcheck source=scripts/cluster.sh
source scripts/cluster.sh

missing=()
for pair in jq:jq openssl:openssl ip:iproute2 nsenter:util-linux curl:curl; do
  command -v "${pair%%:*}" >/dev/null || missing+=("${pair#*:}")
done
if ((${#missing[@]})); then
  echo "60-node: apt-get install ${missing[*]}"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

WAIT=${CLUSTER_TEST_WAIT:-120} # seconds for any one condition
NS=node-test

finish() {
  local rc=$?
  if ((rc)); then
    echo "--- 60-node failed; pods and last kubelet lines:" >&2
    k get pods -A -o wide >&2 2>/dev/null || true
    tail -n 30 "$CLUSTER_STATE_DIR/logs/kubelet.log" >&2 2>/dev/null || true
  fi
  cluster_down quiet
  exit "$rc"
}
trap finish EXIT

fail() {
  echo "FAIL: $*" >&2
  exit 1
}

k() { cluster_exec "$K8S_BIN_DIR/kubectl" --request-timeout=20s "$@"; }
kn() { k --namespace "$NS" "$@"; }

eventually() {
  local what=$1
  shift
  local deadline=$((SECONDS + WAIT))
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || fail "timed out after ${WAIT}s: $what"
    sleep 1
  done
}

# A command inside a pod's container (through the API server and the kubelet: logs/exec work).
in_pod() { # $1 pod, then the command
  local pod=$1
  shift
  kn exec "$pod" -- "$@"
}

started=$SECONDS
cluster_up >/dev/null
echo "cluster with a node up in $((SECONDS - started)) s"

# --- 1. the node is Ready ---------------------------------------------------------------------------

[[ $(k get node "$NODE_NAME" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}') == True ]] ||
  fail "node $NODE_NAME is not Ready"
[[ $(k get node "$NODE_NAME" -o jsonpath='{.status.nodeInfo.kubeletVersion}') == "v$K8S_VERSION" ]] ||
  fail "the kubelet does not report v$K8S_VERSION"
echo "ok: node $NODE_NAME Ready (kubelet v$K8S_VERSION)"

k create namespace "$NS" >/dev/null
eventually "ServiceAccount $NS/default" kn get serviceaccount default

# --- 2. a Secret volume, a readiness probe ---------------------------------------------------------

token=$(openssl rand -hex 16)
kn create secret generic page --from-literal=index.html="secret $token" >/dev/null
kn apply -f - >/dev/null <<EOF
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      securityContext: {runAsNonRoot: true, runAsUser: 1000}
      containers:
      - name: httpd
        image: $BUSYBOX_IMAGE
        imagePullPolicy: Never
        command: [/bin/busybox, httpd, -f, -p, "8080", -h, /www]
        ports: [{containerPort: 8080}]
        readinessProbe:
          httpGet: {path: /index.html, port: 8080}
          periodSeconds: 1
        volumeMounts: [{name: page, mountPath: /www, readOnly: true}]
      volumes:
      - name: page
        secret: {secretName: page}
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: 8080}]
EOF
eventually "Deployment web available (readiness probe passing)" \
  kn wait --for=condition=Available --timeout=2s deployment/web
echo "ok: a pod with a Secret volume runs and passes its readiness probe"

# Two client pods: 'allowed' is the one the NetworkPolicy below lets in.
for client in allowed other; do
  kn apply -f - >/dev/null <<EOF
apiVersion: v1
kind: Pod
metadata: {name: $client, labels: {access: $client}}
spec:
  terminationGracePeriodSeconds: 0
  containers:
  - name: client
    image: $BUSYBOX_IMAGE
    imagePullPolicy: Never
    command: [/bin/busybox, sleep, "3600"]
EOF
done
eventually "client pods Ready" kn wait --for=condition=Ready --timeout=2s pod/allowed pod/other

# --- 3. the Service by its DNS name, from a pod --------------------------------------------------------

fqdn=web.$NS.svc.cluster.local
service_ip=$(kn get service web -o jsonpath='{.spec.clusterIP}')
resolved=$(in_pod allowed /bin/busybox nslookup "$fqdn" "$CLUSTER_DNS_IP" | awk '/^Address/ { a = $NF } END { print a }')
[[ $resolved == "$service_ip" ]] || fail "$fqdn resolved to '$resolved', not the Service's $service_ip"
# GET /index.html from a client pod: the body (the last line), or the failure. With busybox's nc:
# Debian's static busybox wget crashes.
fetch() { # $1 client pod, $2 host, $3 port
  local out
  out=$(in_pod "$1" /bin/busybox sh -c \
    "printf 'GET /index.html HTTP/1.0\\r\\n\\r\\n' | /bin/busybox nc -w 3 $2 $3" 2>&1) || {
    echo "$out"
    return 1
  }
  [[ $out == *$'\n'* ]] || { echo "no HTTP answer: $out"; return 1; }
  echo "${out##*$'\n'}"
}
page=$(fetch allowed "$fqdn" 80) || fail "GET http://$fqdn from a pod failed: $page"
[[ $page == "secret $token" ]] || fail "the Service answered '$page', not the Secret's content"
echo "ok: the Service answers by its DNS name from a pod ($fqdn -> $service_ip)"

# --- 4. nothing outside the machine is reachable from a pod ------------------------------------------

for address in 1.1.1.1 192.0.2.1; do
  if out=$(fetch allowed "$address" 80); then
    fail "a pod reached $address: $out"
  fi
done
echo "ok: addresses outside the machine are unreachable from a pod"

# --- 5. a local-path volume: written by a non-root pod, kept across pods ----------------------------

[[ $(k get storageclass -o jsonpath='{.items[?(@.metadata.annotations.storageclass\.kubernetes\.io/is-default-class=="true")].metadata.name}') == local-path ]] ||
  fail "local-path is not the default StorageClass"
data_pod() { # $1 pod name, $2 shell command
  kn apply -f - >/dev/null <<EOF
apiVersion: v1
kind: Pod
metadata: {name: $1}
spec:
  restartPolicy: Never
  securityContext: {runAsNonRoot: true, runAsUser: 1000, runAsGroup: 1000}
  containers:
  - name: data
    image: $BUSYBOX_IMAGE
    imagePullPolicy: Never
    command: [/bin/sh, -c, "$2"]
    volumeMounts: [{name: data, mountPath: /data}]
  volumes:
  - name: data
    persistentVolumeClaim: {claimName: data}
EOF
  eventually "pod $1 Succeeded" pod_succeeded "$1"
}
pod_succeeded() { [[ $(kn get pod "$1" -o jsonpath='{.status.phase}') == Succeeded ]]; }
kn apply -f - >/dev/null <<EOF
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: data}
spec:
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: 64Mi}}
EOF
data_pod writer "echo $token > /data/kept && cat /data/kept"
[[ $(kn get pvc data -o jsonpath='{.status.phase}') == Bound ]] || fail "claim data is not Bound"
kn delete pod writer --wait=true >/dev/null
data_pod reader "cat /data/kept"
[[ $(kn logs reader) == "$token" ]] || fail "the second pod read '$(kn logs reader)', not what the first wrote"
echo "ok: a local-path claim is writable by uid 1000 and its data outlives the pod"

# --- 6. a NetworkPolicy, enforced by kube-router -----------------------------------------------------

kn apply -f - >/dev/null <<EOF
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web-from-allowed}
spec:
  podSelector: {matchLabels: {app: web}}
  policyTypes: [Ingress]
  ingress:
  - from: [{podSelector: {matchLabels: {access: allowed}}}]
    ports: [{port: 8080}]
EOF
refused() { ! fetch other "$fqdn" 80 >/dev/null; }
eventually "the pod outside the policy is refused" refused
page=$(fetch allowed "$fqdn" 80) || fail "the allowed pod was refused: $page"
[[ $page == "secret $token" ]] || fail "the allowed pod got '$page'"
refused || fail "the pod outside the policy got in"
echo "ok: with the NetworkPolicy, the allowed pod connects and the other is refused"
kn delete networkpolicy web-from-allowed >/dev/null
eventually "the other pod is let in once the policy is gone" fetch other "$fqdn" 80
fetch allowed "$fqdn" 80 >/dev/null || fail "the allowed pod lost access"
echo "ok: without it, both connect"

k delete namespace "$NS" --wait=false >/dev/null
echo "60-node: all node checks passed"

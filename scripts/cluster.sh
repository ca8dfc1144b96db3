#!/usr/bin/env bash
# A real, upstream Kubernetes control plane (etcd, kube-apiserver, kube-controller-manager,
# kube-scheduler; see scripts/cluster-bins.sh for the pinned versions) inside a network namespace
# of its own, which has no route out of the machine. Used by scripts/test.d/50-cluster.sh and by
# hand (`make cluster`):
#
#   scripts/cluster.sh up          start it (builds the binaries on first use), print the kubeconfig
#   scripts/cluster.sh up --node   the same plus a node (also CLUSTER_NODE=1; scripts/cluster-node.sh):
#                                  kubelet, containerd, CNI, kube-proxy, CoreDNS, local-path storage,
#                                  kube-router's NetworkPolicy firewall. Without it pods stay Pending.
#   scripts/cluster.sh down        stop every process by PID, remove the namespace and the state dir
#   scripts/cluster.sh status      processes and the API server's /readyz
#   scripts/cluster.sh restart-apiserver  stop kube-apiserver by PID, start it with the same flags
#   scripts/cluster.sh kubectl …   kubectl inside the namespace with the admin kubeconfig
#   scripts/cluster.sh exec CMD …  any command inside the namespace, KUBECONFIG set
#
# The API server is reachable only inside the namespace, at https://$CLUSTER_NODE_IP:6443, so
# nothing here can touch (or be touched by) another cluster or a port on the host.
# Knobs: CLUSTER_NAME (namespace name, default chatplane), CLUSTER_STATE_DIR, CLUSTER_NODE_IP.
set -euo pipefail

_cluster_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=scripts/cluster-bins.sh
source "$_cluster_dir/cluster-bins.sh"

CLUSTER_NAME="${CLUSTER_NAME:-chatplane}"
CLUSTER_STATE_DIR="${CLUSTER_STATE_DIR:-${TMPDIR:-/tmp}/chatplane-cluster-$CLUSTER_NAME}"
CLUSTER_NODE_IP="${CLUSTER_NODE_IP:-10.200.0.1}"
CLUSTER_SERVICE_CIDR="${CLUSTER_SERVICE_CIDR:-10.96.0.0/16}"
CLUSTER_SERVICE_IP=10.96.0.1 # the first address of CLUSTER_SERVICE_CIDR: Service kubernetes
NETNS_PATH="/var/run/netns/$CLUSTER_NAME"
KUBECONFIG_PATH="$CLUSTER_STATE_DIR/admin.kubeconfig"
COMPONENTS=(etcd kube-apiserver kube-controller-manager kube-scheduler)
WAIT_SECONDS="${CLUSTER_WAIT_SECONDS:-60}"
CLUSTER_NODE="${CLUSTER_NODE:-0}"

in_netns() { nsenter --net="$NETNS_PATH" "$@"; }

log() { echo "cluster: $*" >&2; }

# shellcheck source=scripts/cluster-node.sh
source "$_cluster_dir/cluster-node.sh"

# --- certificates -------------------------------------------------------------------------------

# A key pair and a certificate signed by the cluster CA. $1 file stem, $2 subject, $3 SANs or "".
issue_cert() {
  local stem=$1 subject=$2 sans=$3 pki=$CLUSTER_STATE_DIR/pki
  openssl ecparam -name prime256v1 -genkey -noout -out "$pki/$stem.key" 2>/dev/null
  openssl req -new -key "$pki/$stem.key" -subj "$subject" -out "$pki/$stem.csr" 2>/dev/null
  local ext=$pki/$stem.ext
  {
    echo "basicConstraints=CA:FALSE"
    echo "keyUsage=critical,digitalSignature,keyEncipherment"
    if [[ -n $sans ]]; then
      echo "extendedKeyUsage=serverAuth,clientAuth"
      echo "subjectAltName=$sans"
    else
      echo "extendedKeyUsage=clientAuth"
    fi
  } >"$ext"
  openssl x509 -req -in "$pki/$stem.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" -CAcreateserial \
    -days 30 -sha256 -extfile "$ext" -out "$pki/$stem.crt" 2>/dev/null
  rm -f "$pki/$stem.csr" "$ext"
}

make_pki() {
  local pki=$CLUSTER_STATE_DIR/pki
  mkdir -p "$pki"
  openssl ecparam -name prime256v1 -genkey -noout -out "$pki/ca.key" 2>/dev/null
  openssl req -x509 -new -key "$pki/ca.key" -subj "/CN=chatplane-test-ca" -days 30 -sha256 \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -out "$pki/ca.crt" 2>/dev/null
  issue_cert apiserver "/CN=kube-apiserver" \
    "IP:$CLUSTER_NODE_IP,IP:$CLUSTER_SERVICE_IP,IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
  # system:masters is the admin group bound to cluster-admin; the two controllers' user names
  # are the ones the bootstrap RBAC policy grants their roles to.
  issue_cert admin "/O=system:masters/CN=chatplane-admin" ""
  issue_cert controller-manager "/CN=system:kube-controller-manager" ""
  issue_cert scheduler "/CN=system:kube-scheduler" ""
  # The API server's client certificate for kubelets (used once a node joins).
  issue_cert apiserver-kubelet-client "/O=kubeadm:cluster-admins/CN=kube-apiserver-kubelet-client" ""
  # Service-account tokens: signed by the controller manager and TokenRequest, checked by the server.
  openssl ecparam -name prime256v1 -genkey -noout -out "$pki/sa.key" 2>/dev/null
  openssl ec -in "$pki/sa.key" -pubout -out "$pki/sa.pub" 2>/dev/null
}

write_kubeconfig() { # $1 file, $2 cert stem
  local file=$1 stem=$2 pki=$CLUSTER_STATE_DIR/pki
  cat >"$file" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: $CLUSTER_NAME
  cluster:
    server: https://$CLUSTER_NODE_IP:6443
    certificate-authority-data: $(base64 -w0 <"$pki/ca.crt")
users:
- name: $stem
  user:
    client-certificate-data: $(base64 -w0 <"$pki/$stem.crt")
    client-key-data: $(base64 -w0 <"$pki/$stem.key")
contexts:
- name: $CLUSTER_NAME
  context: {cluster: $CLUSTER_NAME, user: $stem}
current-context: $CLUSTER_NAME
EOF
  chmod 600 "$file"
}

# --- processes ----------------------------------------------------------------------------------

# Starts "$@" inside the namespace in the background, directly (so $! is the process itself: nsenter
# execs the command), with its log in the state dir, and records its PID.
start() {
  local name=$1
  shift
  # Not through in_netns: a backgrounded function is a subshell, and $! would be the subshell's.
  nsenter --net="$NETNS_PATH" "$@" </dev/null >"$CLUSTER_STATE_DIR/logs/$name.log" 2>&1 &
  echo $! >"$CLUSTER_STATE_DIR/pids/$name"
}

alive() { # $1 component
  local pidfile=$CLUSTER_STATE_DIR/pids/$1
  [[ -f $pidfile ]] && kill -0 "$(cat "$pidfile")" 2>/dev/null
}

# Polls "$@" once a second until it succeeds, at most WAIT_SECONDS; fails early if $1's process died.
wait_for() {
  local component=$1 what=$2
  shift 2
  local deadline=$((SECONDS + WAIT_SECONDS))
  until "$@" >/dev/null 2>&1; do
    if ! alive "$component"; then
      log "$component exited while waiting for $what; last log lines:"
      tail -n 30 "$CLUSTER_STATE_DIR/logs/$component.log" >&2 || true
      return 1
    fi
    if ((SECONDS >= deadline)); then
      log "timed out after ${WAIT_SECONDS}s waiting for $what; last $component log lines:"
      tail -n 30 "$CLUSTER_STATE_DIR/logs/$component.log" >&2 || true
      return 1
    fi
    sleep 1
  done
}

healthy() { # $1 URL inside the namespace, anonymous (healthz/readyz are public)
  in_netns curl -fsS --max-time 2 --cacert "$CLUSTER_STATE_DIR/pki/ca.crt" "$1"
}

healthy_insecure() { # the controllers' serving certificates are self-signed
  in_netns curl -fsSk --max-time 2 "$1"
}

default_service_account() {
  in_netns "$K8S_BIN_DIR/kubectl" --kubeconfig "$KUBECONFIG_PATH" --request-timeout=2s \
    get serviceaccount default --namespace default
}

# The API server, with the flags `up` and `restart-apiserver` share.
start_apiserver() {
  local bin=$K8S_BIN_DIR pki=$CLUSTER_STATE_DIR/pki
  start kube-apiserver "$bin/kube-apiserver" \
    --etcd-servers=http://127.0.0.1:2379 \
    --bind-address=0.0.0.0 --secure-port=6443 --advertise-address="$CLUSTER_NODE_IP" \
    --tls-cert-file="$pki/apiserver.crt" --tls-private-key-file="$pki/apiserver.key" \
    --client-ca-file="$pki/ca.crt" \
    --authorization-mode=Node,RBAC --enable-admission-plugins=NodeRestriction \
    --service-account-issuer=https://kubernetes.default.svc.cluster.local \
    --service-account-key-file="$pki/sa.pub" --service-account-signing-key-file="$pki/sa.key" \
    --api-audiences=https://kubernetes.default.svc.cluster.local \
    --service-cluster-ip-range="$CLUSTER_SERVICE_CIDR" \
    --kubelet-client-certificate="$pki/apiserver-kubelet-client.crt" \
    --kubelet-client-key="$pki/apiserver-kubelet-client.key" \
    --kubelet-certificate-authority="$pki/ca.crt" \
    --kubelet-preferred-address-types=InternalIP \
    --allow-privileged=true --profiling=false
  wait_for kube-apiserver "kube-apiserver /readyz" healthy "https://$CLUSTER_NODE_IP:6443/readyz"
}

cluster_up() {
  if alive kube-apiserver; then
    log "already up"
    echo "$KUBECONFIG_PATH"
    return 0
  fi
  [[ $EUID -eq 0 ]] || { log "needs root (ip netns, nsenter)"; return 1; }
  cluster_bins
  cluster_down quiet
  local started=$SECONDS bin=$K8S_BIN_DIR pki=$CLUSTER_STATE_DIR/pki
  mkdir -p "$CLUSTER_STATE_DIR"/{logs,pids,etcd}
  chmod 700 "$CLUSTER_STATE_DIR"

  ip netns add "$CLUSTER_NAME"
  ip -n "$CLUSTER_NAME" link set lo up
  # The node address the API server advertises (an endpoint of Service kubernetes): a real,
  # non-loopback address, on the namespace's own loopback device.
  ip -n "$CLUSTER_NAME" addr add "$CLUSTER_NODE_IP/32" dev lo

  make_pki
  write_kubeconfig "$KUBECONFIG_PATH" admin
  write_kubeconfig "$CLUSTER_STATE_DIR/controller-manager.kubeconfig" controller-manager
  write_kubeconfig "$CLUSTER_STATE_DIR/scheduler.kubeconfig" scheduler

  # A test store: no fsync, so writes cost memory, not disk flushes.
  start etcd "$bin/etcd" --name=chatplane --data-dir="$CLUSTER_STATE_DIR/etcd" \
    --listen-client-urls=http://127.0.0.1:2379 --advertise-client-urls=http://127.0.0.1:2379 \
    --listen-peer-urls=http://127.0.0.1:2380 --initial-advertise-peer-urls=http://127.0.0.1:2380 \
    --initial-cluster=chatplane=http://127.0.0.1:2380 --listen-metrics-urls=http://127.0.0.1:2381 \
    --unsafe-no-fsync --log-level=warn
  wait_for etcd "etcd health" in_netns curl -fsS --max-time 2 http://127.0.0.1:2381/health

  start_apiserver

  start kube-controller-manager "$bin/kube-controller-manager" \
    --kubeconfig="$CLUSTER_STATE_DIR/controller-manager.kubeconfig" \
    --authentication-kubeconfig="$CLUSTER_STATE_DIR/controller-manager.kubeconfig" \
    --authorization-kubeconfig="$CLUSTER_STATE_DIR/controller-manager.kubeconfig" \
    --bind-address=127.0.0.1 --secure-port=10257 --leader-elect=false \
    --use-service-account-credentials=true \
    --service-account-private-key-file="$pki/sa.key" --root-ca-file="$pki/ca.crt" \
    --cluster-signing-cert-file="$pki/ca.crt" --cluster-signing-key-file="$pki/ca.key" \
    --service-cluster-ip-range="$CLUSTER_SERVICE_CIDR" --profiling=false
  start kube-scheduler "$bin/kube-scheduler" \
    --kubeconfig="$CLUSTER_STATE_DIR/scheduler.kubeconfig" \
    --authentication-kubeconfig="$CLUSTER_STATE_DIR/scheduler.kubeconfig" \
    --authorization-kubeconfig="$CLUSTER_STATE_DIR/scheduler.kubeconfig" \
    --bind-address=127.0.0.1 --secure-port=10259 --leader-elect=false --profiling=false
  wait_for kube-controller-manager "kube-controller-manager /healthz" \
    healthy_insecure https://127.0.0.1:10257/healthz
  wait_for kube-scheduler "kube-scheduler /healthz" healthy_insecure https://127.0.0.1:10259/healthz
  # The service-account controller is running once it has made the default namespace's account.
  wait_for kube-controller-manager "ServiceAccount default/default" default_service_account
  if [[ $CLUSTER_NODE == 1 ]]; then
    node_up
  fi
  log "up in $((SECONDS - started)) s: Kubernetes v$K8S_VERSION in network namespace $CLUSTER_NAME," \
    "API https://$CLUSTER_NODE_IP:6443; kubeconfig:"
  echo "$KUBECONFIG_PATH"
}

# Stops a process by its PID: TERM, then KILL after 10 s (the node's processes too).
stop_pid() { # $1 name, $2 pid: TERM, then KILL after 10 s
  local name=$1 pid=$2
  kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for _ in {1..100}; do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.1
  done
  log "$name (pid $pid) ignored TERM for 10 s; killing it"
  kill -KILL "$pid" 2>/dev/null || true
}

stop_component() { # $1 component
  local pidfile=$CLUSTER_STATE_DIR/pids/$1
  [[ -f $pidfile ]] || return 0
  stop_pid "$1" "$(cat "$pidfile")"
  rm -f "$pidfile"
}

# Stops the API server by its PID and starts it again with the same flags and state (etcd keeps
# running): what clients see during a control-plane upgrade or a crash of the server.
cluster_restart_apiserver() {
  alive kube-apiserver || { log "kube-apiserver is not running"; return 1; }
  mv "$CLUSTER_STATE_DIR/logs/kube-apiserver.log" "$CLUSTER_STATE_DIR/logs/kube-apiserver.$(date +%s).log"
  stop_component kube-apiserver
  start_apiserver
  log "kube-apiserver restarted (pid $(cat "$CLUSTER_STATE_DIR/pids/kube-apiserver"))"
}

# Stops every component by its PID (TERM, then KILL after 10 s), then removes the namespace and
# the state dir. Safe to run when nothing is up.
cluster_down() {
  local quiet=${1:-} i
  node_down
  for ((i = ${#COMPONENTS[@]} - 1; i >= 0; i--)); do
    stop_component "${COMPONENTS[i]}"
  done
  if [[ -e $NETNS_PATH ]]; then
    ip netns delete "$CLUSTER_NAME"
  fi
  if [[ -d $CLUSTER_STATE_DIR ]]; then
    rm -rf "$CLUSTER_STATE_DIR"
  fi
  [[ -n $quiet ]] || log "down: processes stopped, namespace $CLUSTER_NAME and $CLUSTER_STATE_DIR removed"
}

cluster_status() {
  local component rc=0
  for component in "${COMPONENTS[@]}"; do
    if alive "$component"; then
      echo "$component: running (pid $(cat "$CLUSTER_STATE_DIR/pids/$component"))"
    else
      echo "$component: not running"
      rc=1
    fi
  done
  if [[ -e $NETNS_PATH ]] && healthy "https://$CLUSTER_NODE_IP:6443/readyz" >/dev/null 2>&1; then
    echo "kube-apiserver /readyz: ok (https://$CLUSTER_NODE_IP:6443, namespace $CLUSTER_NAME)"
    echo "kubeconfig: $KUBECONFIG_PATH"
  else
    echo "kube-apiserver /readyz: not ready"
    rc=1
  fi
  if [[ $CLUSTER_NODE == 1 || -f $CLUSTER_STATE_DIR/pids/kubelet ]]; then
    node_status || rc=1
  fi
  return "$rc"
}

cluster_exec() {
  KUBECONFIG="$KUBECONFIG_PATH" PATH="$K8S_BIN_DIR:$PATH" in_netns "$@"
}

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
  case "${1:-}" in
  up)
    # A failed start leaves nothing behind (wait_for has printed the failing component's log).
    trap 'rc=$?; if ((rc)); then cluster_down quiet; fi' EXIT
    [[ ${2:-} != --node ]] || CLUSTER_NODE=1
    cluster_up
    ;;
  down) cluster_down ;;
  restart-apiserver) cluster_restart_apiserver ;;
  status) cluster_status ;;
  kubectl)
    shift
    cluster_exec "$K8S_BIN_DIR/kubectl" "$@"
    ;;
  exec)
    shift
    cluster_exec "$@"
    ;;
  *)
    echo "usage: $0 up [--node]|down|status|restart-apiserver|kubectl ARGS|exec CMD ARGS" >&2
    exit 2
    ;;
  esac
fi

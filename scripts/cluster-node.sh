#!/usr/bin/env bash
# The test cluster's node (sourced by scripts/cluster.sh; started by `cluster.sh up --node` or
# CLUSTER_NODE=1): a private containerd (its CRI plugin) and kubelet, the bridge CNI plugin with
# host-local IPAM, kube-proxy (iptables), kube-router's NetworkPolicy firewall, CoreDNS as a
# Deployment and rancher's local-path-provisioner as the default StorageClass.
#
# Everything runs inside the cluster's network namespace (nsenter --net, the machine's mount
# namespace shared, so kubelet's volume mounts are visible to the containers), so the bridge, the
# pods' veths and every iptables rule kube-proxy and kube-router write live and die with that
# namespace; configuration, roots, state, sockets, pod volumes, CNI data and cgroups are private to
# this cluster (named after CLUSTER_NAME). The machine's own containerd, /var/lib/kubelet and
# iptables are never touched. Images are local (imagePullPolicy Never/IfNotPresent): the namespace
# has no route out, so a pull fails at once.
#
# Facts of this VM the configuration answers (issue 11): cgroup v1 (cgroupfs, failCgroupV1 false);
# no CAP_SYS_RESOURCE (containerd's restrict_oom_score_adj, or runc fails to start a sandbox).

# The node's name is the cluster's; its cgroups, bridge, pod range and CNI network derive from it,
# so two clusters on one machine never share one.
_node_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
NODE_NAME=$CLUSTER_NAME
NODE_DIR=$CLUSTER_STATE_DIR/node
_node_hash=$(printf %s "$CLUSTER_NAME" | cksum | cut -d' ' -f1)
CLUSTER_POD_CIDR="${CLUSTER_POD_CIDR:-10.244.$((_node_hash % 256)).0/24}"
NODE_POD_GATEWAY="${CLUSTER_POD_CIDR%.*}.1"
NODE_BRIDGE="cb-${_node_hash:0:12}" # at most 15 characters (IFNAMSIZ)
NODE_CNI_NETWORK="chatplane-$CLUSTER_NAME"
NODE_CGROUP="chatplane-$CLUSTER_NAME"
CLUSTER_DNS_IP=10.96.0.10
CONTAINERD_SOCK=$NODE_DIR/containerd/containerd.sock
NODE_COMPONENTS=(containerd kubelet kube-proxy kube-router local-path-provisioner)
# The cgroup v1 controllers kubelet uses (this VM mounts each at /sys/fs/cgroup/<name>).
NODE_CGROUP_CONTROLLERS=(cpu cpuacct cpuset memory pids blkio devices freezer systemd)
PAUSE_IMAGE=$(bash "$_node_dir/images.sh" ref pause)
BUSYBOX_IMAGE=$(bash "$_node_dir/images.sh" ref busybox)
COREDNS_IMAGE=$(bash "$_node_dir/images.sh" ref coredns)

ctr_node() { timeout 60 ctr --address "$CONTAINERD_SOCK" --namespace k8s.io "$@"; }

kubectl_admin() {
  in_netns "$K8S_BIN_DIR/kubectl" --kubeconfig "$KUBECONFIG_PATH" --request-timeout=20s "$@"
}

# --- images -------------------------------------------------------------------------------------

# The node's own images (scripts/images.sh): the pod sandbox, CoreDNS and the storage helper.
NODE_IMAGES=(pause coredns busybox)

node_images() {
  bash "$_node_dir/images.sh" build "${NODE_IMAGES[@]}" >/dev/null 2>"$CLUSTER_STATE_DIR/logs/images.log" || {
    cat "$CLUSTER_STATE_DIR/logs/images.log" >&2
    return 1
  }
  IMAGES_SNAPSHOTTER=overlayfs bash "$_node_dir/images.sh" import "$CONTAINERD_SOCK" "${NODE_IMAGES[@]}" \
    >>"$CLUSTER_STATE_DIR/logs/images.log" 2>&1
}

# --- configuration ------------------------------------------------------------------------------

node_pki() {
  issue_cert kubelet-client "/O=system:nodes/CN=system:node:$NODE_NAME" ""
  issue_cert kubelet-serving "/CN=system:node:$NODE_NAME" "IP:$CLUSTER_NODE_IP,DNS:$NODE_NAME"
  # The user name the bootstrap RBAC policy grants system:node-proxier to.
  issue_cert kube-proxy "/CN=system:kube-proxy" ""
}

node_write_config() {
  local d=$NODE_DIR pki=$CLUSTER_STATE_DIR/pki
  mkdir -p "$d"/{containerd/root,containerd/state,containerd/opt,runc,cni/net.d,cni/ipam,kubelet,pod-logs,local-path}
  cat >"$d/containerd/config.toml" <<EOF
version = 2
root = "$d/containerd/root"
state = "$d/containerd/state"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]
[grpc]
  address = "$CONTAINERD_SOCK"
[ttrpc]
  address = "$CONTAINERD_SOCK.ttrpc"
[plugins."io.containerd.internal.v1.opt"]
  path = "$d/containerd/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$PAUSE_IMAGE"
  # This VM withholds CAP_SYS_RESOURCE: without this, kubelet's oom_score_adj -998 for sandboxes
  # makes runc fail ("can't get final child's PID from pipe: EOF").
  restrict_oom_score_adj = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  # The sandboxes' network namespaces under the state dir, not the machine's /var/run/netns.
  netns_mounts_under_state_dir = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = "$d/runc"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$d/cni/net.d"
    max_conf_num = 1
EOF
  cat >"$d/cni/net.d/10-$NODE_CNI_NETWORK.conflist" <<EOF
{
  "cniVersion": "0.4.0",
  "name": "$NODE_CNI_NETWORK",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "$NODE_BRIDGE",
      "isGateway": true,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "dataDir": "$d/cni/ipam",
        "ranges": [[{"subnet": "$CLUSTER_POD_CIDR", "gateway": "$NODE_POD_GATEWAY"}]],
        "routes": [{"dst": "0.0.0.0/0"}]
      }
    }
  ]
}
EOF
  # Pods get no search domains or servers of the machine's.
  : >"$d/resolv.conf"
  write_kubeconfig "$d/kubelet.kubeconfig" kubelet-client
  write_kubeconfig "$d/kube-proxy.kubeconfig" kube-proxy
  cat >"$d/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
# This VM's cgroups are v1.
cgroupDriver: cgroupfs
failCgroupV1: false
cgroupRoot: /$NODE_CGROUP
containerRuntimeEndpoint: unix://$CONTAINERD_SOCK
address: $CLUSTER_NODE_IP
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
tlsCertFile: $pki/kubelet-serving.crt
tlsPrivateKeyFile: $pki/kubelet-serving.key
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $pki/ca.crt}
authorization: {mode: Webhook}
clusterDNS: [$CLUSTER_DNS_IP]
clusterDomain: cluster.local
resolvConf: $d/resolv.conf
podLogsDir: $d/pod-logs
failSwapOn: false
rotateCertificates: false
serverTLSBootstrap: false
# The disk is the machine's, shared with everything else: never evict a test pod for it.
evictionHard: {memory.available: "50Mi", nodefs.available: "1%", imagefs.available: "1%", nodefs.inodesFree: "1%"}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
EOF
}

# --- start --------------------------------------------------------------------------------------

kubelet_healthy() { in_netns curl -fsS --max-time 2 http://127.0.0.1:10248/healthz; }

node_ready() {
  [[ $(kubectl_admin get node "$NODE_NAME" \
    -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null) == True ]]
}

# A kubeconfig with a token of a ServiceAccount (for the node's processes that are no pods).
sa_kubeconfig() { # $1 file, $2 namespace, $3 account
  local token
  token=$(kubectl_admin create token "$3" --namespace "$2" --duration=24h)
  cat >"$1" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: $CLUSTER_NAME
  cluster:
    server: https://$CLUSTER_NODE_IP:6443
    certificate-authority-data: $(base64 -w0 <"$CLUSTER_STATE_DIR/pki/ca.crt")
users:
- name: $3
  user: {token: $token}
contexts:
- name: $CLUSTER_NAME
  context: {cluster: $CLUSTER_NAME, user: $3}
current-context: $CLUSTER_NAME
EOF
  chmod 600 "$1"
}

node_up() {
  local started=$SECONDS d=$NODE_DIR controller
  cluster_node_bins
  mkdir -p "$d"
  node_pki
  node_write_config

  # The pods' gateway is the bridge, made here so the Service range can be routed through it
  # before the first pod exists: the namespace has no default route, and without one the node
  # itself could not reach a ClusterIP.
  ip -n "$CLUSTER_NAME" link add "$NODE_BRIDGE" type bridge
  ip -n "$CLUSTER_NAME" addr add "$NODE_POD_GATEWAY/${CLUSTER_POD_CIDR#*/}" dev "$NODE_BRIDGE"
  ip -n "$CLUSTER_NAME" link set "$NODE_BRIDGE" up
  ip -n "$CLUSTER_NAME" route add "$CLUSTER_SERVICE_CIDR" dev "$NODE_BRIDGE" src "$CLUSTER_NODE_IP"
  in_netns sysctl -qw net.ipv4.ip_forward=1 net.bridge.bridge-nf-call-iptables=1
  for controller in "${NODE_CGROUP_CONTROLLERS[@]}"; do
    [[ -d /sys/fs/cgroup/$controller ]] && mkdir -p "/sys/fs/cgroup/$controller/$NODE_CGROUP"
  done

  start containerd containerd --config "$d/containerd/config.toml"
  wait_for containerd "containerd" ctr_node version
  node_images

  # kubectl logs/exec: the API server's kubelet client (a user of no bootstrap binding).
  kubectl_admin create clusterrolebinding chatplane-apiserver-kubelet \
    --clusterrole=system:kubelet-api-admin --user=kube-apiserver-kubelet-client >/dev/null
  start kubelet "$K8S_BIN_DIR/kubelet" --config="$d/kubelet.yaml" \
    --kubeconfig="$d/kubelet.kubeconfig" --root-dir="$d/kubelet" \
    --hostname-override="$NODE_NAME" --node-ip="$CLUSTER_NODE_IP"
  start kube-proxy "$K8S_BIN_DIR/kube-proxy" --kubeconfig="$d/kube-proxy.kubeconfig" \
    --hostname-override="$NODE_NAME" --proxy-mode=iptables --cluster-cidr="$CLUSTER_POD_CIDR" \
    --conntrack-max-per-core=0 --metrics-bind-address=127.0.0.1:10249 \
    --healthz-bind-address=127.0.0.1:10256
  wait_for kubelet "kubelet /healthz" kubelet_healthy
  wait_for kubelet "node $NODE_NAME Ready" node_ready

  node_addons
  log "node $NODE_NAME Ready, DNS and storage running in $((SECONDS - started)) s" \
    "(pods $CLUSTER_POD_CIDR on $NODE_BRIDGE)"
}

# CoreDNS (a Deployment), the local-path StorageClass and its provisioner, kube-router's firewall.
node_addons() {
  local d=$NODE_DIR
  local manifest
  for manifest in "$_node_dir/cluster-node/"*.yaml; do
    echo ---
    sed -e "s|@DNS_IP@|$CLUSTER_DNS_IP|g" -e "s|@COREDNS_IMAGE@|$COREDNS_IMAGE|g" \
      -e "s|@LOCAL_PATH_DIR@|$d/local-path|g" -e "s|@BUSYBOX_IMAGE@|$BUSYBOX_IMAGE|g" "$manifest"
  done | kubectl_admin apply -f - >/dev/null

  sa_kubeconfig "$d/kube-router.kubeconfig" kube-system kube-router
  start kube-router "$(node_bin kube-router)" --kubeconfig="$d/kube-router.kubeconfig" \
    --hostname-override="$NODE_NAME" --run-firewall=true --run-router=false \
    --run-service-proxy=false --enable-cni=false --service-cluster-ip-range="$CLUSTER_SERVICE_CIDR" \
    --metrics-port=0 --health-port=20244
  wait_for kube-router "kube-router /healthz" \
    in_netns curl -fsS --max-time 2 http://127.0.0.1:20244/healthz

  sa_kubeconfig "$d/local-path.kubeconfig" local-path-storage local-path-provisioner-service-account
  kubectl_admin get configmap local-path-config -n local-path-storage \
    -o 'jsonpath={.data.config\.json}' >"$d/local-path-config.json"
  kubectl_admin get configmap local-path-config -n local-path-storage \
    -o 'jsonpath={.data.helperPod\.yaml}' >"$d/local-path-helper-pod.yaml"
  start local-path-provisioner "$(node_bin local-path-provisioner)" start \
    --kubeconfig "$d/local-path.kubeconfig" --namespace local-path-storage \
    --config "$d/local-path-config.json" --helper-pod-file "$d/local-path-helper-pod.yaml" \
    --service-account-name local-path-provisioner-service-account --helper-image "$BUSYBOX_IMAGE"
  wait_for kubelet "CoreDNS available" kubectl_admin wait --for=condition=Available \
    --timeout=2s deployment/coredns -n kube-system
}

# --- stop ---------------------------------------------------------------------------------------

# Every process in this node's cgroups (the pods' containers), by PID.
node_cgroup_pids() {
  local controller
  for controller in pids memory; do
    [[ -d /sys/fs/cgroup/$controller/$NODE_CGROUP ]] || continue
    find "/sys/fs/cgroup/$controller/$NODE_CGROUP" -name cgroup.procs -exec cat {} + 2>/dev/null
  done | sort -un
}

# containerd's shims outlive it by design: the ones serving this node's containerd, by PID.
node_shim_pids() {
  local f
  for f in /proc/[0-9]*/cmdline; do
    tr '\0' ' ' 2>/dev/null <"$f" | grep -q -- "-address $CONTAINERD_SOCK " || continue
    f=${f#/proc/}
    echo "${f%/cmdline}"
  done
}

# Stops the node: its processes by PID, then the containers (killed through containerd, then any
# process left in the node's cgroups), containerd and its shims, then every mount under the state
# dir (pod volumes, container root filesystems, sandbox network namespaces), the cgroups and
# kubelet's log links. The bridge, veths and iptables rules go with the network namespace.
node_down() {
  local component pid id controller
  for component in local-path-provisioner kube-router kube-proxy kubelet; do
    stop_component "$component"
  done
  if alive containerd; then
    for id in $(ctr_node tasks ls -q 2>/dev/null); do
      ctr_node tasks kill --signal SIGKILL "$id" >/dev/null 2>&1 || true
    done
    for id in $(ctr_node tasks ls -q 2>/dev/null); do
      for _ in {1..50}; do
        ctr_node tasks delete "$id" >/dev/null 2>&1 && break
        sleep 0.1
      done
    done
  fi
  for pid in $(node_cgroup_pids); do
    kill -KILL "$pid" 2>/dev/null || true
  done
  stop_component containerd
  for pid in $(node_shim_pids); do
    stop_pid containerd-shim "$pid"
  done
  if [[ -d $CLUSTER_STATE_DIR ]]; then
    local mounts
    mounts=$(findmnt -rn -o TARGET | grep -F "$CLUSTER_STATE_DIR/" | sort -r || true)
    for id in $mounts; do
      umount "$id" 2>/dev/null || umount -l "$id" 2>/dev/null || log "cannot unmount $id"
    done
  fi
  for controller in "${NODE_CGROUP_CONTROLLERS[@]}"; do
    [[ -d /sys/fs/cgroup/$controller/$NODE_CGROUP ]] || continue
    find "/sys/fs/cgroup/$controller/$NODE_CGROUP" -depth -type d -exec rmdir {} + 2>/dev/null ||
      log "cannot remove cgroup $controller/$NODE_CGROUP"
  done
  # kubelet links each container's log into the machine's /var/log/containers (a fixed path).
  if [[ -d /var/log/containers ]]; then
    find /var/log/containers -maxdepth 1 -lname "$NODE_DIR/*" -delete 2>/dev/null || true
  fi
}

node_status() {
  local component rc=0
  for component in "${NODE_COMPONENTS[@]}"; do
    if alive "$component"; then
      echo "$component: running (pid $(cat "$CLUSTER_STATE_DIR/pids/$component"))"
    else
      echo "$component: not running"
      rc=1
    fi
  done
  if node_ready; then echo "node $NODE_NAME: Ready"; else echo "node $NODE_NAME: not Ready"; rc=1; fi
  return "$rc"
}

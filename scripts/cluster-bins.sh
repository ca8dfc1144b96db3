#!/usr/bin/env bash
# Builds the test control plane's binaries from the Go modules pinned in test/cluster (upstream
# kube-apiserver, kube-controller-manager, kube-scheduler, kubectl; etcd) and helm, each once per
# version into ~/.cache/chatplane, and prints nothing but progress. Sourced by scripts/cluster.sh
# (`cluster_bins`), or run on its own to warm the cache: `bash scripts/cluster-bins.sh [--node]`.
#
# The node (`cluster_node_bins`, only when a cluster starts one): kubelet and kube-proxy from the
# same k8s.io/kubernetes module, CoreDNS, rancher's local-path-provisioner and kube-router (its
# firewall only), each pinned in a module of its own under test/cluster; containerd, runc, the CNI
# plugins, ipset, iptables and conntrack from Debian's packages.
set -euo pipefail

K8S_VERSION=1.35.4
HELM_VERSION=3.22.0
K8S_BIN_DIR="${K8S_BIN_DIR:-$HOME/.cache/chatplane/k8s/$K8S_VERSION}"
TOOLS_DIR="${TOOLS_DIR:-$HOME/.cache/chatplane/tools}"
HELM="$TOOLS_DIR/helm-$HELM_VERSION/helm"
K8S_COMMANDS=(kube-apiserver kube-controller-manager kube-scheduler kubectl)
NODE_K8S_COMMANDS=(kubelet kube-proxy)
# command=module dir under test/cluster (its go.mod pins the version)=package
NODE_GO_COMMANDS=(
  coredns=coredns=github.com/coredns/coredns
  local-path-provisioner=local-path=github.com/rancher/local-path-provisioner
  kube-router=kube-router=github.com/cloudnativelabs/kube-router/v2/cmd/kube-router
)
NODE_BIN_DIR="${NODE_BIN_DIR:-$HOME/.cache/chatplane/node}"
# command -> Debian package
NODE_DEBS=(containerd:containerd runc:runc ctr:containerd ipset:ipset iptables:iptables
  conntrack:conntrack /usr/lib/cni/bridge:containernetworking-plugins
  /usr/lib/cni/host-local:containernetworking-plugins /usr/lib/cni/loopback:containernetworking-plugins
  /bin/busybox:busybox-static)

# Parallel package builds; on a machine shared with other builds set CLUSTER_BUILD_JOBS=1.
CLUSTER_BUILD_JOBS="${CLUSTER_BUILD_JOBS:-$(nproc)}"

_cluster_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

# The version the Kubernetes binaries report (`kubectl version`, /version) comes from these
# variables, which upstream's release build sets the same way (hack/lib/version.sh).
_k8s_ldflags() {
  local major=${K8S_VERSION%%.*} minor=${K8S_VERSION#*.} ldflags="-s -w" pkg
  minor=${minor%%.*}
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldflags+=" -X $pkg.gitVersion=v$K8S_VERSION -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor"
    ldflags+=" -X $pkg.gitTreeState=clean"
  done
  echo "$ldflags"
}

_go_build() { # dir out-dir ldflags packages...
  local dir=$1 out=$2 ldflags=$3
  shift 3
  (cd "$dir" && CGO_ENABLED=0 GOFLAGS=-buildvcs=false GOTOOLCHAIN=local \
    nice -n 10 go build -p "$CLUSTER_BUILD_JOBS" -mod=readonly -trimpath -ldflags "$ldflags" -o "$out/" "$@")
}

cluster_bins() {
  local missing=() cmd tmp
  for cmd in "${K8S_COMMANDS[@]}" etcd; do
    [[ -x $K8S_BIN_DIR/$cmd ]] || missing+=("$cmd")
  done
  if ((${#missing[@]})); then
    command -v go >/dev/null || { echo "cluster-bins: go is required to build ${missing[*]}" >&2; return 1; }
    mkdir -p "$K8S_BIN_DIR"
    tmp=$(mktemp -d "$K8S_BIN_DIR/.build.XXXXXX")
    local ldflags started=$SECONDS pkgs=()
    ldflags=$(_k8s_ldflags)
    for cmd in "${missing[@]}"; do
      [[ $cmd == etcd ]] || pkgs+=("k8s.io/kubernetes/cmd/$cmd")
    done
    if ((${#pkgs[@]})); then
      echo "cluster-bins: building ${pkgs[*]##*/} v$K8S_VERSION (first run only, several minutes)"
      _go_build "$_cluster_root/test/cluster" "$tmp" "$ldflags" "${pkgs[@]}"
    fi
    if [[ " ${missing[*]} " == *" etcd "* ]]; then
      echo "cluster-bins: building etcd"
      _go_build "$_cluster_root/test/cluster/etcd" "$tmp" "-s -w" go.etcd.io/etcd/server/v3
      # go names a /v3 module's command after the element before the major version.
      mv "$tmp/server" "$tmp/etcd"
    fi
    for cmd in "${missing[@]}"; do
      mv "$tmp/$cmd" "$K8S_BIN_DIR/$cmd"
    done
    rmdir "$tmp"
    echo "cluster-bins: built ${missing[*]} in $((SECONDS - started)) s into $K8S_BIN_DIR"
  fi
  cluster_helm
}

# helm alone (scripts/test.d/30-operator.sh needs no control plane).
cluster_helm() {
  if [[ ! -x $HELM ]]; then
    local started=$SECONDS
    echo "cluster-bins: building helm v$HELM_VERSION"
    mkdir -p "${HELM%/helm}"
    CGO_ENABLED=0 GOFLAGS=-buildvcs=false GOTOOLCHAIN=local GOBIN="${HELM%/helm}" \
      nice -n 10 go install -p "$CLUSTER_BUILD_JOBS" -trimpath \
      -ldflags "-s -w -X helm.sh/helm/v3/internal/version.version=v$HELM_VERSION" \
      "helm.sh/helm/v3/cmd/helm@v$HELM_VERSION"
    echo "cluster-bins: built helm in $((SECONDS - started)) s"
  fi
}

# The node's binaries: kubelet and kube-proxy beside the control plane's (same module, same
# version flags); the others by the version their module pins, in $NODE_BIN_DIR/<command>-<version>.
# One build at a time: they are CPU-heavy and the machine is shared.
cluster_node_bins() {
  cluster_node_debs
  local missing=() cmd tmp started=$SECONDS
  for cmd in "${NODE_K8S_COMMANDS[@]}"; do
    [[ -x $K8S_BIN_DIR/$cmd ]] || missing+=("$cmd")
  done
  if ((${#missing[@]})); then
    command -v go >/dev/null || { echo "cluster-bins: go is required to build ${missing[*]}" >&2; return 1; }
    mkdir -p "$K8S_BIN_DIR"
    tmp=$(mktemp -d "$K8S_BIN_DIR/.build.XXXXXX")
    echo "cluster-bins: building ${missing[*]} v$K8S_VERSION (first run only, several minutes)"
    _go_build "$_cluster_root/test/cluster" "$tmp" "$(_k8s_ldflags)" "${missing[@]/#/k8s.io/kubernetes/cmd/}"
    for cmd in "${missing[@]}"; do
      mv "$tmp/$cmd" "$K8S_BIN_DIR/$cmd"
    done
    rmdir "$tmp"
    echo "cluster-bins: built ${missing[*]} in $((SECONDS - started)) s into $K8S_BIN_DIR"
  fi
  local entry dir pkg bin
  for entry in "${NODE_GO_COMMANDS[@]}"; do
    IFS='=' read -r cmd dir pkg <<<"$entry"
    bin=$(node_bin "$cmd")
    [[ -x $bin ]] && continue
    command -v go >/dev/null || { echo "cluster-bins: go is required to build $cmd" >&2; return 1; }
    started=$SECONDS
    echo "cluster-bins: building $cmd ${bin##*-} (first run only)"
    mkdir -p "$NODE_BIN_DIR"
    tmp=$(mktemp -d "$NODE_BIN_DIR/.build.XXXXXX")
    _go_build "$_cluster_root/test/cluster/$dir" "$tmp" "-s -w" "$pkg"
    mv "$tmp/${pkg##*/}" "$bin"
    rmdir "$tmp"
    echo "cluster-bins: built $cmd in $((SECONDS - started)) s into $bin"
  done
}

# The cached path of a node command built from its own module: <command>-<pinned version>.
node_bin() { # $1 command
  local entry cmd dir pkg mod version
  for entry in "${NODE_GO_COMMANDS[@]}"; do
    IFS='=' read -r cmd dir pkg <<<"$entry"
    [[ $cmd == "$1" ]] || continue
    mod=${pkg%/cmd/*}
    version=$(awk -v m="$mod" '$1 == "require" && $2 == m { print $3 } $1 == m { print $2 }' \
      "$_cluster_root/test/cluster/$dir/go.mod" | head -n 1)
    echo "$NODE_BIN_DIR/$cmd-${version:?no version of $mod in test/cluster/$dir/go.mod}"
    return 0
  done
  echo "cluster-bins: no node command $1" >&2
  return 1
}

# containerd, runc, the CNI plugins, ipset, iptables, conntrack and busybox (the storage
# provisioner's helper image) from Debian's packages, when missing.
cluster_node_debs() {
  local pair missing=()
  for pair in "${NODE_DEBS[@]}"; do
    if [[ ${pair%%:*} == /* ]]; then
      [[ -e ${pair%%:*} ]] && continue
    else
      command -v "${pair%%:*}" >/dev/null && continue
    fi
    [[ " ${missing[*]} " == *" ${pair#*:} "* ]] || missing+=("${pair#*:}")
  done
  if ((${#missing[@]})); then
    echo "cluster-bins: apt-get install ${missing[*]}"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
}

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
  cluster_bins
  if [[ ${1:-} == --node ]]; then
    cluster_node_bins
  fi
fi

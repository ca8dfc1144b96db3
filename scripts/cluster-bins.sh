#!/usr/bin/env bash
# Builds the test control plane's binaries from the Go modules pinned in test/cluster (upstream
# kube-apiserver, kube-controller-manager, kube-scheduler, kubectl; etcd) and helm, each once per
# version into ~/.cache/chatplane, and prints nothing but progress. Sourced by scripts/cluster.sh
# (`cluster_bins`), or run on its own to warm the cache: `bash scripts/cluster-bins.sh`.
set -euo pipefail

K8S_VERSION=1.35.4
HELM_VERSION=3.22.0
K8S_BIN_DIR="${K8S_BIN_DIR:-$HOME/.cache/chatplane/k8s/$K8S_VERSION}"
TOOLS_DIR="${TOOLS_DIR:-$HOME/.cache/chatplane/tools}"
HELM="$TOOLS_DIR/helm-$HELM_VERSION/helm"
K8S_COMMANDS=(kube-apiserver kube-controller-manager kube-scheduler kubectl)

# Parallel package builds; on a machine shared with other builds set CLUSTER_BUILD_JOBS=1.
CLUSTER_BUILD_JOBS="${CLUSTER_BUILD_JOBS:-$(nproc)}"

_cluster_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

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
    # The version the binaries report (`kubectl version`, /version) comes from these variables,
    # which upstream's release build sets the same way (hack/lib/version.sh).
    local major=${K8S_VERSION%%.*} minor=${K8S_VERSION#*.}
    minor=${minor%%.*}
    local ldflags="-s -w" pkg
    for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
      ldflags+=" -X $pkg.gitVersion=v$K8S_VERSION -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor"
      ldflags+=" -X $pkg.gitTreeState=clean"
    done
    local started=$SECONDS pkgs=()
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

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
  cluster_bins
fi

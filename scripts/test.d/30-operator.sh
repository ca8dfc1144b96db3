#!/usr/bin/env bash
# Operator manifests against the real Kubernetes schemas: `chatplane-operator render` of every
# example, the generated CRD and the Helm chart (`helm lint`, `helm template`), validated with
# kubernetes-validate --strict against the oldest and newest Kubernetes versions we support
# (k8s-openapi's `earliest` feature is v1_33).
set -euo pipefail
cd "$(dirname "$0")/../.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/chatplane/target}"

OLDEST=1.33.0
NEWEST=1.37.0

# Run as a module: no dependence on where pip puts console scripts (pyenv shims, ~/.local/bin).
if ! python3 -c 'import kubernetes_validate' 2>/dev/null; then
  echo "installing kubernetes-validate from PyPI"
  pip_install=(python3 -m pip install --quiet --disable-pip-version-check 'kubernetes-validate==1.37.0')
  # A Debian python refuses system-wide installs (PEP 668) unless told to.
  "${pip_install[@]}" 2>/dev/null || "${pip_install[@]}" --break-system-packages
fi

# The real helm v3, built from its Go module once (scripts/cluster-bins.sh).
# shellcheck source=scripts/cluster-bins.sh
source scripts/cluster-bins.sh
cluster_helm
helm="$HELM"

cargo build --quiet --locked -p chatplane-operator --bin chatplane-operator
operator="$CARGO_TARGET_DIR/debug/chatplane-operator"

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
count=0
for example in examples/*.yaml; do
  "$operator" render -f "$example" >"$out/$(basename "$example")"
  count=$((count + 1))
done
cp crds/chatplane.dev_chatdeployments.yaml "$out/crd.yaml"

# The chart ships the generated CRD; it must be the committed one.
if ! cmp -s crds/chatplane.dev_chatdeployments.yaml charts/chatplane/crds/chatplane.dev_chatdeployments.yaml; then
  echo "charts/chatplane/crds/ is stale: cp crds/chatplane.dev_chatdeployments.yaml charts/chatplane/crds/" >&2
  exit 1
fi
"$helm" lint --strict charts/chatplane
"$helm" lint --strict charts/chatplane -f charts/chatplane/test.yaml
"$helm" template --kube-version "$OLDEST" chatplane charts/chatplane --namespace chatplane-system >"$out/chart-default.yaml"
# The ServiceMonitor is a Prometheus Operator CRD, which kubernetes-validate does not know.
"$helm" template --kube-version "$OLDEST" chatplane charts/chatplane --namespace chatplane-system -f charts/chatplane/test.yaml \
  --set serviceMonitor.enabled=false >"$out/chart-test.yaml"
"$helm" template --kube-version "$OLDEST" chatplane charts/chatplane -f charts/chatplane/test.yaml --show-only templates/servicemonitor.yaml \
  | grep -c 'kind: ServiceMonitor' >/dev/null

for version in "$OLDEST" "$NEWEST"; do
  echo "kubernetes-validate --strict -k $version: $count rendered examples, the CRD and the chart"
  python3 -m kubernetes_validate --strict --quiet -k "$version" "$out"/*.yaml
done
documents=$(cat "$out"/*.yaml | grep -c '^kind:')
echo "operator manifests: $documents documents valid against Kubernetes $OLDEST and $NEWEST"

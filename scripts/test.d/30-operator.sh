#!/usr/bin/env bash
# Operator manifests against the real Kubernetes schemas: `chatplane-operator render` of every
# example, and the generated CRD, validated with kubernetes-validate --strict against the oldest
# and newest Kubernetes versions we support (k8s-openapi's `earliest` feature is v1_33).
set -euo pipefail
cd "$(dirname "$0")/../.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/chatplane/target}"

OLDEST=1.33.0
NEWEST=1.37.0

if ! command -v kubernetes-validate >/dev/null 2>&1; then
  echo "installing kubernetes-validate from PyPI"
  python3 -m pip install --quiet --disable-pip-version-check 'kubernetes-validate==1.37.0'
fi

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

for version in "$OLDEST" "$NEWEST"; do
  echo "kubernetes-validate --strict -k $version: $count rendered examples and the CRD"
  kubernetes-validate --strict --quiet -k "$version" "$out"/*.yaml
done
documents=$(cat "$out"/*.yaml | grep -c '^kind:')
echo "operator manifests: $documents documents valid against Kubernetes $OLDEST and $NEWEST"

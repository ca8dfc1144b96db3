#!/usr/bin/env bash
# The cluster-hosted user path (`make e2e-local`, scripts/e2e-local.sh): the chart's operator as a
# pod, a ChatDeployment's pods Ready through their probes, chat through the Services, a rollout
# under an appending client, PostgreSQL's pod deleted, delete and re-apply with Retain, and the
# operator's NetworkPolicies (PostgreSQL's and the API's metrics port) enforced. Its own cluster
# (CLUSTER_NAME chatplane-e2e).
set -euo pipefail
cd "$(dirname "$0")/../.."
exec bash scripts/e2e-local.sh

# The two commands of the README: `make dev` (the whole stack, locally) and `make test` (every test).
SHELL := /bin/bash
export CARGO_TARGET_DIR ?= $(HOME)/.cache/chatplane/target

.PHONY: dev test fmt lint sqlx-prepare bench bench-operator-scale reliability eval-rag fuzz e2e-kind e2e-local cluster cluster-node cluster-down images
dev:
	bash scripts/dev.sh

test:
	bash scripts/test.sh

fmt:
	cargo fmt --all

lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings

# Regenerates .sqlx/ (the offline data of the compile-time SQL checks) after a query or a
# migration changed; `make test` fails while it is stale.
sqlx-prepare:
	bash scripts/sqlx-prepare.sh

bench:
	bash bench/run.sh

# The operator with 100 and 1,000 ChatDeployments on the test control plane (needs root; not part
# of make test). N="100" for one size. See docs/BENCHMARKS.md, "Operator at scale".
bench-operator-scale:
	bash bench/operator-scale.sh $(N)

# The long reliability run (docs/RELIABILITY.md); `make test` runs its short form.
reliability:
	bash bench/reliability.sh

# recall@3 of a question set on a corpus (default: the fixture corpus the tests use), e.g.
# make eval-rag CORPUS=../shared/corpus/physical-ai-textbook QUESTIONS=bench/data/textbook_questions.json
eval-rag:
	CORPUS="$(CORPUS)" QUESTIONS="$(QUESTIONS)" bash scripts/eval-rag.sh

# Every fuzz target (fuzz/) for FUZZ_SECONDS each (default 60), e.g. make fuzz FUZZ_SECONDS=600
fuzz:
	FUZZ_SECONDS="$(FUZZ_SECONDS)" bash scripts/fuzz.sh

# The whole product on a real kind cluster (needs Docker, kind, kubectl, helm, curl, jq).
e2e-kind:
	bash scripts/e2e-kind.sh

# A real upstream control plane (etcd, kube-apiserver, controller manager, scheduler) in a network
# namespace of its own; prints the kubeconfig. Needs root. See docs/OPERATOR.md, "A test cluster".
cluster:
	bash scripts/cluster.sh up

# The same with a node (kubelet, containerd, CNI, kube-proxy, CoreDNS, local-path storage,
# kube-router's NetworkPolicy firewall): pods run. See docs/OPERATOR.md, "The node".
cluster-node:
	bash scripts/cluster.sh up --node

cluster-down:
	bash scripts/cluster.sh down

# The whole product on that cluster with a node, the way a user meets it (no Docker): images built
# offline, helm install, a ChatDeployment, sign-up, chat, rollout, restarts. Needs root.
e2e-local:
	bash scripts/e2e-local.sh

# OCI images of every part for the test cluster's node, built offline with buildah (as root);
# archives in ~/.cache/chatplane/images. See docs/OPERATOR.md, "Images without Docker".
images:
	bash scripts/images.sh build

# The two commands of the README: `make dev` (the whole stack, locally) and `make test` (every test).
SHELL := /bin/bash
export CARGO_TARGET_DIR ?= $(HOME)/.cache/chatplane/target

.PHONY: dev test fmt lint bench eval-rag e2e-kind
dev:
	bash scripts/dev.sh

test:
	bash scripts/test.sh

fmt:
	cargo fmt --all

lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings

bench:
	bash bench/run.sh

# recall@3 of a question set on a corpus (default: the fixture corpus the tests use), e.g.
# make eval-rag CORPUS=../shared/corpus/physical-ai-textbook QUESTIONS=bench/data/textbook_questions.json
eval-rag:
	CORPUS="$(CORPUS)" QUESTIONS="$(QUESTIONS)" bash scripts/eval-rag.sh

# The whole product on a real kind cluster (needs Docker, kind, kubectl, helm, curl, jq).
e2e-kind:
	bash scripts/e2e-kind.sh

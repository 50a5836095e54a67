# The two commands of the README:
#   make run    builds weir and the word-count operator, and runs the example
#   make test   installs what is missing, checks formatting and lints, builds
#               everything, runs every test (the runtime's, each SDK's, and the
#               cross-language conformance suite)
# Everything Rust builds with the release profile, so `run`, `test` and
# `bench` share one build of the runtime.

TARGET_DIR := $(or $(CARGO_TARGET_DIR),$(CURDIR)/target)
WEIR := $(TARGET_DIR)/release/weir
GUEST_WORKSPACES := examples/Cargo.toml tests/fixtures/operators/Cargo.toml
# Where the setup scripts install language tools (see scripts/setup.sh).
export WEIR_TOOLS ?= $(HOME)/.cache/weir/tools
export PATH := $(WEIR_TOOLS)/bin:$(PATH)
PYTHON := $(WEIR_TOOLS)/python/bin/python
GO_MODULES := operators-sdk/go examples/go/tokenize examples/mixed/wordlen tests/fixtures/go/conform tests/fixtures/go/misbehave tests/fixtures/go/keyed-count

.PHONY: run test setup setup-all weir lint lint-rust lint-go deny deny-advisories test-rust test-chaos test-sdks test-k8s test-k8s-e2e bench chaos proto

run: weir
	@$(WEIR) build examples/wordcount/operator
	@$(WEIR) run examples/wordcount/job.yaml

setup:
	@scripts/setup.sh

# Regenerates proto/src/gen from proto/weir/v1/*.proto (needs protoc);
# the test suite fails while the committed copy differs.
proto: setup
	WEIR_PROTO_WRITE=1 cargo test --release --locked -p weir-proto --test codegen

setup-all:
	@scripts/setup.sh --all

weir: setup
	@cargo build --release --locked -p weir-cli

lint: setup-all lint-rust lint-go deny

# Licences, duplicate or wildcard dependencies and sources (deny.toml); the
# advisories check needs the RustSec database, so it runs apart, online.
deny:
	cargo deny --locked check licenses bans sources

deny-advisories:
	cargo deny --locked check advisories

lint-rust:
	cargo fmt --all --check
	for ws in $(GUEST_WORKSPACES); do cargo fmt --manifest-path $$ws --all --check || exit 1; done
	cargo clippy --release --locked --workspace --all-targets -- -D warnings
	for ws in $(GUEST_WORKSPACES); do \
		cargo clippy --release --locked --manifest-path $$ws --workspace --target wasm32-wasip2 -- -D warnings || exit 1; \
	done

# gofmt and vet; vet skips the generated bindings, which are wit-bindgen's.
lint-go:
	@unformatted=$$(gofmt -l $(GO_MODULES)); \
		if [ -n "$$unformatted" ]; then echo "gofmt: not formatted: $$unformatted" >&2; exit 1; fi
	for m in $(GO_MODULES); do \
		(cd $$m && go vet $$(go list ./... | grep -v internal/bindings)) || exit 1; \
	done

test: lint weir test-sdks test-rust test-chaos test-k8s test-k8s-e2e

test-rust:
	cargo test --release --locked --workspace
	cargo test --release --locked --manifest-path examples/Cargo.toml --workspace
	cargo test --release --locked --manifest-path operators-sdk/rust/Cargo.toml --features arrow

# The chaos suite needs processes that die at fault points: a build with
# the fault-points feature (its own copy of the workspace's crates in the
# target directory). The short form runs here; `make chaos` runs the long
# form with three seeds (WEIR_CHAOS_SEEDS="1 2 3" to choose them).
test-chaos:
	cargo test --release --locked -p weir-cli --features fault-points --test chaos -- --nocapture
	@# Leave the default build as target/release/weir.
	@cargo build --release --locked -p weir-cli

WEIR_CHAOS_SEEDS ?= 11 23 37
chaos:
	for seed in $(WEIR_CHAOS_SEEDS); do \
		WEIR_CHAOS_LONG=1 WEIR_CHAOS_SEED=$$seed cargo test --release --locked -p weir-cli \
			--features fault-points --test chaos -- --nocapture --test-threads 1 || exit 1; \
	done
	@cargo build --release --locked -p weir-cli

# Each SDK's own tests, with its language's runner.
test-sdks:
	$(PYTHON) -m pytest -q operators-sdk/python examples/python tests/fixtures/python
	npm run --silent test:js
	for m in $(GO_MODULES); do (cd $$m && go test ./...) || exit 1; done
	$(MAKE) -C operators-sdk/c test

# The Kubernetes manifests of k8s/, rendered with kustomize and validated
# offline against the API's schemas and the CRDs'; no cluster needed.
test-k8s: weir
	@scripts/setup-python.sh
	@scripts/setup-k8s.sh
	WEIR_BIN=$(WEIR) $(PYTHON) -m pytest -q tests/k8s

# The Weir image on real pods: a single-node cluster that k8s/local/cluster
# brings up on this machine (control plane, kubelet, containerd, CoreDNS,
# all in a network namespace of its own), the image built without a
# container engine, and k8s/e2e on the ha and native overlays (first output,
# a TaskManager's and a JobManager's pod deleted), taken down again and
# checked clean. It needs Linux and root; elsewhere it says it skipped, but
# not under CI, which must run it.
test-k8s-e2e: weir
	@scripts/setup-kube-node.sh
	WEIR_BIN=$(WEIR) WEIR_E2E_REQUIRED=$(if $(CI),1,) k8s/local/e2e

bench: setup-all
	cargo bench --locked -p weir-wasm-operator --bench pipeline
	cargo bench --locked -p weir-minicluster --bench whole_job
	cargo bench --locked -p weir-state --bench budgets
	cargo bench --locked -p weir-wasm-operator --bench languages
	cargo bench --locked -p weir-taskmanager --bench shuffle
	cargo bench --locked -p weir-taskmanager --bench checkpoints
	cargo bench --locked -p weir-taskmanager --bench keyed_state

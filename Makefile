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

.PHONY: run test setup setup-all weir lint lint-rust lint-go test-rust test-sdks test-k8s bench proto

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

lint: setup-all lint-rust lint-go

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

test: lint weir test-sdks test-rust test-k8s

test-rust:
	cargo test --release --locked --workspace
	cargo test --release --locked --manifest-path examples/Cargo.toml --workspace
	cargo test --release --locked --manifest-path operators-sdk/rust/Cargo.toml --features arrow

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

bench: setup-all
	cargo bench --locked -p weir-executor --bench pipeline
	cargo bench --locked -p weir-executor --bench languages
	cargo bench --locked -p weir-taskmanager --bench shuffle
	cargo bench --locked -p weir-taskmanager --bench checkpoints

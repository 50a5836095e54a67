# The two commands of the README:
#   make run    builds weir and the word-count operator, and runs the example
#   make test   checks formatting and lints, builds everything, runs every test
# Everything builds with the release profile, so `run`, `test` and `bench`
# share one build of the runtime.

TARGET_DIR := $(or $(CARGO_TARGET_DIR),$(CURDIR)/target)
WEIR := $(TARGET_DIR)/release/weir
GUEST_WORKSPACES := examples/Cargo.toml tests/fixtures/operators/Cargo.toml

.PHONY: run test setup weir lint bench

run: weir
	@$(WEIR) build examples/wordcount/operator
	@$(WEIR) run examples/wordcount/job.yaml

setup:
	@scripts/setup.sh

weir: setup
	@cargo build --release --locked -p weir-cli

lint: setup
	cargo fmt --all --check
	for ws in $(GUEST_WORKSPACES); do cargo fmt --manifest-path $$ws --all --check || exit 1; done
	cargo clippy --release --locked --workspace --all-targets -- -D warnings
	for ws in $(GUEST_WORKSPACES); do \
		cargo clippy --release --locked --manifest-path $$ws --workspace --target wasm32-wasip2 -- -D warnings || exit 1; \
	done

test: lint
	cargo test --release --locked --workspace
	cargo test --release --locked --manifest-path examples/Cargo.toml --workspace
	cargo test --release --locked --manifest-path operators-sdk/rust/Cargo.toml --features arrow

bench: setup
	cargo bench --locked -p weir-executor --bench pipeline

#!/usr/bin/env bash
# Installs the WebAssembly tools that the C and Go SDKs build with, into
# $WEIR_TOOLS (default ~/.cache/weir/tools), where later runs find them:
#   bin/wit-bindgen, bin/wasm-tools      (crates.io, pinned)
#   bin/cargo-deny                        (crates.io, pinned; `make deny`)
#   share/weir/wasi_snapshot_preview1.reactor.wasm
#       the WASI preview1 adapter of the wasmtime release the runtime uses;
#       it turns a wasip1 core module into a component.
# Safe to run repeatedly; does nothing when everything is in place.
set -euo pipefail

WEIR_TOOLS=${WEIR_TOOLS:-$HOME/.cache/weir/tools}
WIT_BINDGEN_VERSION=0.61.0
WASM_TOOLS_VERSION=1.263.0
CARGO_DENY_VERSION=0.20.2
ADAPTER_VERSION=48.0.8   # keep equal to the wasmtime version of Cargo.toml
mkdir -p "$WEIR_TOOLS/bin" "$WEIR_TOOLS/share/weir"

installed_version() { "$WEIR_TOOLS/bin/$1" --version 2>/dev/null | awk '{print $2}'; }

if [ "$(installed_version wit-bindgen)" != "$WIT_BINDGEN_VERSION" ]; then
    echo "setup: installing wit-bindgen $WIT_BINDGEN_VERSION into $WEIR_TOOLS (a few minutes, once)" >&2
    # Only the generators the SDKs use (C and Go): a third of the build.
    cargo install --quiet --locked --root "$WEIR_TOOLS" --no-default-features --features c,go \
        "wit-bindgen-cli@$WIT_BINDGEN_VERSION"
fi
if [ "$(installed_version wasm-tools)" != "$WASM_TOOLS_VERSION" ]; then
    echo "setup: installing wasm-tools $WASM_TOOLS_VERSION into $WEIR_TOOLS (a few minutes, once)" >&2
    # Only what building components needs (component embed/new, validate,
    # print), not the fuzzers and shrinkers of the default build.
    cargo install --quiet --locked --root "$WEIR_TOOLS" --no-default-features \
        --features component,validate,print "wasm-tools@$WASM_TOOLS_VERSION"
fi
if [ "$(installed_version cargo-deny)" != "$CARGO_DENY_VERSION" ]; then
    echo "setup: installing cargo-deny $CARGO_DENY_VERSION into $WEIR_TOOLS (a few minutes, once)" >&2
    cargo install --quiet --locked --root "$WEIR_TOOLS" "cargo-deny@$CARGO_DENY_VERSION"
fi

adapter="$WEIR_TOOLS/share/weir/wasi_snapshot_preview1.reactor.wasm"
stamp="$adapter.version"
if [ ! -s "$adapter" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$ADAPTER_VERSION" ]; then
    echo "setup: fetching the WASI preview1 adapter $ADAPTER_VERSION" >&2
    scratch=$(mktemp -d)
    trap 'rm -rf "$scratch"' EXIT
    cat >"$scratch/Cargo.toml" <<TOML
[package]
name = "weir-adapter-fetch"
version = "0.0.0"
edition = "2021"
[lib]
path = "lib.rs"
[dependencies]
wasi-preview1-component-adapter-provider = "=$ADAPTER_VERSION"
TOML
    : >"$scratch/lib.rs"
    cargo fetch --quiet --manifest-path "$scratch/Cargo.toml"
    src=$(cargo metadata --quiet --format-version 1 --manifest-path "$scratch/Cargo.toml" |
        python3 -c 'import json,sys; m=json.load(sys.stdin); print(next(p["manifest_path"] for p in m["packages"] if p["name"]=="wasi-preview1-component-adapter-provider"))')
    cp "$(dirname "$src")/artefacts/wasi_snapshot_preview1.reactor.wasm" "$adapter"
    echo "$ADAPTER_VERSION" >"$stamp"
fi

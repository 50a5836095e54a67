#!/usr/bin/env bash
# Installs what building Weir needs and is missing: the Rust toolchain's
# wasm32-wasip2 target (operators compile to it) and protoc (for the check
# that the committed gRPC code matches proto/). With --all, also every SDK
# language's toolchain (scripts/setup-{tools,c,go,js,python}.sh) and the
# manifest checks' tools (scripts/setup-k8s.sh), an OCI registry with
# skopeo (scripts/setup-registry.sh) and Kubernetes built from Go modules,
# which the tests need: the control plane and, as root on Linux, a node that
# runs pods (scripts/setup-kube-node.sh: about 25 minutes the first time,
# cached by version; elsewhere only scripts/setup-kube-control-plane.sh).
# Safe to run repeatedly.
set -euo pipefail

all=false
case "${1:-}" in
    --all) all=true ;;
    "") ;;
    *) echo "usage: scripts/setup.sh [--all]" >&2; exit 2 ;;
esac

if ! command -v cargo >/dev/null 2>&1; then
    echo "error: cargo is not installed. Install Rust with rustup (https://rustup.rs), then run this again." >&2
    exit 1
fi
if ! command -v cc >/dev/null 2>&1; then
    # wasmtime builds a little C; Debian and Ubuntu ship a compiler as gcc.
    if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
        apt-get update -qq && apt-get install -y -qq gcc >/dev/null
    else
        echo "error: no C compiler (cc) found; install gcc or clang." >&2
        exit 1
    fi
fi
if ! command -v protoc >/dev/null 2>&1; then
    # Only the drift check of the committed gRPC code (proto/tests) runs
    # protoc; building Weir does not need it.
    if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
        echo "setup: installing protoc (protobuf-compiler)" >&2
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq protobuf-compiler >/dev/null
    else
        echo "error: protoc is missing; install protobuf-compiler (apt) or protobuf (brew)." >&2
        exit 1
    fi
fi
if command -v rustup >/dev/null 2>&1; then
    if ! rustup target list --installed | grep -qx wasm32-wasip2; then
        echo "setup: adding the wasm32-wasip2 target of the Rust toolchain" >&2
        rustup target add wasm32-wasip2
    fi
elif ! rustc --print target-list | grep -qx wasm32-wasip2; then
    echo "error: this Rust toolchain cannot target wasm32-wasip2; install Rust with rustup." >&2
    exit 1
fi

if $all; then
    here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
    for language in tools c go js python k8s registry; do
        "$here/setup-$language.sh"
    done
    # A node needs root (containerd, mounts, namespaces).
    if [ "$(uname -s)" = Linux ] && [ "$(id -u)" = 0 ]; then
        "$here/setup-kube-node.sh"
    else
        "$here/setup-kube-control-plane.sh"
    fi
fi

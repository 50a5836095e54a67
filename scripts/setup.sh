#!/usr/bin/env bash
# Installs what building Weir needs and is missing: the Rust toolchain's
# wasm32-wasip2 target (operators compile to it). Safe to run repeatedly.
set -euo pipefail

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
if command -v rustup >/dev/null 2>&1; then
    if ! rustup target list --installed | grep -qx wasm32-wasip2; then
        echo "setup: adding the wasm32-wasip2 target of the Rust toolchain" >&2
        rustup target add wasm32-wasip2
    fi
elif ! rustc --print target-list | grep -qx wasm32-wasip2; then
    echo "error: this Rust toolchain cannot target wasm32-wasip2; install Rust with rustup." >&2
    exit 1
fi

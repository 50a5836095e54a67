#!/usr/bin/env bash
# Installs what the C SDK (operators-sdk/c) needs and is missing:
#   - from Debian: clang-19, lld-19 (wasm-ld), wasi-libc and the wasm32
#     compiler-rt builtins, to compile C for wasm32-wasi; make and a native C
#     compiler for the SDK's unit tests;
#   - through scripts/setup-tools.sh: wasm-tools, wit-bindgen and the WASI
#     preview1 adapter (pinned there), into $WEIR_TOOLS.
# The LLVM major version is pinned by the package names (19); Debian's
# stable updates of those packages are taken as they come.
#
# Safe to run repeatedly; prints nothing when everything is in place. Runs
# non-interactively as root (as in CI); as another user it says what to
# install instead.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

packages=(clang-19 lld-19 wasi-libc libclang-rt-19-dev-wasm32)
command -v make >/dev/null 2>&1 || packages+=(make)
command -v cc >/dev/null 2>&1 || packages+=(gcc)

installed() {
    [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" = "install ok installed" ]
}

missing=()
if command -v dpkg-query >/dev/null 2>&1; then
    for p in "${packages[@]}"; do
        installed "$p" || missing+=("$p")
    done
else
    echo "error: this is not a Debian-like system (no dpkg-query). The C SDK needs clang 19 with" >&2
    echo "wasm-ld and the wasm32 compiler-rt builtins, and wasi-libc; install them with your package" >&2
    echo "manager and point the build at them with WEIR_CLANG and WASI_SYSROOT (see" >&2
    echo "operators-sdk/c/README.md)." >&2
    exit 1
fi

if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" != 0 ]; then
        echo "error: the C SDK needs these Debian packages: ${missing[*]}" >&2
        echo "Install them as root, then run this script again:" >&2
        echo "  apt-get install -y ${missing[*]}" >&2
        exit 1
    fi
    echo "setup-c: installing ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

"$repo/scripts/setup-tools.sh"

#!/usr/bin/env bash
# Installs what the JavaScript operator SDK (operators-sdk/js) builds and
# tests with: Node.js and npm from the machine (Debian's packages when they
# are missing), then the npm workspaces of the repository root (the SDK, its
# examples and test fixtures) with `npm ci`, at the exact versions of
# package-lock.json: esbuild (bundling) and componentize-qjs (the QuickJS
# engine that turns the bundle into a component), each with its prebuilt
# binary for this platform from the npm registry.
# Safe to run repeatedly; does nothing (and prints nothing) when everything
# is in place.
set -euo pipefail

NODE_MIN_MAJOR=20
NPM_MIN_MAJOR=9
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

fail() {
    echo "setup-js: $*" >&2
    exit 1
}

major() { sed -E 's/^v?([0-9]+).*/\1/' <<<"$1"; }

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "setup-js: installing Node.js and npm from Debian's packages" >&2
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null
    fi
fi
command -v node >/dev/null ||
    fail "Node.js is not installed; install Node.js >= $NODE_MIN_MAJOR with npm (for example from your distribution's packages)"
command -v npm >/dev/null || fail "npm is not installed; install it next to Node.js $(node --version)"

node_version=$(node --version)
npm_version=$(npm --version 2>/dev/null)
if [ "$(major "$node_version")" -lt "$NODE_MIN_MAJOR" ]; then
    fail "Node.js $node_version is too old: the JavaScript SDK needs Node.js >= $NODE_MIN_MAJOR"
fi
if [ "$(major "$npm_version")" -lt "$NPM_MIN_MAJOR" ]; then
    fail "npm $npm_version is too old: the JavaScript SDK needs npm >= $NPM_MIN_MAJOR (package-lock.json is lockfile version 3)"
fi

# The installed tree is current when it was installed from this lock file by
# this Node.js, and both tools load.
stamp="$root/node_modules/.weir-setup-js"
want="$(sha256sum "$root/package-lock.json" | cut -d' ' -f1) node $node_version"
tools_load() {
    (cd "$root" && node --input-type=module -e \
        "await import('esbuild'); await import('componentize-qjs'); await import('weir-operator/build');") \
        >/dev/null 2>&1
}
if [ "$(cat "$stamp" 2>/dev/null)" = "$want" ] && tools_load; then
    exit 0
fi

echo "setup-js: installing the JavaScript SDK's npm packages (npm ci)" >&2
if ! (cd "$root" && npm ci --no-audit --no-fund --loglevel=error >/dev/null); then
    fail "npm ci failed in $root (see npm's messages above); the npm registry must be reachable"
fi
tools_load || fail "the npm packages installed, but esbuild or componentize-qjs does not load under Node.js $node_version on $(uname -m)"
echo "$want" >"$stamp"

#!/usr/bin/env bash
# Builds a Go operator project into a Weir component:
#
#   operators-sdk/go/build.sh PROJECT_DIR [-o OUT.wasm] [-v]
#
# the same as `go run weir.dev/operator/cmd/weir-go build PROJECT_DIR ...`
# from the project's module, for callers outside it. OUT.wasm defaults to
# PROJECT_DIR/<directory name>.wasm. Needs Go 1.25+ and the component tools:
# run scripts/setup-go.sh once.
set -euo pipefail

sdk=$(cd "$(dirname "$0")" && pwd)
WEIR_TOOLS=${WEIR_TOOLS:-$HOME/.cache/weir/tools}
# scripts/setup-go.sh installs a Go toolchain there when the machine has none
# recent enough.
if [ -x "$WEIR_TOOLS/go/bin/go" ]; then
    PATH="$WEIR_TOOLS/go/bin:$PATH"
fi
if ! command -v go >/dev/null 2>&1; then
    echo "error: the go command is not installed; run scripts/setup-go.sh" >&2
    exit 1
fi

# The command is built into a scratch directory (the Go build cache makes
# this quick) and run from the caller's directory, so that relative paths
# mean what the caller meant.
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
go build -C "$sdk" -o "$scratch/weir-go" ./cmd/weir-go
"$scratch/weir-go" build "$@"

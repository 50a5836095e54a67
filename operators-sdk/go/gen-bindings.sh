#!/usr/bin/env bash
# Regenerates the Go bindings of the WIT contract, which are committed under
# internal/bindings so that users of the SDK need no wit-bindgen:
#
#   ./gen-bindings.sh           copy ../wit/operator.wit into wit/ and regenerate
#   ./gen-bindings.sh --check   regenerate into a temporary directory and fail
#                               if the committed files differ (CI runs this)
#
# wit-bindgen comes from $WIT_BINDGEN, else $WEIR_TOOLS/bin (see
# scripts/setup-tools.sh), else PATH. The package internal/bindings/
# export_weir_operator_handler is the SDK's own code, not generated.
set -euo pipefail

sdk=$(cd "$(dirname "$0")" && pwd)
WEIR_TOOLS=${WEIR_TOOLS:-$HOME/.cache/weir/tools}
wit_bindgen=${WIT_BINDGEN:-}
if [ -z "$wit_bindgen" ]; then
    if [ -x "$WEIR_TOOLS/bin/wit-bindgen" ]; then
        wit_bindgen=$WEIR_TOOLS/bin/wit-bindgen
    elif command -v wit-bindgen >/dev/null 2>&1; then
        wit_bindgen=$(command -v wit-bindgen)
    else
        echo "error: wit-bindgen not found; run scripts/setup-tools.sh (or set WIT_BINDGEN)" >&2
        exit 1
    fi
fi
# wit-bindgen formats its output with gofmt when it finds one; make sure it
# finds the Go toolchain's, so that the output does not depend on PATH.
PATH="$(go env GOROOT)/bin:$PATH"

generate() { # WIT_DIR OUT_DIR
    local log
    if ! log=$("$wit_bindgen" go "$1" --world operator \
        --pkg-name weir.dev/operator/internal/bindings --out-dir "$2" 2>&1); then
        echo "$log" >&2
        return 1
    fi
}

if [ "${1:-}" = --check ]; then
    scratch=$(mktemp -d)
    trap 'rm -rf "$scratch"' EXIT
    status=0
    if ! cmp -s "$sdk/../wit/operator.wit" "$sdk/wit/operator.wit"; then
        echo "drift: wit/operator.wit differs from operators-sdk/wit/operator.wit" >&2
        status=1
    fi
    generate "$sdk/wit" "$scratch/bindings"
    if ! diff -r -x export_weir_operator_handler "$scratch/bindings" "$sdk/internal/bindings" >&2; then
        echo "drift: internal/bindings differs from what wit-bindgen generates; run operators-sdk/go/gen-bindings.sh" >&2
        status=1
    fi
    [ $status = 0 ] && echo "bindings: up to date"
    exit $status
fi

cp "$sdk/../wit/operator.wit" "$sdk/wit/operator.wit"
find "$sdk/internal/bindings" -mindepth 1 -maxdepth 1 ! -name export_weir_operator_handler -exec rm -rf {} + 2>/dev/null || true
generate "$sdk/wit" "$sdk/internal/bindings"
echo "bindings: regenerated internal/bindings with $("$wit_bindgen" --version)"

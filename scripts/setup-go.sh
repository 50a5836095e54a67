#!/usr/bin/env bash
# Installs what Go operators need (operators-sdk/go):
#   - a Go toolchain of version 1.25 or newer. The machine's `go` is used when
#     it is recent enough; otherwise Go $GO_VERSION is installed into
#     $WEIR_TOOLS/go from the Go module proxy (module golang.org/toolchain,
#     what Go's own toolchain switching downloads), bootstrapped by any older
#     go, or by Debian's golang-go when there is none;
#   - the modules of the SDK, the Go examples and the Go fixtures (go mod
#     download, verified against their go.sum);
#   - the component tools, with scripts/setup-tools.sh.
# Safe to run repeatedly; quiet when there is nothing to do.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
WEIR_TOOLS=${WEIR_TOOLS:-$HOME/.cache/weir/tools}
GO_MIN_MINOR=25      # go.bytecodealliance.org/pkg, which the bindings use, needs Go 1.25
GO_VERSION=1.26.8    # the toolchain installed when the machine has none recent enough
# The module proxy's hash of golang.org/toolchain@v0.0.1-go$GO_VERSION.linux-amd64.
GO_TOOLCHAIN_SUM_AMD64="h1:ZOmGe1OnfREDMIdb1Qi4G9JSuDPBLGExZMQ4nis1RXM="

say() { echo "setup-go: $*" >&2; }
die() { echo "setup-go: error: $*" >&2; exit 1; }

# go_minor GO: the minor version of Go 1.x that GO runs as itself.
go_minor() {
    GOTOOLCHAIN=local "$1" env GOVERSION 2>/dev/null | sed -n 's/^go1\.\([0-9][0-9]*\).*/\1/p'
}

recent_enough() {
    local minor
    minor=$(go_minor "$1")
    [ -n "$minor" ] && [ "$minor" -ge "$GO_MIN_MINOR" ]
}

install_toolchain() {
    local arch bootstrap scratch dir sum
    case "$(uname -m)" in
        x86_64 | amd64) arch=amd64 ;;
        aarch64 | arm64) arch=arm64 ;;
        *) die "no Go toolchain for $(uname -m); install Go 1.$GO_MIN_MINOR or newer yourself" ;;
    esac
    bootstrap=$(command -v go || true)
    if [ -z "$bootstrap" ]; then
        if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
            say "installing Debian's golang-go to bootstrap Go $GO_VERSION"
            apt-get update -qq >/dev/null
            DEBIAN_FRONTEND=noninteractive apt-get install -y -qq golang-go >/dev/null
            bootstrap=$(command -v go || echo /usr/lib/go/bin/go)
        else
            die "Go is not installed: install Go 1.$GO_MIN_MINOR or newer, or run this script as root on Debian"
        fi
    fi
    say "installing Go $GO_VERSION into $WEIR_TOOLS/go from the Go module proxy (once)"
    scratch=$(mktemp -d)
    trap 'chmod -R u+w "$scratch" 2>/dev/null; rm -rf "$scratch"' RETURN
    (cd "$scratch" && GOMODCACHE="$scratch/mod" GOFLAGS=-modcacherw GOTOOLCHAIN=local GO111MODULE=on \
        "$bootstrap" mod download -json "golang.org/toolchain@v0.0.1-go$GO_VERSION.linux-$arch" >"$scratch/download.json") ||
        die "cannot download golang.org/toolchain@v0.0.1-go$GO_VERSION.linux-$arch"
    dir=$(sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p' "$scratch/download.json")
    sum=$(sed -n 's/^[[:space:]]*"Sum": "\(.*\)",$/\1/p' "$scratch/download.json")
    [ -n "$dir" ] && [ -x "$dir/bin" ] || die "the toolchain module has no bin directory"
    if [ "$arch" = amd64 ] && [ "$sum" != "$GO_TOOLCHAIN_SUM_AMD64" ]; then
        die "the toolchain's hash $sum is not the pinned $GO_TOOLCHAIN_SUM_AMD64"
    fi
    # Module zips carry no file modes: the binaries must be made executable,
    # as Go's own toolchain switching does.
    chmod -R u+w "$dir"
    find "$dir/bin" "$dir/pkg/tool" -type f -exec chmod +x {} +
    rm -rf "$WEIR_TOOLS/go"
    mkdir -p "$WEIR_TOOLS"
    mv "$dir" "$WEIR_TOOLS/go"
    recent_enough "$WEIR_TOOLS/go/bin/go" || die "the installed toolchain does not run"
    say "Go $GO_VERSION is in $WEIR_TOOLS/go/bin (operators-sdk/go/build.sh finds it there; add it to PATH for go run and go test)"
}

go_bin=""
if command -v go >/dev/null 2>&1 && recent_enough "$(command -v go)"; then
    go_bin=$(command -v go)
elif [ -x "$WEIR_TOOLS/go/bin/go" ] && recent_enough "$WEIR_TOOLS/go/bin/go"; then
    go_bin=$WEIR_TOOLS/go/bin/go
else
    install_toolchain
    go_bin=$WEIR_TOOLS/go/bin/go
fi

"$root/scripts/setup-tools.sh"

# Every Go module of the repository, each verified against its go.sum.
for mod in "$root/operators-sdk/go" "$root"/examples/go/*/ "$root"/tests/fixtures/go/*/; do
    [ -f "$mod/go.mod" ] || continue
    (cd "$mod" && GOFLAGS=-mod=readonly "$go_bin" mod download) ||
        die "cannot download the modules of ${mod#"$root"/}"
done

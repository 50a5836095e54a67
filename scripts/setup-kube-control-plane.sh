#!/usr/bin/env bash
# Builds a real Kubernetes control plane from the Go module proxy, for the
# tests that run the WeirJob controller, native mode, Lease election and
# ConfigMap modules against it (not a mock):
#   $WEIR_TOOLS/kubernetes/$KUBE_VERSION/bin/{kube-apiserver,kube-controller-manager,kube-scheduler,kubectl}
#   $WEIR_TOOLS/etcd/$ETCD_VERSION/bin/etcd
# ($WEIR_TOOLS defaults to ~/.cache/weir/tools.) Each set is keyed by its
# version and built only when missing: about 19 minutes on 2 cores the first
# time, nothing afterwards. The Go module and build caches it fills (about
# 5 GB) live in a scratch directory removed at the end: only the binaries
# (about 370 MB) stay. Needs Go 1.26 (scripts/setup-go.sh installs it when
# the machine has none recent enough). Safe to run repeatedly.
set -euo pipefail

WEIR_TOOLS=${WEIR_TOOLS:-$HOME/.cache/weir/tools}
KUBE_VERSION=${KUBE_VERSION:-v1.37.2}
ETCD_VERSION=${ETCD_VERSION:-v3.7.3}
KUBE_MIN_GO_MINOR=26
KUBE_COMMANDS="kube-apiserver kube-controller-manager kube-scheduler kubectl"

kube_bin=$WEIR_TOOLS/kubernetes/$KUBE_VERSION/bin
etcd_bin=$WEIR_TOOLS/etcd/$ETCD_VERSION/bin

say() { echo "setup-kube: $*" >&2; }
die() { echo "setup-kube: error: $*" >&2; exit 1; }
# shellcheck source=scripts/lib/kube-build.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/kube-build.sh"

# shellcheck disable=SC2086 # a list of words
kube_ok() { kube_commands_ok "$kube_bin" $KUBE_COMMANDS; }
etcd_ok() { [ -x "$etcd_bin/etcd" ] && [ "$(cat "$etcd_bin/.version" 2>/dev/null)" = "$ETCD_VERSION" ]; }

# The tests (weir_testing::KubeControlPlane) and the e2e find the binaries
# on $WEIR_TOOLS/bin, which always points at the versions above.
link_binaries() {
    mkdir -p "$WEIR_TOOLS/bin"
    for command in $KUBE_COMMANDS; do
        ln -sfn "$kube_bin/$command" "$WEIR_TOOLS/bin/$command"
    done
    ln -sfn "$etcd_bin/etcd" "$WEIR_TOOLS/bin/etcd"
}

# The tests make the control plane's certificates with openssl.
if ! command -v openssl >/dev/null 2>&1; then
    if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openssl >/dev/null
    else
        die "openssl is missing; install it (Debian/Ubuntu: apt-get install openssl)"
    fi
fi

if kube_ok && etcd_ok; then
    link_binaries
    exit 0
fi

kube_check_go
kube_scratch_caches

if ! etcd_ok; then
    say "building etcd $ETCD_VERSION into $etcd_bin (about a minute, once)"
    mkdir -p "$scratch/etcd"
    cd "$scratch/etcd"
    printf 'module local/etcd\n\ngo 1.%s.0\n\nrequire go.etcd.io/etcd/server/v3 %s\n' \
        "$KUBE_MIN_GO_MINOR" "$ETCD_VERSION" >go.mod
    printf '//go:build tools\n\npackage tools\n\nimport _ "go.etcd.io/etcd/server/v3"\n' >tools.go
    quiet_go_mod tidy
    mkdir -p "$etcd_bin"
    kube_go_build -ldflags "-s -w" -o "$etcd_bin/etcd" go.etcd.io/etcd/server/v3
    echo "$ETCD_VERSION" >"$etcd_bin/.version"
fi

if ! kube_ok; then
    say "building kube-apiserver, kube-controller-manager, kube-scheduler and kubectl $KUBE_VERSION into $kube_bin (about 18 minutes on 2 cores, once)"
    # shellcheck disable=SC2086 # a list of words
    kube_module "$scratch/kube" $KUBE_COMMANDS
    # shellcheck disable=SC2086
    kube_build_commands "$scratch/kube" "$kube_bin" $KUBE_COMMANDS
fi
link_binaries
say "ready: $("$kube_bin/kube-apiserver" --version), etcd $("$etcd_bin/etcd" --version | awk 'NR==1{print $3}')"

#!/usr/bin/env bash
# Installs what a Kubernetes node that really runs pods needs, for the local
# cluster of k8s/local/cluster (and so for `k8s/e2e` with
# WEIR_E2E_CLUSTER=local):
#   $WEIR_TOOLS/kubernetes/$KUBE_VERSION/bin/{kubelet,kube-proxy}
#   $WEIR_TOOLS/coredns/$COREDNS_VERSION/bin/coredns
# built from the Go module proxy, keyed by version and built only when
# missing (about 25 minutes on 2 cores shared with other builds the first
# time, nothing afterwards), and linked into $WEIR_TOOLS/bin; the control plane too, through
# scripts/setup-kube-control-plane.sh. From Debian, when missing: containerd
# and runc (the container runtime; crun cannot run on a cgroup v1 hybrid
# host), the CNI plugins, umoci and skopeo (images built without a container
# engine), iptables and iproute2 (the node's network), gcc's static libc (the
# pause image). ($WEIR_TOOLS defaults to ~/.cache/weir/tools.)
#
# The Go caches live in a scratch directory removed at the end (about 5 GB
# nothing needs once the binaries exist). When the node's binaries are
# missing, the control plane's build (when it is missing too) runs in the
# same caches: the kubelet then takes about a minute instead of 14. Safe to
# run repeatedly.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
WEIR_TOOLS=${WEIR_TOOLS:-$HOME/.cache/weir/tools}
KUBE_VERSION=${KUBE_VERSION:-v1.37.2}
COREDNS_VERSION=${COREDNS_VERSION:-v1.15.0}
KUBE_MIN_GO_MINOR=26
NODE_COMMANDS=(kubelet kube-proxy)
# Debian package => a file it installs, to tell whether it is there.
APT_PACKAGES=(
    containerd=/usr/bin/containerd
    runc=/usr/sbin/runc
    containernetworking-plugins=/usr/lib/cni/bridge
    umoci=/usr/bin/umoci
    skopeo=/usr/bin/skopeo
    iptables=/usr/sbin/iptables
    iproute2=/usr/bin/ip
    libc6-dev=/usr/lib/x86_64-linux-gnu/libc.a
    gcc=/usr/bin/gcc
    openssl=/usr/bin/openssl
)

kube_bin=$WEIR_TOOLS/kubernetes/$KUBE_VERSION/bin
coredns_bin=$WEIR_TOOLS/coredns/$COREDNS_VERSION/bin

say() { echo "setup-kube-node: $*" >&2; }
die() { echo "setup-kube-node: error: $*" >&2; exit 1; }
# shellcheck source=scripts/lib/kube-build.sh
. "$here/lib/kube-build.sh"

[ "$(uname -s)" = Linux ] || die "a Kubernetes node needs Linux; this is $(uname -s)"

# ---------------------------------------------------------------- Debian packages

missing=()
for entry in "${APT_PACKAGES[@]}"; do
    [ -e "${entry#*=}" ] || missing+=("${entry%%=*}")
done
if [ "${#missing[@]}" -gt 0 ]; then
    if ! command -v apt-get >/dev/null 2>&1 || [ "$(id -u)" != 0 ]; then
        die "missing ${missing[*]}: install them (Debian/Ubuntu: apt-get install ${missing[*]})"
    fi
    say "installing ${missing[*]}"
    apt-get update -qq
    # The packages must not start daemons of their own (the local cluster
    # starts containerd with its own root, state and socket): a policy-rc.d
    # that refuses, for the length of the install, unless there is one.
    policy=/usr/sbin/policy-rc.d
    own_policy=false
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy"
        own_policy=true
    fi
    status=0
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null || status=$?
    if $own_policy; then rm -f "$policy"; fi
    [ "$status" = 0 ] || die "apt-get install ${missing[*]} failed"
fi

# ---------------------------------------------------------------- control plane

node_ok() { kube_commands_ok "$kube_bin" "${NODE_COMMANDS[@]}"; }
coredns_ok() {
    [ -x "$coredns_bin/coredns" ] && [ "$(cat "$coredns_bin/.version" 2>/dev/null)" = "$COREDNS_VERSION" ]
}

# Something to build here: the control plane's script, if it builds too,
# shares these Go caches (WEIR_KUBE_SCRATCH).
if ! node_ok || ! coredns_ok; then
    kube_check_go
    kube_scratch_caches
fi
"$here/setup-kube-control-plane.sh"

# ---------------------------------------------------------------- kubelet, kube-proxy, CoreDNS

link_binaries() {
    mkdir -p "$WEIR_TOOLS/bin"
    for command in "${NODE_COMMANDS[@]}"; do
        ln -sfn "$kube_bin/$command" "$WEIR_TOOLS/bin/$command"
    done
    ln -sfn "$coredns_bin/coredns" "$WEIR_TOOLS/bin/coredns"
}

if node_ok && coredns_ok; then
    link_binaries
    exit 0
fi

if ! node_ok; then
    say "building ${NODE_COMMANDS[*]} $KUBE_VERSION into $kube_bin (about 15 minutes on 2 cores, once)"
    kube_module "$scratch/node" "${NODE_COMMANDS[@]}"
    kube_build_commands "$scratch/node" "$kube_bin" "${NODE_COMMANDS[@]}"
fi

if ! coredns_ok; then
    say "building CoreDNS $COREDNS_VERSION into $coredns_bin (about 9 minutes on 2 cores, once)"
    # A module of its own, so that CoreDNS's dependencies do not move
    # Kubernetes's; its main package is the module's root.
    mkdir -p "$scratch/coredns" "$coredns_bin"
    (
        cd "$scratch/coredns"
        printf 'module local/coredns\n\ngo 1.%s.0\n\nrequire github.com/coredns/coredns %s\n' \
            "$KUBE_MIN_GO_MINOR" "$COREDNS_VERSION" >go.mod
        printf '//go:build tools\n\npackage tools\n\nimport _ "github.com/coredns/coredns"\n' >tools.go
        quiet_go_mod tidy
        kube_go_build -ldflags "-s -w" -o "$coredns_bin/.coredns.partial" github.com/coredns/coredns
    )
    mv -f "$coredns_bin/.coredns.partial" "$coredns_bin/coredns"
    echo "$COREDNS_VERSION" >"$coredns_bin/.version"
fi

link_binaries
say "ready: $("$kube_bin/kubelet" --version), $("$kube_bin/kube-proxy" --version), CoreDNS $("$coredns_bin/coredns" -version | head -n 1)"

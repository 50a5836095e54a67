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

kube_ok() {
    for command in $KUBE_COMMANDS; do
        [ -x "$kube_bin/$command" ] || return 1
    done
    [ "$(cat "$kube_bin/.version" 2>/dev/null)" = "$KUBE_VERSION" ]
}
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

command -v go >/dev/null || die "Go is needed (scripts/setup-go.sh installs it)"
go_minor=$(go env GOVERSION | sed -E 's/^go1\.([0-9]+).*/\1/')
[ "$go_minor" -ge "$KUBE_MIN_GO_MINOR" ] ||
    die "Kubernetes $KUBE_VERSION needs Go 1.$KUBE_MIN_GO_MINOR or newer; this is $(go env GOVERSION)"

scratch=$(mktemp -d)
trap 'chmod -R u+w "$scratch" 2>/dev/null; rm -rf "$scratch"' EXIT
export GOPATH=$scratch/gopath GOCACHE=$scratch/gocache GOFLAGS=-mod=mod CGO_ENABLED=0
# The build is the heaviest thing this project does: let everything else
# on the machine go first.
build() { nice -n 19 go build -trimpath "$@"; }
# `go mod` names every module it downloads (hundreds): keep the rest.
quiet_go_mod() { go mod "$@" 2> >(grep -v '^go: downloading' >&2); }

if ! etcd_ok; then
    say "building etcd $ETCD_VERSION into $etcd_bin (about a minute, once)"
    mkdir -p "$scratch/etcd"
    cd "$scratch/etcd"
    printf 'module local/etcd\n\ngo 1.%s.0\n\nrequire go.etcd.io/etcd/server/v3 %s\n' \
        "$KUBE_MIN_GO_MINOR" "$ETCD_VERSION" >go.mod
    printf '//go:build tools\n\npackage tools\n\nimport _ "go.etcd.io/etcd/server/v3"\n' >tools.go
    quiet_go_mod tidy
    mkdir -p "$etcd_bin"
    build -ldflags "-s -w" -o "$etcd_bin/etcd" go.etcd.io/etcd/server/v3
    echo "$ETCD_VERSION" >"$etcd_bin/.version"
fi

if ! kube_ok; then
    say "building kube-apiserver, kube-controller-manager, kube-scheduler and kubectl $KUBE_VERSION into $kube_bin (about 18 minutes on 2 cores, once)"
    mkdir -p "$scratch/kube"
    cd "$scratch/kube"
    # k8s.io/kubernetes requires its staging modules at v0.0.0 and replaces
    # them with ./staging/..., which its module zip does not hold: replace
    # each with its published version, read from its own go.mod so the list
    # stays right when the version changes.
    staging_version=v0.${KUBE_VERSION#v1.}
    quiet_go_mod download -json "k8s.io/kubernetes@$KUBE_VERSION" >download.json
    upstream_mod=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["GoMod"])' download.json)
    {
        printf 'module local/k8s-control-plane\n\ngo 1.%s.0\n\nrequire k8s.io/kubernetes %s\n\nreplace (\n' \
            "$KUBE_MIN_GO_MINOR" "$KUBE_VERSION"
        sed -nE 's#^[[:space:]]*(k8s\.io/[A-Za-z0-9._/-]+)[[:space:]]+=>[[:space:]]+\./staging/.*#\t\1 => \1 '"$staging_version"'#p' \
            "$upstream_mod" | sort -u
        printf ')\n'
    } >go.mod
    grep -q "k8s.io/api => k8s.io/api $staging_version" go.mod ||
        die "found no staging modules in k8s.io/kubernetes@$KUBE_VERSION's go.mod"
    {
        printf '//go:build tools\n\npackage tools\n\nimport (\n'
        for command in $KUBE_COMMANDS; do
            printf '\t_ "k8s.io/kubernetes/cmd/%s"\n' "$command"
        done
        printf ')\n'
    } >tools.go
    quiet_go_mod tidy
    major=${KUBE_VERSION#v}
    major=${major%%.*}
    minor=${KUBE_VERSION#v*.}
    minor=${minor%%.*}
    # Without these the binaries report v0.0.0-master.
    ldflags="-s -w"
    for package in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
        ldflags="$ldflags -X $package.gitVersion=$KUBE_VERSION -X $package.gitMajor=$major -X $package.gitMinor=$minor"
    done
    mkdir -p "$kube_bin"
    for command in $KUBE_COMMANDS; do
        say "  $command"
        build -ldflags "$ldflags" -o "$kube_bin/$command" "k8s.io/kubernetes/cmd/$command"
    done
    echo "$KUBE_VERSION" >"$kube_bin/.version"
fi
link_binaries
say "ready: $("$kube_bin/kube-apiserver" --version), etcd $("$etcd_bin/etcd" --version | awk 'NR==1{print $3}')"

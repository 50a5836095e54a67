#!/usr/bin/env bash
# Installs what the offline checks of the Kubernetes manifests (tests/k8s)
# need besides Python, into $WEIR_TOOLS (default ~/.cache/weir/tools):
#   bin/kustomize
#       renders k8s/base and the overlays as `kubectl apply -k` would; built
#       from its Go module (sigs.k8s.io/kustomize/kustomize/v5, pinned);
#   k8s-schemas/monitoring.coreos.com_servicemonitors.yaml
#       the Prometheus Operator's ServiceMonitor CRD, taken from its Go module
#       (pinned, checked against its hash), so the ServiceMonitor of
#       k8s/components/monitoring is validated against the schema the
#       operator enforces.
# kubernetes-validate, jsonschema and pytest come from scripts/setup-python.sh.
# Needs Go; scripts/setup-go.sh installs it when the machine has none recent
# enough. Safe to run repeatedly; prints nothing when everything is in place.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
WEIR_TOOLS=${WEIR_TOOLS:-$HOME/.cache/weir/tools}
# v5.8.2 and later need Go 1.26; scripts/setup-go.sh guarantees 1.25.
KUSTOMIZE_VERSION=v5.8.1
KUSTOMIZE_MIN_GO_MINOR=24
PROMETHEUS_OPERATOR_VERSION=v0.85.0
# The module proxy's hash of github.com/prometheus-operator/prometheus-operator@$PROMETHEUS_OPERATOR_VERSION.
PROMETHEUS_OPERATOR_SUM="h1:M5xLCLEoaW2IJfnuCwFzzpL+jSVQu3KGT84Pye+fW8s="
SERVICEMONITOR_CRD=example/prometheus-operator-crd/monitoring.coreos.com_servicemonitors.yaml

kustomize=$WEIR_TOOLS/bin/kustomize
schemas=$WEIR_TOOLS/k8s-schemas
servicemonitors=$schemas/monitoring.coreos.com_servicemonitors.yaml
servicemonitors_stamp=$servicemonitors.version

say() { echo "setup-k8s: $*" >&2; }
die() { echo "setup-k8s: error: $*" >&2; exit 1; }

kustomize_ok() { [ "$("$kustomize" version 2>/dev/null)" = "$KUSTOMIZE_VERSION" ]; }
servicemonitors_ok() {
    [ -s "$servicemonitors" ] && [ "$(cat "$servicemonitors_stamp" 2>/dev/null)" = "$PROMETHEUS_OPERATOR_VERSION" ]
}

if kustomize_ok && servicemonitors_ok; then
    exit 0
fi

# A Go that runs as itself (no toolchain switching) and is recent enough.
usable_go() {
    local minor
    minor=$(GOTOOLCHAIN=local "$1" env GOVERSION 2>/dev/null | sed -n 's/^go1\.\([0-9][0-9]*\).*/\1/p')
    [ -n "$minor" ] && [ "$minor" -ge "$KUSTOMIZE_MIN_GO_MINOR" ]
}
go_bin=
for candidate in "$(command -v go || true)" "$WEIR_TOOLS/go/bin/go"; do
    if [ -n "$candidate" ] && [ -x "$candidate" ] && usable_go "$candidate"; then
        go_bin=$candidate
        break
    fi
done
if [ -z "$go_bin" ]; then
    "$root/scripts/setup-go.sh"
    go_bin=$WEIR_TOOLS/go/bin/go
    usable_go "$go_bin" || die "no Go 1.$KUSTOMIZE_MIN_GO_MINOR or newer after scripts/setup-go.sh"
fi

# Outside any module of the repository, so that only the pinned versions
# count.
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
cd "$scratch"

if ! kustomize_ok; then
    say "installing kustomize $KUSTOMIZE_VERSION into $WEIR_TOOLS/bin (about a minute, once)"
    mkdir -p "$WEIR_TOOLS/bin"
    GOBIN="$WEIR_TOOLS/bin" GOTOOLCHAIN=local GO111MODULE=on \
        "$go_bin" install "sigs.k8s.io/kustomize/kustomize/v5@$KUSTOMIZE_VERSION" ||
        die "cannot build kustomize $KUSTOMIZE_VERSION from the Go module proxy"
    kustomize_ok || die "the installed kustomize does not report $KUSTOMIZE_VERSION"
fi

if ! servicemonitors_ok; then
    say "fetching the ServiceMonitor CRD of the Prometheus Operator $PROMETHEUS_OPERATOR_VERSION"
    GOTOOLCHAIN=local GO111MODULE=on GOFLAGS=-mod=mod \
        "$go_bin" mod download -json "github.com/prometheus-operator/prometheus-operator@$PROMETHEUS_OPERATOR_VERSION" \
        >"$scratch/download.json" ||
        die "cannot download github.com/prometheus-operator/prometheus-operator@$PROMETHEUS_OPERATOR_VERSION"
    dir=$(sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p' "$scratch/download.json")
    sum=$(sed -n 's/^[[:space:]]*"Sum": "\(.*\)",$/\1/p' "$scratch/download.json")
    [ "$sum" = "$PROMETHEUS_OPERATOR_SUM" ] ||
        die "the module's hash $sum is not the pinned $PROMETHEUS_OPERATOR_SUM"
    if [ -z "$dir" ] || [ ! -s "$dir/$SERVICEMONITOR_CRD" ]; then
        die "the module has no $SERVICEMONITOR_CRD"
    fi
    mkdir -p "$schemas"
    install -m 0644 "$dir/$SERVICEMONITOR_CRD" "$servicemonitors"
    echo "$PROMETHEUS_OPERATOR_VERSION" >"$servicemonitors_stamp"
fi

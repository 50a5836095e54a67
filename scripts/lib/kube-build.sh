# shellcheck shell=bash
# Shared by scripts/setup-kube-control-plane.sh and scripts/setup-kube-node.sh:
# how Kubernetes commands are built from the Go module proxy. Sourced, not
# run. The caller sets KUBE_VERSION and KUBE_MIN_GO_MINOR and defines say/die.

# Checks that `go` is recent enough for Kubernetes $KUBE_VERSION.
kube_check_go() {
    command -v go >/dev/null || die "Go is needed (scripts/setup-go.sh installs it)"
    local go_minor
    go_minor=$(go env GOVERSION | sed -E 's/^go1\.([0-9]+).*/\1/')
    [ "$go_minor" -ge "$KUBE_MIN_GO_MINOR" ] ||
        die "Kubernetes $KUBE_VERSION needs Go 1.$KUBE_MIN_GO_MINOR or newer; this is $(go env GOVERSION)"
}

# Go caches in a scratch directory: a cold build fills about 5 GB that
# nothing needs once the binaries exist, so they are removed on exit. Sets
# $scratch. Commands built in one run share the cache (kube-proxy after
# kubelet takes seconds), and so does a script this one runs: the scratch
# directory is exported as WEIR_KUBE_SCRATCH, which the first script to make
# it removes (the node's set-up builds the control plane in the same caches,
# so the kubelet then takes about a minute instead of 14).
kube_scratch_caches() {
    if [ -n "${WEIR_KUBE_SCRATCH:-}" ] && [ -d "$WEIR_KUBE_SCRATCH" ]; then
        scratch=$WEIR_KUBE_SCRATCH
    else
        scratch=$(mktemp -d)
        # The module cache is read-only; make it removable.
        trap 'chmod -R u+w "$scratch" 2>/dev/null; rm -rf "$scratch"' EXIT
        export WEIR_KUBE_SCRATCH=$scratch
    fi
    export GOPATH=$scratch/gopath GOCACHE=$scratch/gocache GOFLAGS=-mod=mod CGO_ENABLED=0
}

# The build is the heaviest thing this project does: let everything else on
# the machine go first.
kube_go_build() { nice -n 19 go build -trimpath "$@"; }

# `go mod` names every module it downloads (hundreds): keep the rest.
quiet_go_mod() { go mod "$@" 2> >(grep -v '^go: downloading' >&2); }

# kube_module DIR COMMAND...: makes DIR a Go module that builds the given
# k8s.io/kubernetes/cmd/COMMANDs at $KUBE_VERSION, and tidies it.
# k8s.io/kubernetes requires its staging modules at v0.0.0 and replaces them
# with ./staging/..., which its module zip does not hold: replace each with
# its published version, read from its own go.mod so the list stays right
# when the version changes.
kube_module() {
    local dir=$1 staging_version upstream_mod command
    shift
    mkdir -p "$dir"
    staging_version=v0.${KUBE_VERSION#v1.}
    (
        cd "$dir" || exit
        quiet_go_mod download -json "k8s.io/kubernetes@$KUBE_VERSION" >download.json
        upstream_mod=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["GoMod"])' download.json)
        {
            printf 'module local/k8s\n\ngo 1.%s.0\n\nrequire k8s.io/kubernetes %s\n\nreplace (\n' \
                "$KUBE_MIN_GO_MINOR" "$KUBE_VERSION"
            sed -nE 's#^[[:space:]]*(k8s\.io/[A-Za-z0-9._/-]+)[[:space:]]+=>[[:space:]]+\./staging/.*#\t\1 => \1 '"$staging_version"'#p' \
                "$upstream_mod" | sort -u
            printf ')\n'
        } >go.mod
        grep -q "k8s.io/api => k8s.io/api $staging_version" go.mod ||
            die "found no staging modules in k8s.io/kubernetes@$KUBE_VERSION's go.mod"
        # So that `go mod tidy` keeps the commands' dependencies.
        {
            printf '//go:build tools\n\npackage tools\n\nimport (\n'
            for command in "$@"; do
                printf '\t_ "k8s.io/kubernetes/cmd/%s"\n' "$command"
            done
            printf ')\n'
        } >tools.go
        quiet_go_mod tidy
    )
}

# kube_build_commands DIR OUT COMMAND...: builds each command of the module
# kube_module made in DIR into OUT, then records $KUBE_VERSION in OUT/.version
# (only after all of them: an interrupted build is redone).
kube_build_commands() {
    local dir=$1 out=$2 major minor ldflags package command
    shift 2
    major=${KUBE_VERSION#v}
    major=${major%%.*}
    minor=${KUBE_VERSION#v*.}
    minor=${minor%%.*}
    # Without these the binaries report v0.0.0-master.
    ldflags="-s -w"
    for package in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
        ldflags="$ldflags -X $package.gitVersion=$KUBE_VERSION -X $package.gitMajor=$major -X $package.gitMinor=$minor"
    done
    mkdir -p "$out"
    for command in "$@"; do
        say "  $command"
        # Under a temporary name, so an interrupted build leaves no binary
        # that looks complete.
        (cd "$dir" && kube_go_build -ldflags "$ldflags" -o "$out/.$command.partial" "k8s.io/kubernetes/cmd/$command")
        mv -f "$out/.$command.partial" "$out/$command"
    done
    echo "$KUBE_VERSION" >"$out/.version"
}

# kube_commands_ok DIR COMMAND...: all built, at $KUBE_VERSION.
kube_commands_ok() {
    local dir=$1 command
    shift
    for command in "$@"; do
        [ -x "$dir/$command" ] || return 1
    done
    [ "$(cat "$dir/.version" 2>/dev/null)" = "$KUBE_VERSION" ]
}

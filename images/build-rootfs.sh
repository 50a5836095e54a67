#!/usr/bin/env bash
# Builds the Weir image without a container engine: the same contents as
# images/Dockerfile's, assembled from this machine's release build of weir
# and packed FROM scratch with umoci.
#
#   images/build-rootfs.sh [--tag NAME:TAG] [--weir PATH] [--out DIR] [--import]
#
#   --tag     the image's name (default weir:latest; docker.io/library/ is implied)
#   --weir    the binary (default $CARGO_TARGET_DIR/release/weir, else target/release/weir)
#   --out     where the OCI layout and the docker-archive go (default: a temporary
#             directory, removed unless --out is given)
#   --import  import the image into the local cluster's containerd
#             (k8s/local/cluster import)
#
# The Dockerfile's runtime stage is distroless/cc: glibc, libgcc, CA
# certificates, a nonroot user 65532, no shell. Here the binary's own shared
# libraries (as ldd lists them) and dynamic loader come from this machine,
# which must therefore have a glibc no newer than the one the binary was
# built against (it is the one it was built on). The user, entrypoint,
# exposed ports and labels are read from the Dockerfile, so the two stay
# alike; the working directory and environment are distroless's. Needs
# umoci and skopeo (scripts/setup-kube-node.sh installs them) and root (file
# ownership in the layer).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
tag=weir:latest
weir=${CARGO_TARGET_DIR:-$root/target}/release/weir
out=
import=false

say() { echo "images/build-rootfs.sh: $*" >&2; }
die() { echo "images/build-rootfs.sh: error: $*" >&2; exit 1; }
# shellcheck source=k8s/local/lib/oci.sh
. "$root/k8s/local/lib/oci.sh"

while [ "$#" -gt 0 ]; do
    case "$1" in
        --tag) tag=${2:?--tag needs a value}; shift 2 ;;
        --weir) weir=${2:?--weir needs a value}; shift 2 ;;
        --out) out=${2:?--out needs a value}; shift 2 ;;
        --import) import=true; shift ;;
        *) die "unknown argument $1 (see the comment at the top of this script)" ;;
    esac
done
[ -x "$weir" ] || die "no weir binary at $weir: build it with make weir (or pass --weir PATH)"
[ "$(id -u)" = 0 ] || die "needs root, to give the layer's files their owners (0 and 65532)"
case "$tag" in
    */*) name=$tag ;;
    *) name=docker.io/library/$tag ;;
esac

if [ -n "$out" ]; then
    mkdir -p "$out"
    work=$(cd "$out" && pwd)
else
    work=$(mktemp -d)
    trap 'rm -rf "$work"' EXIT
fi
rootfs=$work/rootfs
rm -rf "$rootfs"
mkdir -p "$rootfs"

# ---------------------------------------------------------------- what the Dockerfile says

# USER, ENTRYPOINT, EXPOSE and LABEL of the final stage, as umoci config
# options; ${VERSION} takes the Dockerfile's default unless VERSION is set.
mapfile -t config < <(VERSION=${VERSION:-} python3 - "$root/images/Dockerfile" <<'EOF'
import json, os, re, shlex, sys
text = re.sub(r"\\\n", " ", open(sys.argv[1]).read())
lines = [l.strip() for l in text.splitlines() if l.strip() and not l.strip().startswith("#")]
last_from = max(i for i, l in enumerate(lines) if l.upper().startswith("FROM "))
args = {}
for l in lines:
    m = re.match(r"ARG\s+(\w+)=(\S+)", l)
    if m:
        args[m.group(1)] = m.group(2)
if os.environ.get("VERSION"):
    args["VERSION"] = os.environ["VERSION"]
sub = lambda s: re.sub(r"\$\{(\w+)\}", lambda m: args.get(m.group(1), ""), s)
for l in lines[last_from + 1:]:
    word, _, rest = l.partition(" ")
    word = word.upper()
    if word == "USER":
        print("--config.user=" + rest.strip())
    elif word == "ENTRYPOINT":
        for part in json.loads(rest):
            print("--config.entrypoint=" + part)
    elif word == "EXPOSE":
        for port in rest.split():
            print("--config.exposedports=" + (port if "/" in port else port + "/tcp"))
    elif word == "LABEL":
        for pair in shlex.split(rest):
            key, _, value = pair.partition("=")
            # There is no base image here: its contents are rebuilt below.
            if key == "org.opencontainers.image.base.name":
                continue
            print("--config.label=%s=%s" % (key, sub(value)))
EOF
)
printf '%s\n' "${config[@]}" | grep -q '^--config.entrypoint=/usr/local/bin/weir$' ||
    die "images/Dockerfile's final stage has no ENTRYPOINT [\"/usr/local/bin/weir\"]; this script follows it"

# ---------------------------------------------------------------- the root filesystem

# The binary, without its debug sections (line tables for backtraces make
# most of its size); symbol names stay, so backtraces still name functions.
install -d "$rootfs/usr/local/bin"
strip --strip-debug -o "$rootfs/usr/local/bin/weir" "$weir"
chmod 0755 "$rootfs/usr/local/bin/weir"

# Its shared libraries and the loader, at the paths ldd names (the files,
# not the symlinks that lead to them).
ldd "$weir" | awk '/=> \//{print $3} /^[[:space:]]*\//{print $1}' | while read -r lib; do
    install -D -m 0755 "$(readlink -f "$lib")" "$rootfs$lib"
done
[ -e "$rootfs/lib64/ld-linux-x86-64.so.2" ] || [ -n "$(find "$rootfs" -name 'ld-linux*' -print -quit)" ] ||
    die "ldd named no dynamic loader for $weir"

# CA certificates (TLS to S3, registries and the Kubernetes API), the users
# and groups of distroless's nonroot variant, name resolution from files then
# DNS, and the directories a process expects.
[ -s /etc/ssl/certs/ca-certificates.crt ] ||
    die "/etc/ssl/certs/ca-certificates.crt is missing (Debian: apt-get install ca-certificates)"
install -D -m 0644 /etc/ssl/certs/ca-certificates.crt "$rootfs/etc/ssl/certs/ca-certificates.crt"
printf '%s\n' 'root:x:0:0:root:/root:/sbin/nologin' 'nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin' \
    'nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin' >"$rootfs/etc/passwd"
printf '%s\n' 'root:x:0:' 'nobody:x:65534:' 'nonroot:x:65532:' >"$rootfs/etc/group"
printf '%s\n' 'hosts: files dns' >"$rootfs/etc/nsswitch.conf"
chmod 0644 "$rootfs/etc/passwd" "$rootfs/etc/group" "$rootfs/etc/nsswitch.conf"
install -d -m 1777 "$rootfs/tmp"
install -d -m 0700 "$rootfs/root"
install -d -m 0700 -o 65532 -g 65532 "$rootfs/home/nonroot"

# ---------------------------------------------------------------- the image

oci_build "$rootfs" "$work/oci" image "${config[@]}" \
    --config.workingdir=/home/nonroot \
    --config.env=PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --config.env=SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt >/dev/null
oci_archive "$work/oci" image "$work/weir.tar" "$name"
say "built $name: $(($(oci_size "$work/oci") / 1000000)) MB compressed, $(($(du -sb "$rootfs" | cut -f 1) / 1000000)) MB unpacked"
rm -rf "$rootfs"
if $import; then
    "$root/k8s/local/cluster" import "$work/weir.tar"
    say "imported $name into the local cluster"
fi
[ -z "$out" ] || say "OCI layout $work/oci (tag image), docker-archive $work/weir.tar"

# shellcheck shell=bash
# Container images without a container engine: a root filesystem made in a
# directory becomes a one-layer OCI image FROM scratch (umoci), a
# docker-archive (skopeo), and an image of containerd's k8s.io namespace
# (ctr), where the kubelet finds it. Sourced, not run; the caller defines
# say and die.

# oci_build ROOTFS LAYOUT TAG [umoci config option...]: writes the image
# LAYOUT:TAG (an OCI layout directory) whose only layer holds ROOTFS, owners
# and modes as they are there, with the given umoci config options
# (--config.entrypoint, --config.user, ...).
oci_build() {
    local rootfs=$1 layout=$2 tag=$3 bundle
    shift 3
    command -v umoci >/dev/null || die "umoci is missing (scripts/setup-kube-node.sh installs it)"
    rm -rf "$layout"
    bundle=$(mktemp -d)
    umoci init --layout "$layout"
    umoci new --image "$layout:$tag"
    # An empty image unpacks to an empty rootfs; filling it and repacking
    # makes the layer, with the ownership of the files (run as root, so
    # umoci records them as they are rather than mapping them to the caller).
    umoci unpack --image "$layout:$tag" "$bundle/b" >/dev/null
    cp -a "$rootfs/." "$bundle/b/rootfs/"
    umoci repack --image "$layout:$tag" "$bundle/b"
    rm -rf "$bundle"
    if [ "$#" -gt 0 ]; then
        umoci config --image "$layout:$tag" "$@"
    fi
    umoci gc --layout "$layout"
}

# oci_archive LAYOUT TAG ARCHIVE NAME: the image as a docker-archive tagged
# NAME (such as docker.io/library/weir:e2e), the format ctr imports.
oci_archive() {
    local layout=$1 tag=$2 archive=$3 name=$4
    command -v skopeo >/dev/null || die "skopeo is missing (scripts/setup-kube-node.sh installs it)"
    rm -f "$archive"
    skopeo --insecure-policy copy --quiet "oci:$layout:$tag" "docker-archive:$archive:$name"
}

# oci_import ADDRESS ARCHIVE: imports the archive into the k8s.io namespace
# of the containerd at ADDRESS (its socket), unpacked for the snapshotter
# the CRI uses, so pods with imagePullPolicy: Never/IfNotPresent find it.
oci_import() {
    local address=$1 archive=$2
    [ -S "$address" ] || die "no containerd socket at $address: is the local cluster up (k8s/local/cluster up)?"
    ctr --address "$address" --namespace k8s.io images import --snapshotter overlayfs "$archive" >/dev/null
}

# oci_size LAYOUT: bytes the image takes compressed (its blobs).
oci_size() { du -sb "$1/blobs" | cut -f 1; }

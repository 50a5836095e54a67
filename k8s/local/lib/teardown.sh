# shellcheck shell=bash
# Taking the local cluster down, and proving that nothing is left. Sourced by
# k8s/local/cluster. Every step tolerates what a failed or partial `up` left
# (or did not get to make), so `down` always runs to the end.

# Paths that containerd, its shims, libcni and the kubelet create whatever
# their configured directories say, children before parents. `up` records
# which of them did not exist yet (in $dir/created-paths); `down` removes
# exactly those.
FIXED_PATHS=(
    /opt/containerd /var/lib/cni/results /var/lib/cni /var/lib/kubelet/device-plugins
    /var/lib/kubelet /var/log/pods /var/log/containers /run/containerd /run/netns
)

record_fixed_paths() {
    local path
    : >"$dir/created-paths"
    for path in "${FIXED_PATHS[@]}"; do
        [ -e "$path" ] || echo "$path" >>"$dir/created-paths"
    done
}

# The paths `up` recorded, read before `down` removes the state directory.
created_paths=()
load_created_paths() {
    [ ! -f "$dir/created-paths" ] || mapfile -t created_paths <"$dir/created-paths"
}

# stop NAME: SIGTERM to the server started as NAME, SIGKILL after 15 s. The
# pid file holds the pid and its start time, so a reused pid is left alone.
stop() {
    local name=$1 file=$dir/pids/$1 pid started
    [ -f "$file" ] || return 0
    read -r pid started <"$file"
    if [ "$(start_time "$pid")" = "$started" ]; then
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 150); do
            [ "$(start_time "$pid")" = "$started" ] || break
            sleep 0.1
        done
        if [ "$(start_time "$pid")" = "$started" ]; then
            say "$name did not stop on SIGTERM; killing it"
            kill -KILL "$pid" 2>/dev/null || true
            sleep 0.5
        fi
    fi
    rm -f "$file"
}

# Processes of the cluster that are not servers: containers (in the kubepods
# cgroups), shims (whose command line names our containerd socket), and
# anything still in the cluster's netns.
stray_pids() {
    local pid
    find /sys/fs/cgroup/*/kubepods -name cgroup.procs -exec cat {} + 2>/dev/null || true
    [ ! -e "$netns_path" ] || ip netns pids "$netns" 2>/dev/null || true
    for pid in /proc/[0-9]*; do
        tr '\0' ' ' 2>/dev/null <"$pid/cmdline" | grep -qF "$dir/containerd/containerd.sock" && echo "${pid#/proc/}"
    done
    return 0
}

# Mount points under the state directory, the cluster's netns file, pod
# netns files (containerd puts them under its state; older ones under
# /run/netns/cni-*) and mounts at or under the fixed paths `up` created
# (iproute2 makes /run/netns a mount of itself), deepest first.
our_mounts() {
    local path patterns=(-e "^$dir/" -e "^/run/netns/($netns|cni-[0-9a-f-]+)\$")
    for path in "${created_paths[@]}"; do
        patterns+=(-e "^$path(/|\$)")
    done
    awk '{print $5}' /proc/self/mountinfo | grep -E "${patterns[@]}" | sort -r || true
}

down() {
    local sock=$dir/containerd/containerd.sock pid path ids
    load_created_paths
    if [ -e "$netns_path" ] && [ -f "$dir/admin.kubeconfig" ] &&
        in_netns "$bin/kubectl" --kubeconfig "$dir/admin.kubeconfig" get --raw /readyz --request-timeout=3s >/dev/null 2>&1; then
        say "deleting every pod, so the kubelet unmounts their volumes and frees their addresses"
        local k=(in_netns "$bin/kubectl" --kubeconfig "$dir/admin.kubeconfig" --request-timeout=20s)
        # Controllers first, or they would make the pods again.
        "${k[@]}" delete deployments,replicasets,statefulsets,daemonsets,jobs --all -A --wait=false >/dev/null 2>&1 || true
        "${k[@]}" delete pods --all -A --grace-period=1 --timeout=60s >/dev/null 2>&1 ||
            say "some pods did not go within 60 s; their containers are killed below"
    fi
    stop kube-proxy
    stop kubelet
    if [ -S "$sock" ]; then
        # What the kubelet did not stop: tasks (pause processes included).
        ids=$(ctr --address "$sock" -n k8s.io tasks ls -q 2>/dev/null || true)
        for id in $ids; do
            ctr --address "$sock" -n k8s.io tasks kill -s SIGKILL "$id" >/dev/null 2>&1 || true
        done
        [ -z "$ids" ] || sleep 1
        for id in $ids; do
            ctr --address "$sock" -n k8s.io tasks delete -f "$id" >/dev/null 2>&1 || true
        done
    fi
    for name in containerd kube-scheduler kube-controller-manager kube-apiserver etcd; do
        stop "$name"
    done
    # Whatever is left (a shim whose task could not be deleted, a container
    # that survived): it is the cluster's, by cgroup, netns or socket.
    for _ in 1 2 3; do
        pid=$(stray_pids | sort -u | tr '\n' ' ')
        [ -n "${pid// /}" ] || break
        # shellcheck disable=SC2086 # a list of pids
        kill -KILL $pid 2>/dev/null || true
        sleep 1
    done
    for path in $(our_mounts); do
        umount "$path" 2>/dev/null || umount -l "$path" 2>/dev/null || true
    done
    # The netns takes the veth pair, cni0, the iptables rules and
    # ip_forward with it.
    [ ! -e "$netns_path" ] || ip netns delete "$netns" 2>/dev/null || true
    for hierarchy in /sys/fs/cgroup/*/kubepods; do
        if [ -d "$hierarchy" ]; then
            find "$hierarchy" -depth -type d -exec rmdir {} + 2>/dev/null || true
        fi
    done
    for path in "${created_paths[@]}"; do
        rm -rf --one-file-system "$path"
    done
    # Kept when it was given: it may hold the logs someone wants to read.
    if [ -z "${WEIR_CLUSTER_DIR:-}" ]; then
        rm -rf --one-file-system "$dir"
    else
        rm -rf --one-file-system "$dir/containerd" "$dir/kubelet" "$dir/etcd" "$dir/cni" "$dir/pids"
    fi
}

# leftovers: prints what of the cluster is still there, one line each;
# nothing when `down` did its job.
leftovers() {
    local pid path
    for pid in $(stray_pids | sort -u); do
        echo "process $pid: $(tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline" | cut -c 1-120)"
    done
    for path in $(our_mounts); do echo "mount $path"; done
    [ ! -e "$netns_path" ] || echo "network namespace $netns_path"
    for path in /sys/fs/cgroup/*/kubepods; do
        [ ! -d "$path" ] || echo "cgroup $path"
    done
    for path in "${created_paths[@]}"; do
        [ ! -e "$path" ] || echo "path $path"
    done
    return 0
}

# shellcheck shell=bash
# How each server of the local cluster starts. Sourced by k8s/local/cluster,
# which defines start, in_netns, wait_for and the variables used here. Every
# server runs inside the cluster's network namespace, so the well-known
# ports cannot clash with anything on the host, and everything they change in
# the network (bridge, iptables rules, ip_forward) goes away with it.

start_etcd() {
    start etcd "$etcd_bin" --name weir-local --data-dir "$dir/etcd" \
        --listen-client-urls http://127.0.0.1:2379 --advertise-client-urls http://127.0.0.1:2379 \
        --listen-peer-urls http://127.0.0.1:2380 --initial-advertise-peer-urls http://127.0.0.1:2380 \
        --initial-cluster weir-local=http://127.0.0.1:2380 --listen-metrics-urls http://127.0.0.1:2381 \
        --unsafe-no-fsync
    wait_for "etcd" 30 in_netns curl -sf http://127.0.0.1:2379/health
}

start_apiserver() {
    local p=$dir/pki
    # Listening on the node IP with the lease reconciler gives the
    # `kubernetes` Service an endpoint, so in-cluster clients (CoreDNS, the
    # JobManager) reach the API. The apiserver dials kubelets by InternalIP:
    # the node's name resolves nowhere.
    start kube-apiserver "$bin/kube-apiserver" --etcd-servers=http://127.0.0.1:2379 \
        --bind-address=0.0.0.0 --advertise-address="$node_ip" --secure-port="$api_port" \
        --endpoint-reconciler-type=lease \
        --cert-dir="$dir/apiserver" --tls-cert-file="$p/apiserver.crt" --tls-private-key-file="$p/apiserver.key" \
        --client-ca-file="$p/ca.crt" \
        --service-account-issuer=https://kubernetes.default.svc.cluster.local \
        --service-account-key-file="$p/sa.pub" --service-account-signing-key-file="$p/sa.key" \
        --service-cluster-ip-range="$service_cidr" --authorization-mode=Node,RBAC \
        --allow-privileged=true --profiling=false \
        --kubelet-preferred-address-types=InternalIP,Hostname \
        --kubelet-client-certificate="$p/admin.crt" --kubelet-client-key="$p/admin.key"
    wait_for "kube-apiserver /readyz" 90 in_netns curl -sf --cacert "$p/ca.crt" \
        --cert "$p/admin.crt" --key "$p/admin.key" "https://$node_ip:$api_port/readyz"
}

start_controllers() {
    local kc=$dir/admin.kubeconfig p=$dir/pki
    # All controllers, node lifecycle included: it lifts the not-ready taint
    # once the kubelet reports Ready.
    start kube-controller-manager "$bin/kube-controller-manager" --kubeconfig="$kc" \
        --authentication-kubeconfig="$kc" --authorization-kubeconfig="$kc" \
        --bind-address=127.0.0.1 --secure-port=10257 \
        --service-account-private-key-file="$p/sa.key" --root-ca-file="$p/ca.crt" \
        --cluster-signing-cert-file="$p/ca.crt" --cluster-signing-key-file="$p/ca.key" \
        --use-service-account-credentials=true --leader-elect=false --controllers='*'
    start kube-scheduler "$bin/kube-scheduler" --kubeconfig="$kc" \
        --authentication-kubeconfig="$kc" --authorization-kubeconfig="$kc" \
        --bind-address=127.0.0.1 --secure-port=10259 --leader-elect=false
}

start_containerd() {
    local c=$dir/containerd
    mkdir -p "$c" "$dir/cni/net.d"
    # Its own root, state, socket and runc root, so it shares nothing with a
    # containerd the host may run. restrict_oom_score_adj: the kubelet asks
    # for oom_score_adj -998 for sandboxes, which a root without
    # CAP_SYS_RESOURCE (common in VMs and containers) may not set; runc then
    # fails every sandbox with "can't get final child's PID from pipe: EOF".
    cat >"$c/config.toml" <<EOF
version = 2
root = "$c/root"
state = "$c/state"
[grpc]
  address = "$c/containerd.sock"
[plugins."io.containerd.internal.v1.opt"]
  path = "$c/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$pause_image"
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = "$c/runc"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$dir/cni/net.d"
EOF
    # A bridge in the cluster's netns, pod addresses from host-local with
    # its data under the state directory.
    cat >"$dir/cni/net.d/10-weir-local.conflist" <<EOF
{
  "cniVersion": "0.4.0",
  "name": "weir-local",
  "plugins": [
    {
      "type": "bridge", "bridge": "cni0", "isGateway": true, "ipMasq": true, "hairpinMode": true,
      "ipam": {
        "type": "host-local", "dataDir": "$dir/cni/networks",
        "ranges": [[{"subnet": "$pod_cidr"}]], "routes": [{"dst": "0.0.0.0/0"}]
      }
    },
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
EOF
    start containerd containerd --config "$c/config.toml"
    wait_for "containerd" 30 ctr --address "$c/containerd.sock" version
}

start_kubelet() {
    local k=$dir/kubelet s=$dir/sysctl
    mkdir -p "$k" "$s" "$dir/pod-logs"
    cat >"$dir/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
# The host may still be on cgroup v1; kubelet only warns then.
failCgroupV1: false
cgroupDriver: cgroupfs
containerRuntimeEndpoint: unix://$dir/containerd/containerd.sock
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $dir/pki/ca.crt}
authorization: {mode: Webhook}
clusterDomain: cluster.local
clusterDNS: [$dns_ip]
resolvConf: $dir/resolv.conf
podLogsDir: $dir/pod-logs
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
failSwapOn: false
protectKernelDefaults: false
# The node is a test machine: evict nothing and collect no images (they
# were imported, nothing could pull them again).
evictionHard: {memory.available: "50Mi", nodefs.available: "1%", imagefs.available: "1%"}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
EOF
    echo "nameserver $dns_ip" >"$dir/resolv.conf"
    # Its root directory is a shared mount: the tmpfs and bind mounts the
    # kubelet makes there for volumes (in its own mount namespace, below)
    # must reach containerd, in the host's.
    mount --bind "$k" "$k"
    mount --make-shared "$k"
    # kubelet sets vm.overcommit_memory=1, kernel.panic=10 and
    # kernel.panic_on_oops=1 host-wide unless they already hold these
    # values (or refuses to start, with protectKernelDefaults). It runs in a
    # mount namespace of its own where those three files are files of ours,
    # holding what it wants, so the host's settings are left alone.
    echo 1 >"$s/overcommit_memory"
    echo 10 >"$s/panic"
    echo 1 >"$s/panic_on_oops"
    # shellcheck disable=SC2016 # expanded by the inner shell
    start kubelet unshare --mount --propagation unchanged sh -c '
        set -e
        mount --make-rprivate /proc
        mount --bind "$1/overcommit_memory" /proc/sys/vm/overcommit_memory
        mount --bind "$1/panic" /proc/sys/kernel/panic
        mount --bind "$1/panic_on_oops" /proc/sys/kernel/panic_on_oops
        shift
        exec "$@"' kubelet "$s" \
        "$bin/kubelet" --config="$dir/kubelet.yaml" --kubeconfig="$dir/kubelet.kubeconfig" \
        --root-dir="$k" --cert-dir="$dir/kubelet-pki" \
        --hostname-override="$node_name" --node-ip="$node_ip"
}

start_kube_proxy() {
    # Conntrack limits and timeouts of 0 and oom-score-adj 0: kube-proxy then
    # writes no host-wide sysctl (its net.* ones are the netns's own).
    start kube-proxy "$bin/kube-proxy" --kubeconfig="$dir/admin.kubeconfig" \
        --hostname-override="$node_name" --proxy-mode=iptables --cluster-cidr="$pod_cidr" \
        --conntrack-max-per-core=0 --conntrack-min=0 \
        --conntrack-tcp-timeout-established=0 --conntrack-tcp-timeout-close-wait=0 \
        --oom-score-adj=0 --metrics-bind-address=127.0.0.1:10249 --healthz-bind-address=127.0.0.1:10256
}

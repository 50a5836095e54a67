# shellcheck shell=bash
# The local cluster's certificates and kubeconfigs, made with openssl.
# Sourced by k8s/local/cluster, which sets $dir (the state directory),
# $node_name, $node_ip and $api_port.

# cert NAME SUBJECT [SANS]: NAME.key and NAME.crt in $dir/pki, signed by the
# cluster's CA, for 1 year; SANS (subjectAltName syntax) makes it a serving
# certificate too.
cert() {
    local name=$1 subject=$2 sans=${3:-} p=$dir/pki ext
    ext=$p/$name.ext
    {
        echo "basicConstraints=CA:FALSE"
        echo "keyUsage=critical,digitalSignature,keyEncipherment"
        if [ -n "$sans" ]; then
            echo "extendedKeyUsage=serverAuth,clientAuth"
            echo "subjectAltName=$sans"
        else
            echo "extendedKeyUsage=clientAuth"
        fi
    } >"$ext"
    openssl req -new -newkey rsa:2048 -nodes -keyout "$p/$name.key" -subj "$subject" \
        -out "$p/$name.csr" 2>/dev/null
    openssl x509 -req -in "$p/$name.csr" -CA "$p/ca.crt" -CAkey "$p/ca.key" -CAcreateserial \
        -days 365 -extfile "$ext" -out "$p/$name.crt" 2>/dev/null
    rm -f "$p/$name.csr" "$ext"
}

# kubeconfig NAME: $dir/NAME.kubeconfig, authenticating with the client
# certificate NAME.
kubeconfig() {
    local name=$1 p=$dir/pki
    cat >"$dir/$name.kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
  - name: weir-local
    cluster:
      server: https://$node_ip:$api_port
      certificate-authority: $p/ca.crt
users:
  - name: $name
    user:
      client-certificate: $p/$name.crt
      client-key: $p/$name.key
contexts:
  - name: weir-local
    context:
      cluster: weir-local
      user: $name
current-context: weir-local
EOF
}

make_pki() {
    local p=$dir/pki
    mkdir -p "$p"
    chmod 700 "$p"
    openssl req -x509 -new -newkey rsa:2048 -nodes -keyout "$p/ca.key" -subj "/CN=weir-local-ca" \
        -days 365 -out "$p/ca.crt" 2>/dev/null
    # The apiserver is reached as the node IP from the node, as the
    # `kubernetes` Service's ClusterIP (10.0.0.1) and names from pods.
    cert apiserver "/CN=kube-apiserver" \
        "IP:$node_ip,IP:127.0.0.1,IP:10.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
    # system:masters: kubectl, the controller manager, the scheduler,
    # kube-proxy, and the apiserver towards the kubelet (whose webhook
    # authorization then allows logs and exec).
    cert admin "/O=system:masters/CN=kubernetes-admin"
    # The kubelet as its node, which the Node authorizer expects.
    cert kubelet "/O=system:nodes/CN=system:node:$node_name"
    openssl genrsa -out "$p/sa.key" 2048 2>/dev/null
    openssl rsa -in "$p/sa.key" -pubout -out "$p/sa.pub" 2>/dev/null
    kubeconfig admin
    kubeconfig kubelet
}

#!/usr/bin/env bash
# Installs a real OCI registry (CNCF distribution, Debian's docker-registry)
# and skopeo, a standard OCI tool: the module distribution tests push to and
# pull from the registry on loopback, and check that skopeo reads what
# `weir push` writes. The registry is started by the tests themselves (never
# as a system service). Safe to run repeatedly; quiet when in place.
set -euo pipefail

if [ -x /usr/bin/docker-registry ] && command -v skopeo >/dev/null 2>&1; then
    exit 0
fi
if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    echo "setup-registry: installing docker-registry and skopeo" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        docker-registry skopeo >/dev/null
    # The package starts a registry on port 5000 as a service; the tests
    # start their own on free ports.
    if command -v systemctl >/dev/null 2>&1; then
        systemctl disable --now docker-registry >/dev/null 2>&1 || true
    fi
else
    echo "error: docker-registry and skopeo are missing; install them (Debian/Ubuntu: apt-get install docker-registry skopeo)." >&2
    exit 1
fi

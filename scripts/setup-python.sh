#!/usr/bin/env bash
# Installs what the Python SDK (operators-sdk/python) needs: a virtual
# environment at $WEIR_TOOLS/python (WEIR_TOOLS defaults to
# ~/.cache/weir/tools) holding, from PyPI,
#   - componentize-py, which builds Python operators into components,
#   - pytest, for the SDK's tests,
#   - the SDK itself (weir-operator), installed editable from this checkout,
#   - moto's server, an S3-compatible object store the checkpoint storage
#     tests run on loopback (moto_server),
#   - kubernetes-validate and jsonschema, which check the manifests of k8s/
#     offline (tests/k8s), and oras, an independent OCI client that the
#     module registry tests cross-check against,
# so that afterwards
#   $WEIR_TOOLS/python/bin/python -m weir_operator build PROJECT -o OUT.wasm
#   $WEIR_TOOLS/python/bin/python -m pytest operators-sdk/python
# work. Needs Python 3.11 or newer with venv (on Debian: python3 and
# python3-venv, installed here when running as root).
#
# Safe to run repeatedly; prints nothing when everything is in place.
set -euo pipefail

COMPONENTIZE_PY_VERSION=0.25.1
PYTEST_VERSION=9.2.0
MOTO_VERSION=5.2.5
KUBERNETES_VALIDATE_VERSION=1.37.0
JSONSCHEMA_VERSION=4.26.0
ORAS_VERSION=0.2.43

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
tools=${WEIR_TOOLS:-$HOME/.cache/weir/tools}
venv=$tools/python
sdk=$repo/operators-sdk/python
stamp=$venv/.weir-setup
want="componentize-py==$COMPONENTIZE_PY_VERSION pytest==$PYTEST_VERSION moto==$MOTO_VERSION"
want="$want kubernetes-validate==$KUBERNETES_VALIDATE_VERSION jsonschema==$JSONSCHEMA_VERSION"
want="$want oras==$ORAS_VERSION sdk=$sdk"

say() { echo "setup-python: $*" >&2; }

# Nothing to do when the environment was made by this script, for this
# checkout, with these versions, and still works.
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] &&
    "$venv/bin/python" -c 'import weir_operator, kubernetes_validate, jsonschema, oras' >/dev/null 2>&1 &&
    "$venv/bin/componentize-py" --version >/dev/null 2>&1 &&
    [ -x "$venv/bin/moto_server" ]; then
    exit 0
fi

usable() {
    "$1" -c 'import sys, venv, ensurepip; sys.exit(sys.version_info < (3, 11))' >/dev/null 2>&1
}

python=
for candidate in python3 python3.13 python3.12 python3.11; do
    if command -v "$candidate" >/dev/null 2>&1 && usable "$candidate"; then
        python=$(command -v "$candidate")
        break
    fi
done

if [ -z "$python" ]; then
    if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
        say "installing python3 and python3-venv from Debian"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq --no-install-recommends python3 python3-venv >/dev/null
        if usable /usr/bin/python3; then
            python=/usr/bin/python3
        fi
    fi
fi
if [ -z "$python" ]; then
    echo "error: the Python SDK needs Python 3.11 or newer with the venv module." >&2
    echo "On Debian or Ubuntu, as root: apt-get install -y python3 python3-venv" >&2
    echo "Then run scripts/setup-python.sh again." >&2
    exit 1
fi

if ! "$venv/bin/python" -c 'import sys' >/dev/null 2>&1; then
    say "creating a virtual environment at $venv"
    rm -rf "$venv"
    mkdir -p "$tools"
    "$python" -m venv "$venv"
fi

say "installing componentize-py $COMPONENTIZE_PY_VERSION, pytest $PYTEST_VERSION, moto $MOTO_VERSION," \
    "kubernetes-validate $KUBERNETES_VALIDATE_VERSION, jsonschema $JSONSCHEMA_VERSION, oras $ORAS_VERSION" \
    "and the SDK into $venv"
if ! "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
    "componentize-py==$COMPONENTIZE_PY_VERSION" "pytest==$PYTEST_VERSION" \
    "moto[server]==$MOTO_VERSION" "kubernetes-validate==$KUBERNETES_VALIDATE_VERSION" \
    "jsonschema==$JSONSCHEMA_VERSION" "oras==$ORAS_VERSION" -e "$sdk"; then
    echo "error: pip could not install the Python SDK's tools from PyPI (see above)." >&2
    exit 1
fi
echo "$want" >"$stamp"

"""Offline checks of the Kubernetes manifests in k8s/.

No cluster is involved: every manifest file and every kustomize rendering is
validated strictly (an unknown field or a wrong type is an error, as the API
server's strict field validation would make it) against the Kubernetes API's
schemas of one pinned version (kubernetes-validate), and custom resources
against their CRD's own schema. On top of that come the properties users
rely on: resources, pod security, probes, Services that reach their pods,
RBAC that refers to what exists, and the cross-references inside weir.yaml.

Needs scripts/setup-python.sh and scripts/setup-k8s.sh (`make test-k8s`).
"""

import copy
import functools
import os
import shutil
import subprocess
from pathlib import Path

import jsonschema
import kubernetes_validate
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "k8s"
TOOLS = Path(os.environ.get("WEIR_TOOLS") or Path.home() / ".cache" / "weir" / "tools")
# The API version the manifests must be valid for; k8s-openapi on the Rust
# side speaks the same one.
KUBERNETES_VERSION = "1.33.0"

IMAGE = "weir:latest"
NAMESPACE = "weir"
CONFIG_MAP = "weir-conf"
NAME_LABEL = "app.kubernetes.io/name"
COMPONENT_LABEL = "app.kubernetes.io/component"

# Every kustomization a user applies, plus the base with all its optional
# components (a fixture next to this file).
DEPLOYMENTS = [
    "k8s/base",
    "k8s/overlays/native",
    "k8s/overlays/ha",
    "k8s/examples",
    "tests/k8s/with-components",
]
BUILDS = DEPLOYMENTS + ["k8s/crd"]


# ---------------------------------------------------------------- loading


def kustomize_binary():
    pinned = TOOLS / "bin" / "kustomize"
    if pinned.exists():
        return str(pinned)
    found = shutil.which("kustomize")
    if found is None:
        pytest.fail("kustomize is not installed: run scripts/setup-k8s.sh")
    return found


@functools.cache
def build(directory):
    """The objects `kustomize build DIRECTORY` renders."""
    result = subprocess.run(
        [kustomize_binary(), "build", str(ROOT / directory)],
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        pytest.fail(f"kustomize build {directory} failed:\n{result.stderr}")
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def is_object(doc):
    return isinstance(doc, dict) and "apiVersion" in doc and "kind" in doc


def patch_files():
    """Files that kustomizations use as patches: partial objects by design."""
    patches = set()
    for kustomization in K8S.rglob("kustomization.yaml"):
        spec = yaml.safe_load(kustomization.read_text()) or {}
        for entry in spec.get("patches", []) + spec.get("patchesStrategicMerge", []):
            path = entry.get("path") if isinstance(entry, dict) else entry
            if path:
                patches.add((kustomization.parent / path).resolve())
        for entry in spec.get("patchesJson6902", []):
            if entry.get("path"):
                patches.add((kustomization.parent / entry["path"]).resolve())
    return patches


def manifest_files():
    """Every YAML file under k8s/ that holds Kubernetes objects: not the
    kustomizations, not patches, not weir.yaml configuration files."""
    patches = patch_files()
    files = []
    for path in sorted(K8S.rglob("*.y*ml")):
        if path.name == "kustomization.yaml" or path.resolve() in patches:
            continue
        docs = [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
        if any(is_object(doc) for doc in docs):
            files.append(path.relative_to(ROOT).as_posix())
    return files


def load_file(relative):
    return [doc for doc in yaml.safe_load_all((ROOT / relative).read_text()) if doc]


def object_name(obj):
    return f"{obj.get('kind')}/{obj.get('metadata', {}).get('name')}"


# ---------------------------------------------------------------- validation


def crd_documents():
    """The CRDs in k8s/crd and those setup-k8s.sh fetched (the Prometheus
    Operator's ServiceMonitor)."""
    sources = sorted((K8S / "crd").glob("*.yaml")) + sorted((TOOLS / "k8s-schemas").glob("*.yaml"))
    for path in sources:
        if path.name == "kustomization.yaml":
            continue
        for doc in yaml.safe_load_all(path.read_text()):
            if is_object(doc) and doc["kind"] == "CustomResourceDefinition":
                yield doc


@functools.cache
def crd_schemas():
    """(apiVersion, kind) -> the openAPIV3Schema of every served version."""
    schemas = {}
    for crd in crd_documents():
        spec = crd["spec"]
        for version in spec["versions"]:
            if version.get("served", True):
                key = (f"{spec['group']}/{version['name']}", spec["names"]["kind"])
                schemas[key] = version["schema"]["openAPIV3Schema"]
    return schemas


def strict_schema(schema):
    """The JSON Schema that a CRD's structural OpenAPI schema means, with
    unknown fields refused: every object schema that lists properties and
    does not preserve unknown fields gets additionalProperties: false, as the
    API server prunes (and strict validation rejects) fields it does not
    know."""
    if not isinstance(schema, dict):
        return schema
    out = {}
    for key, value in schema.items():
        if key == "properties":
            out[key] = {name: strict_schema(sub) for name, sub in value.items()}
        elif key in ("items", "additionalProperties", "not"):
            if isinstance(value, list):
                out[key] = [strict_schema(sub) for sub in value]
            else:
                out[key] = strict_schema(value)
        elif key in ("allOf", "anyOf", "oneOf"):
            out[key] = [strict_schema(sub) for sub in value]
        else:
            out[key] = value
    if out.get("x-kubernetes-embedded-resource"):
        props = out.setdefault("properties", {})
        props.setdefault("apiVersion", {"type": "string"})
        props.setdefault("kind", {"type": "string"})
        props.setdefault("metadata", {"type": "object"})
    if out.get("x-kubernetes-int-or-string") and "type" not in out:
        out["anyOf"] = out.get("anyOf", []) + [{"type": "integer"}, {"type": "string"}]
    # OpenAPI's nullable is JSON Schema's null type.
    if out.get("nullable") and "type" in out:
        out["type"] = [out["type"], "null"]
        if "enum" in out:
            out["enum"] = out["enum"] + [None]
    if (
        "properties" in out
        and not out.get("x-kubernetes-preserve-unknown-fields")
        and "additionalProperties" not in out
    ):
        out["additionalProperties"] = False
    return out


class InvalidObject(Exception):
    pass


def validate_custom(obj, schema):
    schema = copy.deepcopy(schema)
    # The API server checks apiVersion, kind and metadata itself; CRD schemas
    # may leave them out.
    props = schema.setdefault("properties", {})
    props.setdefault("apiVersion", {"type": "string"})
    props.setdefault("kind", {"type": "string"})
    props.setdefault("metadata", {"type": "object"})
    validator = jsonschema.Draft4Validator(strict_schema(schema))
    errors = sorted(validator.iter_errors(obj), key=lambda e: list(e.absolute_path))
    if errors:
        raise InvalidObject(
            "; ".join(
                f"{'.'.join(str(p) for p in e.absolute_path) or '(root)'}: {e.message}"
                for e in errors
            )
        )
    # metadata is an ObjectMeta like any other object's: checked strictly by
    # validating it as a ConfigMap's.
    validate_builtin({"apiVersion": "v1", "kind": "ConfigMap", "metadata": obj.get("metadata", {})})


def validate_builtin(obj):
    try:
        kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.ValidationError as e:
        path = ".".join(str(p) for p in e.path) or "(root)"
        raise InvalidObject(f"{path}: {e.message}") from None


def validate(obj):
    """Raises InvalidObject unless obj is valid: strictly against the
    Kubernetes API's schema, or against its CRD's when it is a custom
    resource. A kind that is neither is an error, not a pass."""
    if not is_object(obj):
        raise InvalidObject("not a Kubernetes object (no apiVersion or kind)")
    schema = crd_schemas().get((obj["apiVersion"], obj["kind"]))
    if schema is not None:
        validate_custom(obj, schema)
        return
    try:
        validate_builtin(obj)
    except kubernetes_validate.SchemaNotFoundError:
        raise InvalidObject(
            f"no schema for {obj['kind']} ({obj['apiVersion']}): neither a Kubernetes "
            f"{KUBERNETES_VERSION} kind nor one with a CRD in k8s/crd or "
            f"{TOOLS / 'k8s-schemas'} (scripts/setup-k8s.sh fetches the ServiceMonitor's)"
        ) from None


def assert_all_valid(objects, origin):
    problems = []
    for obj in objects:
        try:
            validate(obj)
        except InvalidObject as e:
            problems.append(f"{object_name(obj)}: {e}")
    assert not problems, f"{origin}:\n  " + "\n  ".join(problems)


# ---------------------------------------------------------------- helpers


def of_kind(objects, kind):
    return [obj for obj in objects if obj["kind"] == kind]


def named(objects, kind, name):
    found = [obj for obj in of_kind(objects, kind) if obj["metadata"]["name"] == name]
    return found[0] if found else None


def weir_conf(objects):
    config_map = named(objects, "ConfigMap", CONFIG_MAP)
    assert config_map is not None, f"no ConfigMap {CONFIG_MAP}"
    return config_map


def weir_yaml(objects):
    return yaml.safe_load(weir_conf(objects)["data"]["weir.yaml"])


def pod_template(objects):
    """The native TaskManager pod template inside weir-conf, if any."""
    config_map = named(objects, "ConfigMap", CONFIG_MAP)
    if config_map is None or "taskmanager-pod-template.yaml" not in config_map.get("data", {}):
        return None
    return yaml.safe_load(config_map["data"]["taskmanager-pod-template.yaml"])


def pods(objects):
    """(origin, labels, pod spec) of every pod the rendering makes: the
    Deployments' templates and the native pod template."""
    found = []
    for deployment in of_kind(objects, "Deployment"):
        template = deployment["spec"]["template"]
        labels = template["metadata"].get("labels", {})
        found.append((object_name(deployment), labels, template["spec"]))
    for pod in of_kind(objects, "Pod"):
        found.append((object_name(pod), pod["metadata"].get("labels", {}), pod["spec"]))
    template = pod_template(objects)
    if template is not None:
        labels = template["metadata"].get("labels", {})
        found.append(("the native pod template", labels, template["spec"]))
    return found


def env_of(container):
    return {e["name"]: e for e in container.get("env", [])}


def selects(selector, labels):
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


# ---------------------------------------------------------------- schema validation


@pytest.mark.parametrize("path", manifest_files())
def test_manifest_file_is_valid(path):
    assert_all_valid(load_file(path), path)


@pytest.mark.parametrize("directory", BUILDS)
def test_kustomize_build_is_valid(directory):
    objects = build(directory)
    assert objects, f"kustomize build {directory} rendered nothing"
    assert_all_valid(objects, f"kustomize build {directory}")


def test_native_pod_template_is_a_valid_pod():
    template = pod_template(build("k8s/overlays/native"))
    assert template is not None, "the native weir-conf has no taskmanager-pod-template.yaml"
    assert template["kind"] == "Pod"
    assert_all_valid([template], "the native overlay's taskmanager-pod-template.yaml")
    names = [c["name"] for c in template["spec"]["containers"]]
    # The JobManager configures the container of this name.
    assert "taskmanager" in names, names


def test_every_manifest_directory_is_checked():
    """A new overlay or component must be added to DEPLOYMENTS (or rendered
    by one of them) to be validated."""
    listed = {str(ROOT / d) for d in BUILDS}
    for kustomization in K8S.rglob("kustomization.yaml"):
        spec = yaml.safe_load(kustomization.read_text())
        directory = str(kustomization.parent)
        if spec.get("kind") == "Component":
            fixture = ROOT / "tests/k8s/with-components"
            components = yaml.safe_load((fixture / "kustomization.yaml").read_text())["components"]
            used = {str((fixture / c).resolve()) for c in components}
            assert directory in used, f"component {directory} is not in tests/k8s/with-components"
        else:
            assert directory in listed, f"{directory} is not in DEPLOYMENTS"


# ---------------------------------------------------------------- the validator can fail


def valid_deployment():
    return copy.deepcopy(named(build("k8s/base"), "Deployment", "weir-taskmanager"))


def valid_weirjob():
    return copy.deepcopy(load_file("k8s/examples/wordcount.weirjob.yaml")[0])


def test_validator_rejects_an_unknown_field():
    deployment = valid_deployment()
    validate(deployment)
    deployment["spec"]["template"]["spec"]["containers"][0]["imagePullPolicyy"] = "Always"
    with pytest.raises(InvalidObject, match="imagePullPolicyy"):
        validate(deployment)


def test_validator_rejects_a_wrong_type():
    deployment = valid_deployment()
    deployment["spec"]["replicas"] = "two"
    with pytest.raises(InvalidObject, match="replicas"):
        validate(deployment)


def test_validator_rejects_a_misplaced_field():
    deployment = valid_deployment()
    # A field that exists, one level too high.
    deployment["spec"]["template"]["spec"]["readOnlyRootFilesystem"] = True
    with pytest.raises(InvalidObject, match="readOnlyRootFilesystem"):
        validate(deployment)


def test_validator_rejects_unknown_fields_of_a_custom_resource():
    weirjob = valid_weirjob()
    validate(weirjob)
    weirjob["spec"]["upgradeMod"] = "savepoint"
    with pytest.raises(InvalidObject, match="upgradeMod"):
        validate(weirjob)


def test_validator_rejects_wrong_types_and_values_of_a_custom_resource():
    weirjob = valid_weirjob()
    weirjob["spec"]["parallelism"] = "2"
    with pytest.raises(InvalidObject, match="parallelism"):
        validate(weirjob)
    weirjob = valid_weirjob()
    weirjob["spec"]["upgradeMode"] = "rolling"
    with pytest.raises(InvalidObject, match="rolling"):
        validate(weirjob)
    weirjob = valid_weirjob()
    weirjob["metadata"]["lables"] = {"a": "b"}
    with pytest.raises(InvalidObject, match="lables"):
        validate(weirjob)


def test_the_job_inside_a_weirjob_is_checked_by_its_schema():
    # spec.job's schema comes from the job spec's types (design record 010):
    # a misspelt field is refused at apply time, while an operator's config
    # is the operator's and may hold anything.
    weirjob = valid_weirjob()
    weirjob["spec"]["job"]["operators"][0]["config"]["somethingNew"] = {"any": ["thing"]}
    validate(weirjob)
    weirjob["spec"]["job"]["paralelism"] = 2
    with pytest.raises(InvalidObject, match="paralelism"):
        validate(weirjob)


def test_validator_rejects_unknown_fields_of_a_servicemonitor():
    monitor = copy.deepcopy(named(build("tests/k8s/with-components"), "ServiceMonitor", "weir"))
    validate(monitor)
    monitor["spec"]["endpoints"][0]["portName"] = "metrics"
    with pytest.raises(InvalidObject, match="portName"):
        validate(monitor)
    monitor = copy.deepcopy(named(build("tests/k8s/with-components"), "ServiceMonitor", "weir"))
    monitor["spec"]["endpoints"][0]["interval"] = 15
    with pytest.raises(InvalidObject, match="interval"):
        validate(monitor)


def test_validator_rejects_a_kind_without_schema():
    with pytest.raises(InvalidObject, match="no schema"):
        validate({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}})


# ---------------------------------------------------------------- what users rely on


@pytest.mark.parametrize("directory", DEPLOYMENTS)
def test_every_container_has_requests_and_limits(directory):
    for origin, _, spec in pods(build(directory)):
        for container in spec.get("initContainers", []) + spec["containers"]:
            resources = container.get("resources", {})
            for part in ("requests", "limits"):
                for resource in ("cpu", "memory"):
                    assert resource in resources.get(part, {}), (
                        f"{origin}: container {container['name']} has no {part}.{resource}"
                    )
            # Memory is not overcommitted: a limit above the request lets
            # the node run out and kill TaskManagers in the middle of a job.
            assert resources["limits"]["memory"] == resources["requests"]["memory"], (
                f"{origin}: container {container['name']}: memory limit differs from its request"
            )


@pytest.mark.parametrize("directory", DEPLOYMENTS)
def test_pods_meet_the_restricted_pod_security_standard(directory):
    found = pods(build(directory))
    assert found
    for origin, _, spec in found:
        pod = spec.get("securityContext", {})
        assert pod.get("runAsNonRoot") is True, origin
        assert pod.get("runAsUser") == 65532, origin
        assert pod.get("runAsGroup") == 65532, origin
        assert pod.get("fsGroup") == 65532, origin
        assert pod.get("seccompProfile", {}).get("type") == "RuntimeDefault", origin
        assert spec.get("enableServiceLinks") is False, (
            f"{origin}: Service link variables of weir-* Services look like WEIR_ settings"
        )
        for name in ("hostNetwork", "hostPID", "hostIPC"):
            assert not spec.get(name), origin
        for container in spec.get("initContainers", []) + spec["containers"]:
            where = f"{origin}: container {container['name']}"
            context = container.get("securityContext", {})
            assert context.get("allowPrivilegeEscalation") is False, where
            assert context.get("readOnlyRootFilesystem") is True, where
            assert "ALL" in context.get("capabilities", {}).get("drop", []), where
            assert not context.get("capabilities", {}).get("add"), where
            assert not context.get("privileged"), where


@pytest.mark.parametrize("directory", DEPLOYMENTS)
def test_writable_directories_are_emptydirs(directory):
    for origin, _, spec in pods(build(directory)):
        volumes = {v["name"]: v for v in spec.get("volumes", [])}
        for container in spec["containers"]:
            mounts = {m["mountPath"]: m["name"] for m in container.get("volumeMounts", [])}
            for path in ("/tmp", "/var/cache/weir", "/var/lib/weir"):
                assert path in mounts, f"{origin}: {container['name']} cannot write {path}"
                assert "emptyDir" in volumes[mounts[path]], f"{origin}: {path} is not an emptyDir"


@pytest.mark.parametrize("directory", DEPLOYMENTS)
def test_probes_use_healthz_and_readyz_on_declared_ports(directory):
    for origin, _, spec in pods(build(directory)):
        for container in spec["containers"]:
            where = f"{origin}: container {container['name']}"
            ports = {p["name"]: p["containerPort"] for p in container.get("ports", [])}
            expected = {
                "livenessProbe": "/healthz",
                "readinessProbe": "/readyz",
                "startupProbe": "/healthz",
            }
            for probe, path in expected.items():
                assert probe in container, f"{where} has no {probe}"
                get = container[probe].get("httpGet")
                assert get and get["path"] == path, f"{where}: {probe} is not GET {path}"
                assert get["port"] in ports, f"{where}: {probe} port {get['port']} is not declared"


@pytest.mark.parametrize("directory", DEPLOYMENTS)
def test_containers_run_the_weir_image_in_their_role(directory):
    objects = build(directory)
    for origin, labels, spec in pods(objects):
        role = labels.get(COMPONENT_LABEL)
        assert role in ("jobmanager", "taskmanager"), f"{origin}: component label {role!r}"
        (container,) = spec["containers"]
        assert container["image"] == IMAGE, origin
        assert container.get("imagePullPolicy") == "IfNotPresent", origin
        assert container.get("args") == [role], f"{origin}: args {container.get('args')}"
        assert spec.get("serviceAccountName") == f"weir-{role}", origin
        assert named(objects, "ServiceAccount", spec["serviceAccountName"]) is not None, origin


@pytest.mark.parametrize("directory", DEPLOYMENTS)
def test_environment_and_configuration_mounts(directory):
    objects = build(directory)
    config_map = weir_conf(objects)
    assert "weir.yaml" in config_map["data"]
    for origin, labels, spec in pods(objects):
        (container,) = spec["containers"]
        env = env_of(container)
        assert env["WEIR_CONFIG"].get("value") == "/etc/weir/weir.yaml", origin
        assert env["WEIR_LOG_FORMAT"].get("value") == "json", origin
        field = lambda name: env[name]["valueFrom"]["fieldRef"]["fieldPath"]  # noqa: E731
        assert field("WEIR_POD_NAME") == "metadata.name", origin
        assert field("WEIR_KUBERNETES_NAMESPACE") == "metadata.namespace", origin

        volumes = {v["name"]: v for v in spec["volumes"]}
        mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
        # The JobManager's native pods replace the volume of this name.
        assert mounts["/etc/weir"]["name"] == CONFIG_MAP, origin
        assert volumes[CONFIG_MAP]["configMap"]["name"] == CONFIG_MAP, origin

        if labels[COMPONENT_LABEL] == "taskmanager":
            assert field("WEIR_ADVERTISED_HOST") == "status.podIP", origin
            registry_config = env["WEIR_REGISTRY_CONFIG"]["value"]
            assert registry_config == "/etc/weir/registry/.dockerconfigjson", origin
            registry = volumes[mounts["/etc/weir/registry"]["name"]]
            assert registry["secret"] == {"secretName": "weir-registry", "optional": True}, origin
    # The registry Secret holds credentials: users create it, the manifests
    # must not.
    assert named(objects, "Secret", "weir-registry") is None


@pytest.mark.parametrize("directory", DEPLOYMENTS)
def test_services_select_pods_and_their_ports(directory):
    objects = build(directory)
    found = pods(objects)
    for service in of_kind(objects, "Service"):
        selector = service["spec"]["selector"]
        selected = [(origin, spec) for origin, labels, spec in found if selects(selector, labels)]
        if directory == "k8s/overlays/native" and selector.get(COMPONENT_LABEL) == "taskmanager":
            assert [origin for origin, _ in selected] == ["the native pod template"]
        assert selected, f"{object_name(service)} selects no pod"
        for origin, spec in selected:
            ports = {p["name"] for c in spec["containers"] for p in c.get("ports", [])}
            for port in service["spec"]["ports"]:
                assert port["targetPort"] in ports, (
                    f"{object_name(service)} port {port['name']} targets {port['targetPort']}, "
                    f"which {origin} does not declare"
                )
    for deployment in of_kind(objects, "Deployment"):
        selector = deployment["spec"]["selector"]["matchLabels"]
        assert set(selector) == {NAME_LABEL, COMPONENT_LABEL}
        assert selects(selector, deployment["spec"]["template"]["metadata"]["labels"])


@pytest.mark.parametrize("directory", DEPLOYMENTS)
def test_objects_are_labelled_and_namespaced(directory):
    for obj in build(directory):
        labels = obj["metadata"].get("labels", {})
        assert labels.get(NAME_LABEL) == "weir", object_name(obj)
        assert labels.get("app.kubernetes.io/part-of") == "weir", object_name(obj)
        if obj["kind"] != "Namespace":
            assert obj["metadata"].get("namespace") == NAMESPACE, object_name(obj)
    namespace = named(build(directory), "Namespace", NAMESPACE)
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


# The JobManager's permissions, exactly: (apiGroup, resource) -> verbs.
JOBMANAGER_RULES = {
    ("", "pods"): {"get", "list", "watch", "create", "delete"},
    ("coordination.k8s.io", "leases"): {"get", "create", "update"},
    ("events.k8s.io", "events"): {"create", "patch"},
    ("apps", "deployments"): {"get"},
    ("weir.dev", "weirjobs"): {"get", "list", "watch", "update", "patch"},
    ("weir.dev", "weirjobs/status"): {"get", "update", "patch"},
    ("weir.dev", "weirjobs/finalizers"): {"update"},
}
TASKMANAGER_RULES = {("", "configmaps"): {"get"}}


def role_rules(role):
    granted = {}
    for rule in role["rules"]:
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                granted.setdefault((group, resource), set()).update(rule["verbs"])
    return granted


@pytest.mark.parametrize("directory", DEPLOYMENTS)
def test_rbac_is_least_privilege_and_consistent(directory):
    objects = build(directory)
    kinds = {obj["kind"] for obj in objects}
    assert not kinds & {"ClusterRole", "ClusterRoleBinding"}, "no cluster-wide rights are needed"
    assert role_rules(named(objects, "Role", "weir-jobmanager")) == JOBMANAGER_RULES
    assert role_rules(named(objects, "Role", "weir-taskmanager")) == TASKMANAGER_RULES
    for role in of_kind(objects, "Role"):
        for rule in role["rules"]:
            assert "*" not in rule["verbs"] and "*" not in rule["resources"], object_name(role)
    for binding in of_kind(objects, "RoleBinding"):
        assert binding["roleRef"]["kind"] == "Role"
        assert named(objects, "Role", binding["roleRef"]["name"]) is not None, object_name(binding)
        for subject in binding["subjects"]:
            assert subject["kind"] == "ServiceAccount"
            assert subject["namespace"] == NAMESPACE
            account = named(objects, "ServiceAccount", subject["name"])
            assert account is not None, object_name(binding)


def address_port(address):
    return int(address.rsplit(":", 1)[1])


@pytest.mark.parametrize("directory", DEPLOYMENTS)
def test_weir_yaml_matches_the_objects(directory):
    objects = build(directory)
    config = weir_yaml(objects)
    assert set(config) == {"jobmanager", "taskmanager"}
    jm, tm = config["jobmanager"], config["taskmanager"]
    assert jm.get("weirJobController") is True

    # TaskManagers register with the JobManager's Service on its rpc port.
    host, port = tm["jobmanager"].rsplit(":", 1)
    service = named(objects, "Service", host)
    assert service is not None, f"taskmanager.jobmanager names {host}, which is no Service"
    rpc = {p["name"]: p for p in service["spec"]["ports"]}["rpc"]
    assert rpc["port"] == int(port)

    # Bound ports are the ones the containers declare and the probes use.
    declared = {}
    for _, labels, spec in pods(objects):
        for p in spec["containers"][0]["ports"]:
            declared[(labels[COMPONENT_LABEL], p["name"])] = p["containerPort"]
    assert declared[("jobmanager", "rpc")] == address_port(jm["rpcAddress"])
    assert declared[("jobmanager", "rest")] == address_port(jm["restAddress"])
    if ("taskmanager", "data") in declared:
        assert declared[("taskmanager", "data")] == address_port(tm["dataAddress"])
        assert declared[("taskmanager", "metrics")] == address_port(tm["metricsAddress"])
    for address in (jm["rpcAddress"], jm["restAddress"], tm["dataAddress"], tm["metricsAddress"]):
        # Other pods must reach them.
        assert address.startswith("0.0.0.0:"), address
    # Local paths must be on writable volumes.
    assert jm["checkpointStorage"].startswith(("/var/lib/weir/", "s3://"))
    assert tm["cacheDir"] == "/var/cache/weir"


def test_native_overlay_lets_the_jobmanager_start_taskmanagers():
    objects = build("k8s/overlays/native")
    assert named(objects, "Deployment", "weir-taskmanager") is None, "a TaskManager Deployment"
    assert [d["metadata"]["name"] for d in of_kind(objects, "Deployment")] == ["weir-jobmanager"]
    # What the pods it creates use stays.
    for kind in ("Service", "ServiceAccount", "Role", "RoleBinding"):
        assert named(objects, kind, "weir-taskmanager") is not None, kind
    jm = weir_yaml(objects)["jobmanager"]
    assert jm["resourceManager"] == "kubernetes"
    assert jm["taskManagerSlots"] == 2
    assert jm["taskManagerIdleTimeout"] == "30s"
    assert named(objects, "Deployment", jm["kubernetesOwner"]) is not None
    # The template is a key of the ConfigMap the JobManager mounts at /etc/weir.
    directory, key = jm["taskManagerPodTemplate"].rsplit("/", 1)
    assert directory == "/etc/weir"
    assert key in weir_conf(objects)["data"]
    template = pod_template(objects)
    assert template["metadata"]["labels"][COMPONENT_LABEL] == "taskmanager"
    assert template["spec"]["serviceAccountName"] == "weir-taskmanager"
    # The same pod as standalone mode's TaskManagers: the two modes must not
    # drift apart.
    base = named(build("k8s/base"), "Deployment", "weir-taskmanager")["spec"]["template"]["spec"]
    same = ("securityContext", "serviceAccountName", "volumes", "containers", "enableServiceLinks")
    for key in same:
        assert template["spec"][key] == base[key], f"pod template: {key} differs from the base"


def test_standalone_and_ha_jobmanagers():
    base = build("k8s/base")
    jm = named(base, "Deployment", "weir-jobmanager")
    assert jm["spec"]["replicas"] == 1
    assert jm["spec"]["strategy"] == {"type": "Recreate"}
    assert named(base, "Deployment", "weir-taskmanager")["spec"]["replicas"] == 2
    assert "resourceManager" not in weir_yaml(base)["jobmanager"]

    ha = build("k8s/overlays/ha")
    jm = named(ha, "Deployment", "weir-jobmanager")
    assert jm["spec"]["replicas"] == 2
    # A standby is never ready, so a rolling update would never finish.
    assert jm["spec"]["strategy"] == {"type": "Recreate"}
    config = weir_yaml(ha)["jobmanager"]
    assert config["highAvailability"] == "kubernetes"
    assert config["leaseName"] == "weir-jobmanager-leader"


@pytest.mark.parametrize("directory", DEPLOYMENTS)
def test_weir_accepts_its_configuration(directory):
    """The weir binary reads every key of the rendered weir.yaml: a key the
    manifests use but weir does not know would stop the pods at start."""
    weir = os.environ.get("WEIR_BIN")
    if not weir:
        pytest.fail("WEIR_BIN is not set: run through `make test-k8s`, which builds weir")
    config = weir_conf(build(directory))["data"]["weir.yaml"]
    path = Path(os.environ.get("TMPDIR", "/tmp")) / f"weir-k8s-{os.getpid()}.yaml"
    path.write_text(config)
    try:
        for role in ("jobmanager", "taskmanager"):
            result = subprocess.run(
                [weir, role, "--config", str(path), "--help"], capture_output=True, text=True
            )
            assert result.returncode == 0, f"{directory}: weir {role}: {result.stderr}"
    finally:
        path.unlink()


def test_weir_refuses_an_unknown_key():
    """The check above can fail."""
    weir = os.environ.get("WEIR_BIN")
    if not weir:
        pytest.fail("WEIR_BIN is not set: run through `make test-k8s`, which builds weir")
    path = Path(os.environ.get("TMPDIR", "/tmp")) / f"weir-k8s-bad-{os.getpid()}.yaml"
    path.write_text("jobmanager:\n  noSuchKey: 1\n")
    try:
        result = subprocess.run(
            [weir, "jobmanager", "--config", str(path), "--help"], capture_output=True, text=True
        )
        assert result.returncode != 0 and "noSuchKey" in result.stderr, result.stderr
    finally:
        path.unlink()


def test_jobmanager_service_ports():
    service = named(build("k8s/base"), "Service", "weir-jobmanager")
    assert service["spec"]["type"] == "ClusterIP"
    ports = {p["name"]: (p["port"], p["targetPort"]) for p in service["spec"]["ports"]}
    assert ports == {"rpc": (6123, "rpc"), "rest": (8081, "rest"), "metrics": (9249, "rest")}
    tm = named(build("k8s/base"), "Service", "weir-taskmanager")
    assert tm["spec"]["clusterIP"] == "None"
    assert {p["name"]: p["port"] for p in tm["spec"]["ports"]} == {"metrics": 9249, "data": 6121}


def test_servicemonitor_scrapes_both_services():
    objects = build("tests/k8s/with-components")
    monitor = named(objects, "ServiceMonitor", "weir")
    endpoint = {"port": "metrics", "path": "/metrics", "interval": "15s"}
    assert monitor["spec"]["endpoints"] == [endpoint]
    selector = monitor["spec"]["selector"]["matchLabels"]
    services = of_kind(objects, "Service")
    selected = [s for s in services if selects(selector, s["metadata"]["labels"])]
    names = sorted(s["metadata"]["name"] for s in selected)
    assert names == ["weir-jobmanager", "weir-taskmanager"]
    for service in selected:
        assert "metrics" in {p["name"] for p in service["spec"]["ports"]}, object_name(service)


def test_ingress_routes_to_the_rest_api():
    ingress = named(build("tests/k8s/with-components"), "Ingress", "weir")
    (rule,) = ingress["spec"]["rules"]
    (path,) = rule["http"]["paths"]
    assert path["path"] == "/"
    assert path["backend"]["service"] == {"name": "weir-jobmanager", "port": {"name": "rest"}}


def test_base_needs_no_third_party_crds():
    # Applying an object whose kind the cluster does not know fails the whole
    # `kubectl apply -k`; the ServiceMonitor is opt-in for that reason.
    for directory in ("k8s/base", "k8s/overlays/native", "k8s/overlays/ha", "k8s/examples"):
        for obj in build(directory):
            key = (obj["apiVersion"], obj["kind"])
            assert key not in crd_schemas(), f"{directory}: {object_name(obj)}"


def test_crd_build_is_only_the_weirjob_crd():
    (crd,) = build("k8s/crd")
    assert crd["kind"] == "CustomResourceDefinition"
    assert crd["metadata"]["name"] == "weirjobs.weir.dev"
    assert crd["spec"]["scope"] == "Namespaced"


def test_example_weirjob():
    objects = build("k8s/examples")
    (weirjob,) = load_file("k8s/examples/wordcount.weirjob.yaml")
    assert weirjob["metadata"]["namespace"] == NAMESPACE
    spec = weirjob["spec"]
    assert (spec["upgradeMode"], spec["state"], spec["parallelism"]) == ("savepoint", "running", 2)
    job = spec["job"]
    modules = [op["module"] for op in job["operators"] if "module" in op]
    assert modules == ["oci://registry.example.com/weir/wordcount:1.0"]
    assert job["sink"]["type"] == "stdout"
    # The text it reads is mounted on the TaskManagers by k8s/examples.
    source = Path(job["source"]["path"])
    tm = named(objects, "Deployment", "weir-taskmanager")["spec"]["template"]["spec"]
    mounts = {m["mountPath"]: m["name"] for m in tm["containers"][0]["volumeMounts"]}
    volumes = {v["name"]: v for v in tm["volumes"]}
    volume = volumes[mounts[str(source.parent)]]
    config_map = named(objects, "ConfigMap", volume["configMap"]["name"])
    assert source.name in config_map["data"]

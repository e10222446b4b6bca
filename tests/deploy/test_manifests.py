"""deploy/: the Kubernetes manifests, checked offline. kubernetes-validate checks them against the API's
schemas; the tests after it check what a schema cannot see: probe routes, security, settings names, and the
names and labels that tie the resources together."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from camserve.service.settings import Settings
from tests.support.manifests import (
    DEPLOY,
    KUSTOMIZATION,
    Resource,
    camserve_container,
    env,
    load,
    manifest_files,
    pod_spec,
    resources_of,
    the,
)

SECRET_EXAMPLE = DEPLOY / "secret.example.yaml"
# The newest Kubernetes kubernetes-validate 1.37 has schemas for, and an older one managed clusters still run.
KUBERNETES_VERSIONS = ("1.33.0", "1.37.0")
PLACEHOLDER = "REPLACE-ME"
CAMSERVE_USER = 10001  # the image's numeric user (Dockerfile)


def pod_labels() -> dict[str, str]:
    labels: dict[str, str] = the("Deployment")["spec"]["template"]["metadata"]["labels"]
    return labels


def all_containers() -> list[Resource]:
    spec = pod_spec()
    return [*spec.get("initContainers", []), *spec["containers"]]


def camserve_variables() -> dict[str, str]:
    """Every CAMSERVE_* variable the pods get: the Deployment's own, the ConfigMaps' and the Secret example's."""
    variables = env(camserve_container())
    for config_map in resources_of("ConfigMap"):
        variables |= config_map["data"]
    variables |= the("Secret")["stringData"]
    return {name: value for name, value in variables.items() if name.startswith("CAMSERVE_")}


def selects_pods(match_labels: dict[str, str]) -> bool:
    """A non-empty selector all of whose labels the pod template carries: an empty one matches every pod."""
    return bool(match_labels) and match_labels.items() <= pod_labels().items()


def test_every_manifest_passes_kubernetes_validate_strict() -> None:
    tool = shutil.which("kubernetes-validate", path=str(Path(sys.executable).parent))
    assert tool, "kubernetes-validate is not installed beside this Python: pip install -e '.[test]'"
    files = manifest_files()
    versions = [arg for version in KUBERNETES_VERSIONS for arg in ("-k", version)]
    done = subprocess.run(
        [tool, "--strict", *versions, *map(str, files)], capture_output=True, text=True, timeout=120, check=False
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    # An unknown kind or apiVersion is only a WARN, with exit status 0: every resource must have passed.
    passed = [line for line in output.splitlines() if line.startswith("INFO ") and " passed " in line]
    assert len(passed) == sum(len(load(path)) for path in files) * len(KUBERNETES_VERSIONS), output


def test_kustomization_applies_every_manifest_but_the_secret_example() -> None:
    """A new manifest must not be left out of ``kubectl apply -k``, and the placeholders must never be applied."""
    listed = set(yaml.safe_load(KUSTOMIZATION.read_text())["resources"])
    assert listed == {path.name for path in manifest_files()} - {SECRET_EXAMPLE.name}


def test_probes_ask_the_routes_meant_for_them() -> None:
    container = camserve_container()
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["startupProbe"]["httpGet"]["path"] == "/healthz"


def test_startup_probe_waits_out_a_first_start() -> None:
    """The port opens only after the model loads and the runtimes are timed (20 to 60 s): allow twice that."""
    probe = camserve_container()["startupProbe"]
    assert probe["periodSeconds"] * probe["failureThreshold"] >= 120


def test_every_container_runs_unprivileged_on_a_read_only_root() -> None:
    pod = pod_spec().get("securityContext", {})
    for container in all_containers():
        own = container.get("securityContext", {})
        effective = {**pod, **own}
        assert effective.get("runAsNonRoot") is True, container["name"]
        assert effective.get("runAsUser") == CAMSERVE_USER, container["name"]
        assert effective.get("runAsGroup") == CAMSERVE_USER, container["name"]
        assert effective.get("seccompProfile") == {"type": "RuntimeDefault"}, container["name"]
        assert own.get("readOnlyRootFilesystem") is True, container["name"]
        assert own.get("allowPrivilegeEscalation") is False, container["name"]
        assert own.get("capabilities", {}).get("drop") == ["ALL"], container["name"]


def test_what_camserve_writes_lies_on_emptydir_volumes() -> None:
    """The root file system is read-only: the runtime timings and spooled uploads need writable mounts."""
    container = camserve_container()
    empty_dirs = {volume["name"] for volume in pod_spec()["volumes"] if "emptyDir" in volume}
    writable = [Path(m["mountPath"]) for m in container["volumeMounts"] if m["name"] in empty_dirs]
    for path in (Path(env(container)["CAMSERVE_RUNTIME_CACHE_DIR"]), Path("/tmp")):
        assert any(path.is_relative_to(mount) for mount in writable), path


def test_every_camserve_variable_is_a_setting() -> None:
    """pydantic-settings ignores a misspelt CAMSERVE_* variable: the setting would silently keep its default."""
    fields = set(Settings.model_fields)
    assert {name for name in camserve_variables() if name.removeprefix("CAMSERVE_").lower() not in fields} == set()


def test_settings_accept_every_camserve_value(monkeypatch: pytest.MonkeyPatch) -> None:
    """A value Settings refuses (a store URL's scheme, a batch size out of range) stops every pod at start-up."""
    variables = camserve_variables()
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    assert Settings().store_url == variables["CAMSERVE_STORE_URL"]


def test_service_links_are_off() -> None:
    """They would set CAMSERVE_PORT=tcp://<ip>:80 for the Service named camserve, which Settings refuses."""
    assert pod_spec()["enableServiceLinks"] is False


def test_the_secret_example_holds_only_placeholders() -> None:
    secret = yaml.safe_load(SECRET_EXAMPLE.read_text())
    assert "data" not in secret, "use stringData, so a reviewer reads every value"
    assert "CAMSERVE_STORE_URL" in secret["stringData"]
    real = {key for key, value in secret["stringData"].items() if PLACEHOLDER not in value}
    assert not real, f"these look like real values: {sorted(real)}"


def test_the_deployment_reads_the_configmap_and_secret_by_their_names() -> None:
    sources = camserve_container()["envFrom"]
    assert {s["configMapRef"]["name"] for s in sources if "configMapRef" in s} == {
        c["metadata"]["name"] for c in resources_of("ConfigMap")
    }
    assert {s["secretRef"]["name"] for s in sources if "secretRef" in s} == {the("Secret")["metadata"]["name"]}


def test_the_service_reaches_the_port_camserve_listens_on() -> None:
    container = camserve_container()
    (port,) = the("Service")["spec"]["ports"]
    (target,) = (p for p in container["ports"] if port["targetPort"] in (p.get("name"), p["containerPort"]))
    assert env(container)["CAMSERVE_HOST"] == "0.0.0.0"
    assert int(env(container)["CAMSERVE_PORT"]) == target["containerPort"]


def test_selectors_match_the_pod_template() -> None:
    deployment = the("Deployment")
    assert selects_pods(deployment["spec"]["selector"]["matchLabels"])
    assert selects_pods(the("Service")["spec"]["selector"])
    assert selects_pods(the("PodDisruptionBudget")["spec"]["selector"]["matchLabels"])
    for constraint in pod_spec()["topologySpreadConstraints"]:
        assert selects_pods(constraint["labelSelector"]["matchLabels"])


def test_the_autoscaler_owns_the_replica_count() -> None:
    """The HPA scales the Deployment by its real name and keeps 2 or more; the Deployment sets no count, so
    re-applying it never resets what the HPA scaled to."""
    deployment = the("Deployment")
    hpa = the("HorizontalPodAutoscaler")["spec"]
    target = {"apiVersion": "apps/v1", "kind": "Deployment", "name": deployment["metadata"]["name"]}
    assert hpa["scaleTargetRef"] == target
    assert hpa["minReplicas"] >= 2
    assert "replicas" not in deployment["spec"]


def test_resources_are_guaranteed_whole_cpus() -> None:
    """Requests equal to limits, in whole CPUs: the static CPU manager then gives the pod its own cores, and the
    runtimes size their thread pools to the cores the pod may run on."""
    resources = camserve_container()["resources"]
    assert resources["requests"] == resources["limits"]
    assert str(resources["limits"]["cpu"]).isdigit()


def test_pods_keep_serving_until_they_leave_the_endpoints() -> None:
    """preStop sleeps while the endpoints drop the pod; the grace period leaves uvicorn 30 s after it to drain."""
    sleep = camserve_container()["lifecycle"]["preStop"]["sleep"]["seconds"]
    assert sleep >= 5
    assert pod_spec()["terminationGracePeriodSeconds"] >= sleep + 30

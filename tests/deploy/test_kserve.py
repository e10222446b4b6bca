"""deploy/kserve/inferenceservice.yaml, checked offline: against KServe's own InferenceService schema, as strictly
as the API server checks it, and against deploy/'s Deployment, whose pod it repeats.

The schema is the v1beta1 ``openAPIV3Schema`` of KServe's CRD (config/crd/full/serving.kserve.io_
inferenceservices.yaml), vendored in tests/deploy/schemas with its source commit; KServe's licence, Apache-2.0,
beside it. To move to a newer KServe, replace the schema with that release's, and its source, likewise.
"""

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from camserve.service.routes.open_inference import router
from tests.support.manifests import DEPLOY, Resource, camserve_container, env, load, pod_spec, the

SCHEMA = Path(__file__).parent / "schemas" / "inferenceservice-v1beta1.json"
INFERENCE_SERVICE = DEPLOY / "kserve" / "inferenceservice.yaml"
# Where KServe reads a custom predictor's protocol: this variable on its first container (CustomPredictor.GetProtocol).
PROTOCOL_VARIABLE = "PROTOCOL"
# The labels KServe puts on a predictor's pods, beside the InferenceService's own.
POD_LABEL, COMPONENT_LABEL = "serving.kserve.io/inferenceservice", "component"
PROBES = ("startupProbe", "livenessProbe", "readinessProbe")

Schema = dict[str, Any]


def strict(schema: Schema) -> Schema:
    """The schema refusing unknown fields, as the API server's strict field validation (kubectl's default) does:
    each object schema that lists its properties gets ``additionalProperties: false``, unless it keeps unknown
    fields (``x-kubernetes-preserve-unknown-fields``) or says what else it takes. Walked by the keywords that hold
    schemas, so a field that happens to be named like a keyword is left alone."""
    copied = dict(schema)
    if "properties" in schema:
        copied["properties"] = {name: strict(child) for name, child in schema["properties"].items()}
        if "additionalProperties" not in schema and not schema.get("x-kubernetes-preserve-unknown-fields"):
            copied["additionalProperties"] = False
    for keyword in ("items", "additionalProperties", "not"):
        if isinstance(schema.get(keyword), dict):
            copied[keyword] = strict(schema[keyword])
    for keyword in ("anyOf", "allOf", "oneOf"):
        if keyword in schema:
            copied[keyword] = [strict(child) for child in schema[keyword]]
    return copied


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft4Validator:
    """OpenAPI 3.0's schema objects are JSON Schema draft 4 with a few extensions, which the validator ignores."""
    vendored: Schema = json.loads(SCHEMA.read_text())
    schema = strict(vendored["openAPIV3Schema"])
    jsonschema.Draft4Validator.check_schema(schema)
    return jsonschema.Draft4Validator(schema)


def inference_service() -> Resource:
    (resource,) = load(INFERENCE_SERVICE)
    return resource


def predictor() -> Resource:
    spec: Resource = inference_service()["spec"]["predictor"]
    return spec


def container() -> Resource:
    only: Resource
    (only,) = predictor()["containers"]
    return only


def problems(validator: jsonschema.Draft4Validator, resource: Resource) -> list[str]:
    return [f"{error.json_path}: {error.message}" for error in validator.iter_errors(resource)]


def test_the_inference_service_passes_kserve_s_schema(validator: jsonschema.Draft4Validator) -> None:
    resource = inference_service()
    assert (resource["apiVersion"], resource["kind"]) == ("serving.kserve.io/v1beta1", "InferenceService")
    assert problems(validator, resource) == []


Where = tuple[str | int, ...]  # keys and list indices from the root


def _parent(resource: Resource, path: Where) -> Any:
    node: Any = resource
    for key in path[:-1]:
        node = node[key]
    return node


def _set(path: Where, value: Any) -> Callable[[Resource], None]:
    def change(resource: Resource) -> None:
        _parent(resource, path)[path[-1]] = value

    return change


def _drop(path: Where) -> Callable[[Resource], None]:
    def change(resource: Resource) -> None:
        del _parent(resource, path)[path[-1]]

    return change


CONTAINER = ("spec", "predictor", "containers", 0)
BROKEN: dict[str, tuple[Callable[[Resource], None], str]] = {
    "a misspelt field": (_set((*CONTAINER, "readinessprobe"), {}), "$.spec.predictor.containers[0]"),
    "a field of another kind": (_set(("spec", "predictor", "replicas"), 2), "$.spec.predictor"),
    "a port as text": (
        _set((*CONTAINER, "ports", 0, "containerPort"), "8000"),
        "$.spec.predictor.containers[0].ports[0].containerPort",
    ),
    "a metric KServe does not scale on": (
        _set(("spec", "predictor", "scaleMetric"), "gpu"),
        "$.spec.predictor.scaleMetric",
    ),
    "a quantity that is none": (
        _set((*CONTAINER, "resources", "limits", "cpu"), "two"),
        "$.spec.predictor.containers[0].resources.limits.cpu",
    ),
    "a nameless container": (_drop((*CONTAINER, "name")), "$.spec.predictor.containers[0]"),
    "no predictor": (_drop(("spec", "predictor")), "$.spec"),
}


@pytest.mark.parametrize("case", list(BROKEN))
def test_a_broken_inference_service_fails_the_schema(validator: jsonschema.Draft4Validator, case: str) -> None:
    """Each break is refused, and where it was made: the schema is read, not passed over."""
    change, where = BROKEN[case]
    broken = copy.deepcopy(inference_service())
    change(broken)
    found = problems(validator, broken)
    assert found, case
    assert all(problem.startswith(where) for problem in found), found


def test_kserve_runs_it_as_a_v2_custom_predictor_of_its_own_deployment() -> None:
    """One container, protocol v2 where KServe reads it; KServe's plain Deployment, scaled by an HPA."""
    resource = inference_service()
    annotations = resource["metadata"]["annotations"]
    assert annotations["serving.kserve.io/deploymentMode"] == "Standard"
    assert annotations["serving.kserve.io/autoscalerClass"] == "hpa"
    assert env(container())[PROTOCOL_VARIABLE] == "v2"
    assert not {"model", "sklearn", "triton", "onnx", "pytorch"} & predictor().keys(), "a custom predictor"


def test_probes_ask_the_protocol_s_health_routes() -> None:
    routes = {getattr(route, "path", None) for route in router.routes}
    paths = {probe: container()[probe]["httpGet"]["path"] for probe in PROBES}
    assert paths == {
        "startupProbe": "/v2/health/live",
        "livenessProbe": "/v2/health/live",
        "readinessProbe": "/v2/health/ready",
    }
    assert set(paths.values()) <= routes


def test_the_container_is_the_deployment_s() -> None:
    """Same image, settings, resources, security, volumes and shutdown; the probes differ only in their paths."""
    ours, theirs = container(), camserve_container()
    for field in ("image", "imagePullPolicy", "envFrom", "resources", "lifecycle", "securityContext", "volumeMounts"):
        assert ours[field] == theirs[field], field
    assert {k: v for k, v in env(ours).items() if k != PROTOCOL_VARIABLE} == env(theirs)
    assert [p["containerPort"] for p in ours["ports"]] == [p["containerPort"] for p in theirs["ports"]]
    assert int(env(ours)["CAMSERVE_PORT"]) == ours["ports"][0]["containerPort"]  # the port KServe's Service targets
    for probe in PROBES:
        assert {**ours[probe], "httpGet": None} == {**theirs[probe], "httpGet": None}, probe
        assert ours[probe]["httpGet"]["port"] == theirs[probe]["httpGet"]["port"], probe


def test_the_pod_is_the_deployment_s() -> None:
    ours, theirs = predictor(), pod_spec()
    for field in (
        "enableServiceLinks",
        "automountServiceAccountToken",
        "terminationGracePeriodSeconds",
        "securityContext",
        "volumes",
    ):
        assert ours[field] == theirs[field], field
    unselected = [{**c, "labelSelector": None} for c in ours["topologySpreadConstraints"]]
    assert unselected == [{**c, "labelSelector": None} for c in theirs["topologySpreadConstraints"]]


def test_spread_constraints_select_the_predictor_s_pods() -> None:
    """KServe labels the pods it makes with the InferenceService's name and component, not the Deployment's."""
    pod_labels = {POD_LABEL: inference_service()["metadata"]["name"], COMPONENT_LABEL: "predictor"}
    for constraint in predictor()["topologySpreadConstraints"]:
        assert constraint["labelSelector"]["matchLabels"] == pod_labels


def test_scaling_and_roll_outs_are_the_plain_manifests() -> None:
    hpa = the("HorizontalPodAutoscaler")["spec"]
    (metric,) = hpa["metrics"]
    ours = predictor()
    assert (ours["minReplicas"], ours["maxReplicas"]) == (hpa["minReplicas"], hpa["maxReplicas"])
    assert (ours["scaleMetric"], ours["scaleTarget"]) == (
        metric["resource"]["name"],
        metric["resource"]["target"]["averageUtilization"],
    )
    assert ours["deploymentStrategy"] == the("Deployment")["spec"]["strategy"]

"""deploy/'s Kubernetes manifests, read for the tests that check them: the plain ones that ``kubectl apply -k``
applies, and the resources and containers in them."""

from pathlib import Path
from typing import Any

import yaml

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
KUSTOMIZATION = DEPLOY / "kustomization.yaml"

Resource = dict[str, Any]


def manifest_files() -> list[Path]:
    """Every manifest in deploy/ itself but kustomization.yaml: kustomize's own file, which no Kubernetes schema
    describes. Folders (deploy/kserve) hold alternatives to these, checked by tests of their own."""
    return sorted(p for p in DEPLOY.iterdir() if p.suffix in (".yaml", ".yml") and p != KUSTOMIZATION)


def load(path: Path) -> list[Resource]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def resources_of(kind: str) -> list[Resource]:
    return [r for path in manifest_files() for r in load(path) if r["kind"] == kind]


def the(kind: str) -> Resource:
    found = resources_of(kind)
    assert len(found) == 1, f"deploy/ should hold one {kind}, not {len(found)}"
    return found[0]


def pod_spec() -> Resource:
    spec: Resource = the("Deployment")["spec"]["template"]["spec"]
    return spec


def camserve_container() -> Resource:
    containers: list[Resource] = [c for c in pod_spec()["containers"] if c["name"] == "camserve"]
    assert len(containers) == 1, "the pod should run one container named camserve"
    return containers[0]


def env(container: Resource) -> dict[str, str]:
    return {item["name"]: item["value"] for item in container.get("env", []) if "value" in item}

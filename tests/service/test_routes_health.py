"""Operations endpoints: liveness, readiness with the model's honesty, Prometheus metrics, OpenAPI."""

import logging
from dataclasses import replace
from importlib.metadata import version
from pathlib import Path

import pytest
import torch
from fastapi.testclient import TestClient

import camserve
from camserve.models.checkpoint import load_checkpoint
from camserve.models.runtimes.torch import TorchPredictor
from camserve.models.selection.runtime import Measurement, RuntimeChoice
from camserve.service.app import create_app
from camserve.service.settings import Settings
from tests.support.servers import wait_until_ready


def test_healthz(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}


def test_readyz_after_warm_up_says_what_is_served(client: TestClient) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200
    body = response.json()
    assert body["ready"] is True
    assert body["backend"] == "torch"  # the client fixture serves the PyTorch predictor
    assert body["device"] == "cpu"
    assert body["precision"] == "fp32"
    assert body["inference_lanes"] == 1  # PyTorch forwards one batch at a time
    assert body["batch_max_size"] == 8  # the setting's default, as set: no lanes to halve it
    assert body["model"]["trained"] is True
    assert body["warnings"] == []
    assert body["runtime_selection"]["source"] == "given"  # loaded by the fixture, not chosen by the app


def test_readyz_and_metrics_report_a_measured_choice(
    settings: Settings, served_predictor: TorchPredictor, caplog: pytest.LogCaptureFixture
) -> None:
    """What ``auto`` timed, and why it chose what serves: in /readyz, /metrics and the log."""
    choice = RuntimeChoice(
        "torch",
        "fp32",
        "measured",
        (
            Measurement("torch", "fp32", 20.0, 80.0, 8),
            Measurement("openvino", "bf16", skipped="this CPU has no native bf16"),
        ),
        fastest_single="torch:fp32",
        fastest_batch="torch:fp32",
    )
    with (
        caplog.at_level(logging.INFO, logger="camserve"),
        TestClient(create_app(settings, served_predictor, runtime=choice)) as client,
    ):
        wait_until_ready(client)
        selection = client.get("/readyz").json()["runtime_selection"]
        text = client.get("/metrics").text
    assert selection["source"] == "measured"
    assert selection["fastest_batch"] == "torch:fp32"
    assert selection["candidates"][0] == {
        "runtime": "torch",
        "precision": "fp32",
        "single_ms": 20.0,
        "batch_ms_per_photo": 10.0,
        "batch_size": 8,
        "skipped": None,
    }
    assert selection["candidates"][1]["skipped"] == "this CPU has no native bf16"
    model = 'model="camserve-resnet34"'
    assert f'camserve_runtime_info{{{model},precision="fp32",runtime="torch",source="measured"}} 1.0' in text
    assert (
        f'camserve_runtime_candidate_forward_seconds{{batch_size="8",{model},precision="fp32",runtime="torch"}} 0.01'
        in text
    )
    assert "runtime chosen: torch:fp32 (measured); torch:fp32 20.0 ms single" in caplog.text


def test_readyz_warns_when_the_weights_are_marked_untrained(settings: Settings, tiny_checkpoint: Path) -> None:
    """Untrained weights answer with confident-looking nonsense; readiness must say so loudly."""
    model, metadata = load_checkpoint(tiny_checkpoint)
    predictor = TorchPredictor(model, replace(metadata, trained=False), torch.device("cpu"), "fp32")
    with TestClient(create_app(settings, predictor)) as client:
        wait_until_ready(client)
        body = client.get("/readyz").json()
    assert body["model"]["trained"] is False
    assert "UNTRAINED" in body["warnings"][0]


def test_readyz_is_503_before_warm_up(client: TestClient) -> None:
    client.app.state.camserve.models.default.engine.ready = False
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["ready"] is False


def test_metrics_count_requests_by_route_and_inference(client: TestClient, chelsea_bytes: bytes) -> None:
    client.post("/predictions", files={"file": ("c.png", chelsea_bytes)})
    client.get("/predictions/nope")
    text = client.get("/metrics").text
    assert 'camserve_http_requests_total{method="POST",route="/predictions",status="201"} 1.0' in text
    assert 'route="/predictions/{prediction_id}",status="404"' in text
    # the request; warm-up is not counted
    assert 'camserve_inference_batch_size_count{model="camserve-resnet34"} 1.0' in text
    assert "camserve_inference_seconds_bucket" in text
    assert "camserve_http_request_seconds_bucket" in text


def stage_count(text: str, stage: str) -> float:
    (line,) = [
        line for line in text.splitlines() if line.startswith(f'camserve_stage_seconds_count{{stage="{stage}"}}')
    ]
    return float(line.split()[-1])


def test_metrics_time_each_stage_of_a_photo(client: TestClient, chelsea_bytes: bytes) -> None:
    """A POST passes decode, the queue, the forward and the store; a first GET of a picture renders it, and a
    repeat comes from the cache. Every series is there from the start, so alerts see zeros, not gaps."""
    before = client.get("/metrics").text
    assert all(stage_count(before, s) == 0 for s in ("decode", "queue_wait", "inference", "store", "render"))
    links = client.post("/predictions", files={"file": ("c.png", chelsea_bytes)}).json()["links"]
    assert client.get(links["overlay"]).status_code == 200
    assert client.get(links["overlay"]).status_code == 200
    after = client.get("/metrics").text
    assert {s: stage_count(after, s) for s in ("decode", "queue_wait", "inference", "store", "render")} == {
        "decode": 1,
        "queue_wait": 1,
        "inference": 1,
        "store": 1,
        "render": 1,
    }


def test_openapi_documents_the_api(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    assert {"/predictions", "/predictions/{prediction_id}/overlay.png", "/readyz"} <= set(schema["paths"])
    assert client.get("/docs").status_code == 200


def test_the_api_version_is_the_package_version(client: TestClient) -> None:
    assert client.get("/openapi.json").json()["info"]["version"] == version("camserve") == camserve.__version__

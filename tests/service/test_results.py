"""One result builder: the API's JSON and ``camserve predict --json`` say the same about the same photo."""

import json

import numpy as np
import pytest
from fastapi.testclient import TestClient

from camserve.cli import main
from camserve.models.inference.predictor import Prediction
from camserve.models.metadata import ModelMetadata
from camserve.service.results import classify
from tests.support.photos import CHELSEA
from tests.support.servers import post

METADATA = ModelMetadata("m", "4.5.6", "resnet34", ("cat", "dog", "fox"), 32, trained=True)


def test_classify_reads_label_and_confidence_off_the_same_probabilities() -> None:
    prediction = Prediction(np.array([0.2, 0.7, 0.1], dtype=np.float32), np.zeros((3, 1, 1), np.float32))
    result = classify(prediction, METADATA, width=640, height=480)
    assert result.label == "dog"
    assert result.confidence == pytest.approx(0.7)
    assert result.probabilities == pytest.approx({"cat": 0.2, "dog": 0.7, "fox": 0.1})
    assert (result.width, result.height) == (640, 480)
    assert (result.model.name, result.model.version, result.model.trained) == ("m", "4.5.6", True)


def test_the_command_line_and_the_api_give_the_same_result(
    client: TestClient, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Both on the PyTorch runtime, CPU fp32 (the test client's predictor): the same arithmetic, the same numbers."""
    monkeypatch.setenv("CAMSERVE_BACKEND", "torch")
    monkeypatch.setenv("CAMSERVE_DEVICE", "cpu")
    monkeypatch.setenv("CAMSERVE_PRECISION", "fp32")
    assert main(["predict", str(CHELSEA), "--json"]) == 0
    (offline,) = json.loads(capsys.readouterr().out)
    served = post(client, CHELSEA.read_bytes()).json()
    shared = ("label", "confidence", "probabilities", "width", "height", "model")
    assert {key: offline[key] for key in shared} == {key: served[key] for key in shared}

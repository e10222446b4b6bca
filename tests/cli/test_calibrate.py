"""``camserve calibrate``: the fitted temperature lands in the checkpoint's JSON, and every runtime applies it."""

import json
from pathlib import Path

import numpy as np
import pytest

from camserve.cli import main
from camserve.models.metadata import load_metadata
from camserve.models.runtimes import RuntimeRequest, load_predictor


def test_calibrate_writes_the_temperature_that_every_runtime_applies(
    checkpoint_with_split: Path, image_folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["calibrate", "--data", str(image_folder), "--weights", str(checkpoint_with_split), "--json"]
    assert main([*args, "--fullres", str(image_folder)]) == 0
    report = json.loads(capsys.readouterr().out)
    temperature = load_metadata(checkpoint_with_split).temperature
    assert report["temperature"] == temperature
    assert report["validation"]["photos"] == load_metadata(checkpoint_with_split).extra["split"]["val_photos"]
    assert report["validation"]["log_loss_after"] <= report["validation"]["log_loss_before"] + 1e-9
    assert checkpoint_with_split.with_suffix(".reliability.png").read_bytes()[:4] == b"\x89PNG"

    batch = np.random.default_rng(0).standard_normal((2, 3, 32, 32), dtype=np.float32)
    request = RuntimeRequest(
        checkpoint_with_split, device="cpu", precision="fp32", cache_dir=checkpoint_with_split.parent
    )
    answers = [load_predictor(name, request).predict(batch) for name in ("torch", "onnxruntime", "openvino")]
    for predictions in answers[1:]:
        for ours, reference in zip(predictions, answers[0], strict=True):
            np.testing.assert_allclose(ours.probabilities, reference.probabilities, atol=1e-4)

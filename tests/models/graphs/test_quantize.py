"""int8 by NNCF: the calibration and control photos never overlap, and accuracy control keeps the control
photos' labels and heatmap peaks as far as it was asked to."""

from pathlib import Path

import numpy as np
import openvino
import pytest
import torch
from safetensors.torch import load_file, save_file

from camserve.models.evaluation.gate import photo_agrees
from camserve.models.graphs.export import cached_onnx_export
from camserve.models.graphs.quantize import (
    ControlPhoto,
    control_photos,
    draw_training_photos,
    quantize_int8,
)
from camserve.models.metadata import ModelMetadata, load_metadata
from camserve.models.runtimes import RuntimeRequest, load_predictor
from camserve.models.runtimes.openvino import OpenVinoPredictor, compile_for_cpu
from tests.support.networks import write_tiny_checkpoint


def test_calibration_and_control_photos_are_disjoint_training_photos() -> None:
    train = list(range(0, 200, 2))
    calibration, control = draw_training_photos(train, 30, 50, seed=4)
    assert (len(calibration), len(control)) == (30, 50)
    assert not set(calibration) & set(control)
    assert set(calibration) | set(control) <= set(train)
    assert draw_training_photos(train, 30, 50, seed=4) == (calibration, control)
    assert draw_training_photos(train, 30, 50, seed=5) != (calibration, control)


def test_control_takes_what_calibration_leaves() -> None:
    calibration, control = draw_training_photos(list(range(10)), 8, 50)
    assert len(calibration) == 8 and sorted(calibration + control) == list(range(10))


def agreement(graph: openvino.Model, photos: list[ControlPhoto], metadata: ModelMetadata) -> list[bool]:
    """Per control photo, whether the graph, compiled as serving compiles it, keeps fp32's label and peak."""
    predictor = OpenVinoPredictor(compile_for_cpu(openvino.Core(), graph, "int8", 1), metadata, "int8")
    return [photo_agrees(photo.reference, predictor.predict(photo.pixels)[0]) for photo in photos]


def activation_quantisers(graph: openvino.Model) -> int:
    """FakeQuantize operations left in the graph: one before each input an operation takes in int8 (the
    weights' own are folded into int8 constants), so an operation returned to float takes its away."""
    return sum(op.get_type_name() == "FakeQuantize" for op in graph.get_ops())


@pytest.fixture
def near_tie(tiny_architecture: str, tmp_path: Path) -> Path:
    """A tiny network whose two class maps differ by a hair (probabilities 0.5 +- 1e-5): fp32 runtimes agree
    on its answers, int8 rounding flips them. What accuracy control exists to catch, made certain."""
    weights = write_tiny_checkpoint(tmp_path / "tie.safetensors", input_size=64, architecture=tiny_architecture)
    tensors = load_file(weights)
    first = tensors["class_maps.weight"][0].float()
    noise = torch.randn(first.shape, generator=torch.Generator().manual_seed(0))
    tensors["class_maps.weight"][1] = (first + 2e-4 * first.std() * noise).half()
    tensors["class_maps.bias"] = torch.zeros(2, dtype=torch.float16)
    save_file(tensors, weights)
    return weights


@pytest.fixture
def photos(near_tie: Path) -> tuple[list[np.ndarray], list[ControlPhoto]]:
    """Eight calibration inputs and sixteen control photos, with torch fp32's predictions."""
    rng = np.random.default_rng(0)
    inputs = [rng.normal(0.0, 1.0, (1, 3, 64, 64)).astype(np.float32) for _ in range(24)]
    reference = load_predictor("torch", RuntimeRequest(near_tie, device="cpu", precision="fp32"))
    return inputs[:8], control_photos(reference, inputs[8:])


def test_accuracy_control_returns_operations_to_float_until_the_control_photos_agree(
    near_tie: Path, photos: tuple[list[np.ndarray], list[ControlPhoto]], tmp_path: Path
) -> None:
    calibration, controls = photos
    metadata = load_metadata(near_tie)
    onnx_path = cached_onnx_export(near_tie, tmp_path)
    assert all(agreement(openvino.Core().read_model(onnx_path), controls, metadata))
    plain = quantize_int8(onnx_path, calibration, metadata)
    assert not all(agreement(plain, controls, metadata)), (
        "plain int8 must change a control photo, or this proves nothing"
    )
    controlled = quantize_int8(onnx_path, calibration, metadata, controls, max_drop=0.0)
    assert all(agreement(controlled, controls, metadata))
    assert activation_quantisers(controlled) < activation_quantisers(plain)
    # Allowed to lose every photo, it returns nothing to float that need not be.
    lenient = quantize_int8(onnx_path, calibration, metadata, controls, max_drop=1.0)
    assert activation_quantisers(lenient) == activation_quantisers(plain)

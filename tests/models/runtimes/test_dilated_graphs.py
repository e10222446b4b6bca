"""A dilated-last-stage network (``resnet34-os16``) through the graph runtimes: the ONNX export and OpenVINO's
compile keep the dilation, so both give the PyTorch answers and its twice-as-fine class maps."""

from pathlib import Path

import numpy as np
import pytest

from camserve.models.runtimes import RuntimeRequest
from camserve.models.runtimes.onnxruntime import load as load_onnxruntime
from camserve.models.runtimes.openvino import load as load_openvino
from camserve.models.runtimes.torch import load as load_torch
from tests.support.networks import write_tiny_checkpoint

SIDE = 64  # output stride 16: 4x4 maps (2x2 with the stride-32 resnet34)


@pytest.fixture(scope="module")
def os16_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("os16") / "os16.safetensors"
    return write_tiny_checkpoint(path, input_size=SIDE, architecture="resnet34-os16")


@pytest.fixture(scope="module")
def export_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Shared by both runtimes: the export takes the most time of these tests, and is made once."""
    return tmp_path_factory.mktemp("exports")


@pytest.mark.parametrize("load", [load_onnxruntime, load_openvino], ids=["onnxruntime", "openvino"])
def test_graph_runtimes_keep_the_dilation(os16_checkpoint: Path, export_dir: Path, load: object) -> None:
    assert callable(load)
    request = RuntimeRequest(os16_checkpoint, device="cpu", precision="fp32", cache_dir=export_dir)
    batch = np.random.default_rng(0).standard_normal((2, 3, SIDE, SIDE), dtype=np.float32)
    reference = load_torch(request).predict(batch)
    for ours, expected in zip(load(request).predict(batch), reference, strict=True):
        assert ours.class_maps.shape == expected.class_maps.shape == (2, 4, 4)
        np.testing.assert_allclose(ours.class_maps, expected.class_maps, atol=1e-3)
        np.testing.assert_allclose(ours.probabilities, expected.probabilities, atol=1e-4)

"""The ONNX Runtime runtime: its path gives the PyTorch path's answers and class maps, for any batch size."""

from pathlib import Path

import numpy as np
import pytest
import torch

from camserve.models.checkpoint import load_checkpoint, save_checkpoint
from camserve.models.graphs import export
from camserve.models.graphs.export import cached_onnx_export, export_onnx
from camserve.models.metadata import CheckpointError
from camserve.models.runtimes.onnxruntime import OnnxRuntimePredictor
from camserve.models.runtimes.torch import TorchPredictor
from tests.support.networks import TINY_CELL, TINY_INPUT, build_red_patch_network, write_tiny_checkpoint
from tests.support.packages import torch_not_installed


@pytest.fixture(scope="module")
def red_patch_onnx(
    tmp_path_factory: pytest.TempPathFactory, red_patch_predictor: TorchPredictor
) -> OnnxRuntimePredictor:
    path = tmp_path_factory.mktemp("onnx") / "red-patch.onnx"
    export_onnx(build_red_patch_network(), TINY_INPUT, path)
    return OnnxRuntimePredictor(path, red_patch_predictor.metadata, threads=1)


def red_square_batch(size: int) -> np.ndarray:
    """Each photo grey with one red 8x8 cell, at a different place per photo."""
    batch = np.full((size, 3, TINY_INPUT, TINY_INPUT), 0.5, dtype=np.float32)
    for index in range(size):
        row, col = (index * 3) % 8 * TINY_CELL, (index * 5) % 8 * TINY_CELL
        batch[index, :, row : row + TINY_CELL, col : col + TINY_CELL] = np.array([1.0, 0.0, 0.0])[:, None, None]
    return batch


@pytest.mark.parametrize("size", [1, 3, 8])
def test_matches_the_torch_path_for_every_batch_size(
    red_patch_onnx: OnnxRuntimePredictor, red_patch_predictor: TorchPredictor, size: int
) -> None:
    batch = red_square_batch(size)
    for onnx, torch_ in zip(red_patch_onnx.predict(batch), red_patch_predictor.predict(batch), strict=True):
        np.testing.assert_allclose(onnx.probabilities, torch_.probabilities, atol=1e-5)
        np.testing.assert_allclose(onnx.class_maps, torch_.class_maps, atol=1e-4)
        assert onnx.class_maps.dtype == np.float32


def test_class_maps_are_the_graph_output_not_a_hook(red_patch_onnx: OnnxRuntimePredictor) -> None:
    """The red cell's map cell is the peak, exactly where the hand-built network puts it."""
    (prediction,) = red_patch_onnx.predict(red_square_batch(1))
    assert np.unravel_index(np.argmax(prediction.class_maps[0]), prediction.class_maps[0].shape) == (0, 0)
    assert red_patch_onnx.hook_count == 0


def test_the_served_weights_give_the_same_answers(
    served_onnx_predictor: OnnxRuntimePredictor, served_predictor: TorchPredictor
) -> None:
    size = served_predictor.metadata.input_size
    batch = np.random.default_rng(0).standard_normal((4, 3, size, size), dtype=np.float32)
    for onnx, torch_ in zip(served_onnx_predictor.predict(batch), served_predictor.predict(batch), strict=True):
        assert onnx.label_index() == torch_.label_index()
        np.testing.assert_allclose(onnx.probabilities, torch_.probabilities, atol=1e-4)
        np.testing.assert_allclose(onnx.class_maps, torch_.class_maps, atol=1e-3)


def test_rejects_a_batch_of_the_wrong_shape(red_patch_onnx: OnnxRuntimePredictor) -> None:
    with pytest.raises(ValueError, match=r"\(N, 3, H, W\)"):
        red_patch_onnx.predict(np.zeros((3, TINY_INPUT, TINY_INPUT), dtype=np.float32))


def test_exports_once_per_checkpoint(tmp_path: Path, tiny_architecture: str) -> None:
    """A second start reuses the export; changed weights get their own, and nothing half-written is left."""
    weights = write_tiny_checkpoint(tmp_path / "tiny.safetensors", architecture=tiny_architecture)
    cache = tmp_path / "cache"
    first = cached_onnx_export(weights, cache)
    stamp = first.stat().st_mtime_ns
    again = cached_onnx_export(weights, cache)
    assert again == first and first.stat().st_mtime_ns == stamp
    network, metadata = load_checkpoint(weights)
    with torch.no_grad():
        network.class_maps.bias.fill_(1.0)
    save_checkpoint(network, metadata, weights)
    other = cached_onnx_export(weights, cache)
    assert other != first
    assert sorted(p.name for p in cache.iterdir()) == sorted([first.name, other.name])


def test_without_torch_an_export_of_these_weights_is_served(
    tmp_path: Path, tiny_architecture: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A serving image has no torch: it serves the export made at build time, and only one of these weights."""
    weights = write_tiny_checkpoint(tmp_path / "tiny.safetensors", architecture=tiny_architecture)
    made = cached_onnx_export(weights, tmp_path / "cache")
    monkeypatch.setattr(export, "version", torch_not_installed)
    assert cached_onnx_export(weights, tmp_path / "cache") == made
    with pytest.raises(CheckpointError, match=r"needs torch, which is not installed .* neither .* holds an export"):
        cached_onnx_export(weights, tmp_path / "elsewhere")


def test_an_export_beside_the_weights_is_served_with_or_without_torch(
    tmp_path: Path, tiny_architecture: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """How weights/ ships the CIFAR-10 model's export: made into the weights' own folder, then found there, by
    a process with torch (no second export into the cache) and by one without."""
    folder = tmp_path / "weights"
    folder.mkdir()
    weights = write_tiny_checkpoint(folder / "tiny.safetensors", architecture=tiny_architecture)
    shipped = cached_onnx_export(weights, folder)
    assert shipped.parent == folder
    assert cached_onnx_export(weights, tmp_path / "cache") == shipped
    assert not (tmp_path / "cache").exists()
    monkeypatch.setattr(export, "version", torch_not_installed)
    assert cached_onnx_export(weights, tmp_path / "cache") == shipped

"""Shipping a checkpoint into weights/: with ``--onnx``, exactly one export beside it, of exactly these weights."""

from pathlib import Path

import torch

from camserve.models.checkpoint import load_checkpoint, save_checkpoint
from camserve.models.files import file_sha256
from scripts.ship_checkpoint import ship_onnx_export
from tests.support.networks import write_tiny_checkpoint


def test_a_new_export_replaces_the_one_of_earlier_weights(tmp_path: Path, tiny_architecture: str) -> None:
    weights = write_tiny_checkpoint(tmp_path / "tiny.safetensors", architecture=tiny_architecture)
    first = ship_onnx_export(weights)
    network, metadata = load_checkpoint(weights)
    with torch.no_grad():
        network.class_maps.bias.fill_(1.0)
    save_checkpoint(network, metadata, weights)
    second = ship_onnx_export(weights)
    assert second != first
    assert list(tmp_path.glob("*.onnx")) == [second]
    assert file_sha256(weights)[:16] in second.name

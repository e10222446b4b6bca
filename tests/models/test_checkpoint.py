"""Checkpoints round-trip, never unpickle, and every broken one fails with the file named."""

import json
import pickle
from pathlib import Path

import pytest
import torch

from camserve.models.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from camserve.models.metadata import SHIPPED_WEIGHTS, ModelMetadata, metadata_path
from camserve.models.network import build_network
from tests.support.networks import write_tiny_checkpoint


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("ckpt") / "m.safetensors"
    write_tiny_checkpoint(path, class_names=("ant", "bee", "wasp"))
    return path


def copy_checkpoint(source: Path, target_dir: Path) -> Path:
    target = target_dir / source.name
    target.write_bytes(source.read_bytes())
    metadata_path(target).write_text(metadata_path(source).read_text())
    return target


def test_round_trip_keeps_class_names_and_weights(saved: Path, tmp_path: Path) -> None:
    model, metadata = load_checkpoint(saved)
    assert metadata.class_names == ("ant", "bee", "wasp")
    assert model.class_maps.out_channels == 3
    assert not model.training
    again = tmp_path / "again.safetensors"
    save_checkpoint(model, metadata, again, dtype=torch.float32)
    reloaded, _ = load_checkpoint(again)
    for (name, a), (_, b) in zip(model.state_dict().items(), reloaded.state_dict().items(), strict=True):
        torch.testing.assert_close(a, b, msg=name)


def test_committed_weights_are_the_trained_model_with_its_provenance() -> None:
    """The service serves these by default: they must be trained, and say how (split, recipe, metrics)."""
    _, metadata = load_checkpoint(SHIPPED_WEIGHTS)
    assert metadata.class_names == ("cat", "dog")
    assert metadata.trained is True
    assert metadata.extra["split"]["val_photos"] > 0
    assert metadata.extra["training"]["config"]["init"] == "scratch"
    assert 0.5 < metadata.extra["training"]["val_accuracy"] <= 1.0


def test_missing_weights_file(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match=r"nothing\.safetensors: weights file not found"):
        load_checkpoint(tmp_path / "nothing.safetensors")


def test_missing_metadata(saved: Path, tmp_path: Path) -> None:
    path = copy_checkpoint(saved, tmp_path)
    metadata_path(path).unlink()
    with pytest.raises(CheckpointError, match=r"m\.json: metadata file not found"):
        load_checkpoint(path)


@pytest.mark.parametrize(
    ("edit", "reason"),
    [
        (lambda d: d.pop("class_names"), "missing keys: class_names"),
        (lambda d: d.update(colour="red"), "unknown keys: colour"),
        (lambda d: d.update(class_names=["cat"]), "at least 2 distinct"),
        (lambda d: d.update(architecture="vgg"), "unknown architecture"),
    ],
)
def test_invalid_metadata(saved: Path, tmp_path: Path, edit: object, reason: str) -> None:
    path = copy_checkpoint(saved, tmp_path)
    data = json.loads(metadata_path(path).read_text())
    edit(data)  # type: ignore[operator]
    metadata_path(path).write_text(json.dumps(data))
    with pytest.raises(CheckpointError, match=reason) as raised:
        load_checkpoint(path)
    assert str(tmp_path) in str(raised.value)


def test_truncated_weights(saved: Path, tmp_path: Path) -> None:
    path = copy_checkpoint(saved, tmp_path)
    path.write_bytes(path.read_bytes()[:100_000])
    with pytest.raises(CheckpointError, match="not a readable safetensors file"):
        load_checkpoint(path)


def test_pickle_is_never_loaded(saved: Path, tmp_path: Path) -> None:
    """A pickle under the right name must be refused, not executed."""
    path = copy_checkpoint(saved, tmp_path)
    path.write_bytes(pickle.dumps({"class_maps.weight": torch.zeros(1)}))
    with pytest.raises(CheckpointError, match="not a readable safetensors file"):
        load_checkpoint(path)


def test_mismatched_class_count(saved: Path, tmp_path: Path) -> None:
    path = copy_checkpoint(saved, tmp_path)
    data = json.loads(metadata_path(path).read_text())
    data["class_names"] = ["cat", "dog"]
    metadata_path(path).write_text(json.dumps(data))
    with pytest.raises(CheckpointError, match=r"class_maps\.weight has shape \(3, 512, 3, 3\), expected \(2, 512"):
        load_checkpoint(path)


def test_save_writes_half_precision_by_default(tmp_path: Path) -> None:
    metadata = ModelMetadata("n", "v", "resnet34", ("a", "b"), 224)
    path = tmp_path / "half.safetensors"
    save_checkpoint(build_network("resnet34", 2), metadata, path)
    assert 40e6 < path.stat().st_size < 50e6  # 21.8M parameters at 2 bytes each

"""Save and load checkpoints as safetensors weights plus JSON metadata; loading never unpickles."""

import json
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from models.metadata import ModelMetadata, metadata_path
from models.network import CamNetwork, build_network


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be served; the message names the file and what is wrong."""


def save_checkpoint(
    model: CamNetwork, metadata: ModelMetadata, weights_path: Path, dtype: torch.dtype = torch.float16
) -> None:
    """Write ``weights_path`` (safetensors) and its JSON; floating tensors are stored as ``dtype``."""
    weights_path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {
        name: (t.to(dtype) if t.is_floating_point() else t).contiguous().cpu() for name, t in model.state_dict().items()
    }
    save_file(tensors, str(weights_path), metadata={"format": "camserve", "name": metadata.name})
    metadata_path(weights_path).write_text(metadata.to_json())


def load_metadata(weights_path: Path) -> ModelMetadata:
    json_path = metadata_path(weights_path)
    if not json_path.is_file():
        raise CheckpointError(f"{json_path}: metadata file not found (expected beside {weights_path.name})")
    try:
        return ModelMetadata.from_dict(json.loads(json_path.read_text()))
    except (ValueError, TypeError) as error:
        raise CheckpointError(f"{json_path}: invalid metadata: {error}") from error


def load_checkpoint(weights_path: Path) -> tuple[CamNetwork, ModelMetadata]:
    """Rebuild the network from metadata and load its weights as float32, in eval mode."""
    weights_path = Path(weights_path)
    if not weights_path.is_file():
        raise CheckpointError(f"{weights_path}: weights file not found")
    metadata = load_metadata(weights_path)
    try:
        tensors = load_file(str(weights_path))
    except (SafetensorError, OSError) as error:
        raise CheckpointError(f"{weights_path}: not a readable safetensors file ({error})") from error
    try:
        model = build_network(metadata.architecture, metadata.num_classes)
    except ValueError as error:
        raise CheckpointError(f"{metadata_path(weights_path)}: {error}") from error
    expected = model.state_dict()
    problems = [f"missing {name}" for name in expected.keys() - tensors.keys()]
    problems += [f"unexpected {name}" for name in tensors.keys() - expected.keys()]
    problems += [
        f"{name} has shape {tuple(tensors[name].shape)}, expected {tuple(t.shape)}"
        for name, t in expected.items()
        if name in tensors and tensors[name].shape != t.shape
    ]
    if problems:
        shown = "; ".join(sorted(problems)[:5]) + (" ..." if len(problems) > 5 else "")
        raise CheckpointError(
            f"{weights_path}: weights do not match {metadata.architecture} with {metadata.num_classes} classes: {shown}"
        )
    model.load_state_dict({name: t.to(expected[name].dtype) for name, t in tensors.items()})
    return model.eval(), metadata

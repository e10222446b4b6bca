"""Save and load checkpoints as safetensors weights plus JSON metadata; loading never unpickles."""

from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from camserve.models.classmap_network import ClassMapNetwork
from camserve.models.files import atomic_write
from camserve.models.metadata import CheckpointError, ModelMetadata, load_metadata, metadata_path
from camserve.models.network import build_network

__all__ = ["CheckpointError", "load_checkpoint", "save_checkpoint"]


def save_checkpoint(
    model: ClassMapNetwork, metadata: ModelMetadata, weights_path: Path, dtype: torch.dtype = torch.float16
) -> None:
    """Write ``weights_path`` (safetensors) and its JSON; floating tensors are stored as ``dtype``."""
    weights_path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {
        name: (t.to(dtype) if t.is_floating_point() else t).contiguous().cpu() for name, t in model.state_dict().items()
    }
    with atomic_write(weights_path) as staged:
        save_file(tensors, str(staged), metadata={"format": "camserve", "name": metadata.name})
    with atomic_write(metadata_path(weights_path)) as staged:
        staged.write_text(metadata.to_json())


def load_checkpoint(weights_path: Path) -> tuple[ClassMapNetwork, ModelMetadata]:
    """Rebuild the network from metadata and load its weights as float32, in eval mode."""
    weights_path = Path(weights_path)
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

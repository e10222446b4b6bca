"""What a checkpoint says about itself: everything needed to rebuild and feed the network.

Plain JSON, read without torch, so runtimes that need no torch (ONNX Runtime on a cached export) can serve.
"""

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

# The checkpoints camserve ships: camserve/weights in the installed package, the top-level weights/ in a checkout.
# The cats-and-dogs resnet34 is the default model; the lesson's CIFAR-10 Resnet2 is served beside it.
SHIPPED_WEIGHTS = Path(__file__).parent.parent / "weights" / "camserve-resnet34.safetensors"
SHIPPED_CIFAR_WEIGHTS = SHIPPED_WEIGHTS.with_name("camserve-lesson7-resnet2.safetensors")
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be served; the message names the file and what is wrong."""


@dataclass(frozen=True)
class ModelMetadata:
    """Checkpoint metadata, stored as JSON beside the safetensors file."""

    name: str
    version: str
    architecture: str
    class_names: tuple[str, ...]
    input_size: int
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    trained: bool = False
    extra: dict[str, Any] = field(default_factory=dict)
    # Temperature scaling (camserve calibrate): every runtime reports softmax(log_probs / temperature), so a
    # stated confidence matches how often the model is right. 1.0 is the network's own softmax.
    temperature: float = 1.0

    def __post_init__(self) -> None:
        if len(self.class_names) < 2 or len(set(self.class_names)) != len(self.class_names):
            raise ValueError(f"class_names must be at least 2 distinct names, got {list(self.class_names)}")
        if self.input_size < 32:
            raise ValueError(f"input_size must be at least 32, got {self.input_size}")
        if len(self.mean) != 3 or len(self.std) != 3 or min(self.std) <= 0:
            raise ValueError("mean and std must be three numbers each, std positive")
        if not 0.05 <= self.temperature <= 20.0:
            raise ValueError(f"temperature must lie between 0.05 and 20, got {self.temperature}")

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2) + "\n"

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ModelMetadata":
        required = {"name", "version", "architecture", "class_names", "input_size"}
        missing = sorted(required - data.keys())
        if missing:
            raise ValueError(f"missing keys: {', '.join(missing)}")
        known = {f for f in cls.__dataclass_fields__}
        unknown = sorted(data.keys() - known)
        if unknown:
            raise ValueError(f"unknown keys: {', '.join(unknown)}")
        return cls(
            **{
                **data,
                "class_names": tuple(data["class_names"]),
                "mean": tuple(data.get("mean", IMAGENET_MEAN)),
                "std": tuple(data.get("std", IMAGENET_STD)),
            }
        )


def metadata_path(weights_path: Path) -> Path:
    """The JSON that belongs to a safetensors file: same name, ``.json`` suffix."""
    return weights_path.with_suffix(".json")


def load_metadata(weights_path: Path) -> ModelMetadata:
    """The metadata of the checkpoint at ``weights_path``; both files must exist."""
    weights_path = Path(weights_path)
    if not weights_path.is_file():
        raise CheckpointError(f"{weights_path}: weights file not found")
    json_path = metadata_path(weights_path)
    if not json_path.is_file():
        raise CheckpointError(f"{json_path}: metadata file not found (expected beside {weights_path.name})")
    try:
        return ModelMetadata.from_dict(json.loads(json_path.read_text()))
    except (ValueError, TypeError) as error:
        raise CheckpointError(f"{json_path}: invalid metadata: {error}") from error

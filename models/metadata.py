"""What a checkpoint says about itself: everything needed to rebuild and feed the network."""

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


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

    def __post_init__(self) -> None:
        if len(self.class_names) < 2 or len(set(self.class_names)) != len(self.class_names):
            raise ValueError(f"class_names must be at least 2 distinct names, got {list(self.class_names)}")
        if self.input_size < 32:
            raise ValueError(f"input_size must be at least 32, got {self.input_size}")
        if len(self.mean) != 3 or len(self.std) != 3 or min(self.std) <= 0:
            raise ValueError("mean and std must be three numbers each, std positive")

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

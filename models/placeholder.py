"""Write the untrained placeholder checkpoint that ships until trained weights land.

Run: ``python -m models.placeholder weights/camserve-resnet34.safetensors``. It is seeded, so the
file is reproducible, and labelled ``trained: false`` so nothing downstream can mistake it for a model.
"""

import argparse
from pathlib import Path

import torch

from models.checkpoint import save_checkpoint
from models.metadata import ModelMetadata
from models.network import build_network

PLACEHOLDER_SEED = 0
PLACEHOLDER_HEAD_SCALE = 1e-3


def write_placeholder(weights_path: Path, class_names: tuple[str, ...] = ("cat", "dog")) -> ModelMetadata:
    torch.manual_seed(PLACEHOLDER_SEED)
    metadata = ModelMetadata(
        name="camserve-resnet34",
        version="0.0.0-placeholder",
        architecture="resnet34",
        class_names=class_names,
        input_size=224,
        trained=False,
        extra={"note": "UNTRAINED PLACEHOLDER: random weights, predictions are meaningless"},
    )
    model = build_network(metadata.architecture, metadata.num_classes)
    with torch.no_grad():
        # Random BatchNorm statistics make raw logits huge; a tiny head keeps the placeholder's
        # probabilities near uniform instead of a confident-looking 100%.
        model.class_maps.weight.mul_(PLACEHOLDER_HEAD_SCALE)
    save_checkpoint(model, metadata, weights_path)
    return metadata


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("weights_path", type=Path)
    write_placeholder(parser.parse_args().weights_path)


if __name__ == "__main__":
    main()

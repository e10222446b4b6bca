"""Small CAM networks for tests: a hand-built one whose map is known, and tiny trainable checkpoints.

Importing this module registers the ``tiny-resnet`` and ``red-patch`` bodies with ``build_network``, once per
test process.
"""

import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torchvision.models.resnet import BasicBlock

from camserve.models.checkpoint import save_checkpoint
from camserve.models.inference.predictor import Prediction
from camserve.models.metadata import ModelMetadata
from camserve.models.network import CamNetwork, build_network, register_body
from camserve.models.runtimes.torch import TorchPredictor

TINY_INPUT = 64
TINY_CELL = 8  # the red-patch model's map has one cell per 8x8 input pixels: 8 x 8 cells
TINY_ARCHITECTURE = "tiny-resnet"
RED_PATCH_ARCHITECTURE = "red-patch"


@register_body(RED_PATCH_ARCHITECTURE)
def red_patch_body(pretrained: bool) -> tuple[nn.Module, int]:
    """The red-patch network's body (weightless), so its checkpoint loads by name like any other."""
    return nn.AvgPool2d(TINY_CELL), 3


def build_red_patch_network() -> CamNetwork:
    """A CAM network whose 'red' class map is high exactly where the input is saturated red.

    body: average-pool each 8x8 block (one map cell per block); class_maps: class 0 ('red') = R - G - B
    at the centre tap of the 3x3 kernel, class 1 ('other') = its negative. Built by hand so tests know
    where the map must peak.
    """
    network = CamNetwork(*red_patch_body(False), num_classes=2)
    with torch.no_grad():
        network.class_maps.weight.zero_()
        network.class_maps.bias.zero_()
        network.class_maps.weight[0, :, 1, 1] = torch.tensor([4.0, -2.0, -2.0])
        network.class_maps.weight[1, :, 1, 1] = torch.tensor([-4.0, 2.0, 2.0])
    return network.eval()


RED_PATCH_METADATA = ModelMetadata(
    name="red-patch",
    version="test",
    architecture="resnet34",
    class_names=("red", "other"),
    input_size=TINY_INPUT,
    mean=(0.0, 0.0, 0.0),
    std=(1.0, 1.0, 1.0),
    trained=True,
)


def write_red_patch_checkpoint(weights_path: Path) -> Path:
    """The red-patch network as a checkpoint, for commands that load weights from a file."""
    metadata = replace(RED_PATCH_METADATA, architecture=RED_PATCH_ARCHITECTURE)
    save_checkpoint(build_red_patch_network(), metadata, weights_path)
    return weights_path


@register_body(TINY_ARCHITECTURE)
def tiny_resnet_body(pretrained: bool) -> tuple[nn.Module, int]:
    """A resnet-shaped body (stem, then residual blocks) small enough to train for a few steps in a test."""
    downsample = nn.Sequential(nn.Conv2d(8, 16, 1, stride=2, bias=False), nn.BatchNorm2d(16))
    body = nn.Sequential(
        nn.Conv2d(3, 8, 3, stride=2, padding=1, bias=False),
        nn.BatchNorm2d(8),
        nn.ReLU(inplace=True),
        BasicBlock(8, 8),
        BasicBlock(8, 16, stride=2, downsample=downsample),
    )
    return body, 16


def write_tiny_checkpoint(
    weights_path: Path,
    class_names: tuple[str, ...] = ("cat", "dog"),
    input_size: int = 32,
    extra: dict[str, object] | None = None,
    architecture: str = "resnet34",
) -> Path:
    """A seeded, randomly initialised CAM checkpoint that ``load_checkpoint`` accepts, at a tiny input size."""
    metadata = ModelMetadata(
        name="tiny",
        version="test",
        architecture=architecture,
        class_names=class_names,
        input_size=input_size,
        trained=True,
        extra=extra or {},
    )
    with torch.random.fork_rng():
        torch.manual_seed(0)
        network = build_network(metadata.architecture, metadata.num_classes)
    save_checkpoint(network, metadata, weights_path)
    return weights_path


class SlowPredictor(TorchPredictor):
    """A predictor whose forward takes a while, so a flood fills the queue."""

    def predict(self, batch: np.ndarray) -> list[Prediction]:
        time.sleep(0.1)
        return super().predict(batch)

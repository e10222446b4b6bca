"""The lesson-7 CAM network: a convolutional body and a class-map conv, with no linear layer.

Each output channel of ``class_maps`` is one class's spatial evidence map, and its spatial mean is that
class's logit, so the class activation map is read straight off the forward pass with no gradients.

Architectures are registered by name, so a checkpoint's metadata rebuilds its network: bodies (with
``@register_body``) get that class-map head; whole networks with a head of their own (the lesson's CIFAR-10
networks, ``camserve.models.cifar.networks``) are listed as they are.
"""

from collections.abc import Callable

import torch
import torchvision
from torch import nn

from camserve.models.cifar.networks import LESSON_NETWORKS
from camserve.models.classmap_network import ClassMapNetwork

BodyFactory = Callable[[bool], tuple[nn.Module, int]]
NetworkFactory = Callable[[int], ClassMapNetwork]

_BODIES: dict[str, BodyFactory] = {}
# Whole networks with their own head (no body + class-map conv), built from the number of classes alone.
_NETWORKS: dict[str, NetworkFactory] = dict(LESSON_NETWORKS)


def register_body(architecture: str) -> Callable[[BodyFactory], BodyFactory]:
    """Make ``build_network`` (and so checkpoints) know a body by name. The factory takes ``pretrained`` and
    returns the body and its number of output channels. A name is registered once."""

    def register(factory: BodyFactory) -> BodyFactory:
        if architecture in _BODIES or architecture in _NETWORKS:
            raise ValueError(f"architecture {architecture!r} is already registered")
        _BODIES[architecture] = factory
        return factory

    return register


def architectures() -> tuple[str, ...]:
    return tuple(sorted({*_BODIES, *_NETWORKS}))


@register_body("resnet34")
def _resnet34_body(pretrained: bool) -> tuple[nn.Module, int]:
    """All children of torchvision's resnet34 but the last two (avgpool and fc); 512 channels out."""
    weights = torchvision.models.ResNet34_Weights.IMAGENET1K_V1 if pretrained else None
    resnet = torchvision.models.resnet34(weights=weights)
    return nn.Sequential(*list(resnet.children())[:-2]), 512


class CamNetwork(ClassMapNetwork):
    """body -> Conv2d(C_body, n_classes, 3, padding=1) -> AdaptiveAvgPool2d(1) -> Flatten -> LogSoftmax."""

    class_maps: nn.Conv2d

    def __init__(self, body: nn.Module, body_channels: int, num_classes: int) -> None:
        super().__init__()
        self.body = body
        self.class_maps = nn.Conv2d(body_channels, num_classes, kernel_size=3, padding=1)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.log_softmax = nn.LogSoftmax(dim=1)

    def forward_with_maps(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Log-probabilities and the class maps they were pooled from, for runtimes without forward hooks."""
        maps = self.class_maps(self.body(images))
        return self.log_softmax(self.flatten(self.pool(maps))), maps


def build_network(architecture: str, num_classes: int, pretrained: bool = False) -> ClassMapNetwork:
    """Build a network by architecture name: a registered body with the class-map head, or a whole network
    (the lesson's CIFAR-10 ones). ``pretrained`` downloads torchvision's ImageNet weights for a body."""
    if architecture not in _BODIES and architecture not in _NETWORKS:
        raise ValueError(f"unknown architecture {architecture!r}; known: {', '.join(architectures())}")
    if num_classes < 2:
        raise ValueError(f"a classifier needs at least 2 classes, got {num_classes}")
    if architecture in _NETWORKS:
        if pretrained:
            raise ValueError(f"{architecture} has no pretrained weights; train it from scratch")
        return _NETWORKS[architecture](num_classes)
    body, channels = _BODIES[architecture](pretrained)
    return CamNetwork(body, channels, num_classes)

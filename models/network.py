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
# A body whose last stage is dilated gets a head dilated alike, so the head's 3x3 window covers the same
# photo pixels as the undilated head did; the architecture name alone decides it (checkpoints store no more).
_HEAD_DILATION: dict[str, int] = {}
# Whole networks with their own head (no body + class-map conv), built from the number of classes alone.
_NETWORKS: dict[str, NetworkFactory] = dict(LESSON_NETWORKS)


def register_body(architecture: str, head_dilation: int = 1) -> Callable[[BodyFactory], BodyFactory]:
    """Make ``build_network`` (and so checkpoints) know a body by name. The factory takes ``pretrained`` and
    returns the body and its number of output channels; ``head_dilation`` dilates the class-map conv.
    A name is registered once."""

    def register(factory: BodyFactory) -> BodyFactory:
        if architecture in _BODIES or architecture in _NETWORKS:
            raise ValueError(f"architecture {architecture!r} is already registered")
        _BODIES[architecture] = factory
        _HEAD_DILATION[architecture] = head_dilation
        return factory

    return register


def architectures() -> tuple[str, ...]:
    return tuple(sorted({*_BODIES, *_NETWORKS}))


@register_body("resnet34")
def _resnet34_body(pretrained: bool) -> tuple[nn.Module, int]:
    """All children of torchvision's resnet34 but the last two (avgpool and fc); 512 channels out."""
    return _without_pool_and_fc(_resnet34(pretrained)), 512


@register_body("resnet34-os16", head_dilation=2)
def _resnet34_os16_body(pretrained: bool) -> tuple[nn.Module, int]:
    """resnet34 with output stride 16: layer4 at stride 1, dilated, so maps are twice as fine (9x9 at 144 px).
    Same parameter names and shapes as resnet34, so its weights (ImageNet's or a checkpoint's) load unchanged.
    The head is dilated too: it keeps the 3x3 head's field of view in photo pixels, and with 2.0.0's weights
    it was as accurate or better than an undilated head on validation photos (issue 29)."""
    resnet = _resnet34(pretrained)
    dilate_last_stage(resnet.layer4)
    return _without_pool_and_fc(resnet), 512


def _resnet34(pretrained: bool) -> torchvision.models.ResNet:
    weights = torchvision.models.ResNet34_Weights.IMAGENET1K_V1 if pretrained else None
    return torchvision.models.resnet34(weights=weights)


def _without_pool_and_fc(resnet: torchvision.models.ResNet) -> nn.Sequential:
    return nn.Sequential(*list(resnet.children())[:-2])


def dilate_last_stage(stage: nn.Module, dilation: int = 2) -> None:
    """Turn a stride-2 stage of torchvision BasicBlocks into a stride-1 one whose later 3x3 convs are dilated,
    as torchvision's ``replace_stride_with_dilation`` does for Bottleneck (it refuses BasicBlock): the first
    block's conv1 and downsample keep their weights at stride 1 (the stride's field of view is kept by
    dilating every conv after it)."""
    blocks = [block for block in stage.children() if isinstance(block, torchvision.models.resnet.BasicBlock)]
    if not blocks or len(blocks) != len(list(stage.children())):
        raise ValueError("dilate_last_stage expects a stage of torchvision BasicBlocks")
    first = blocks[0]
    downsample = [] if first.downsample is None else list(first.downsample.modules())
    strided = [first.conv1, *(m for m in downsample if isinstance(m, nn.Conv2d))]
    for conv in strided:
        conv.stride = (1, 1)
    convs: list[nn.Conv2d] = [first.conv2] + [conv for block in blocks[1:] for conv in (block.conv1, block.conv2)]
    for conv in convs:
        conv.dilation = (dilation, dilation)
        conv.padding = (dilation, dilation)


class CamNetwork(ClassMapNetwork):
    """body -> Conv2d(C_body, n_classes, 3, padding=1) -> AdaptiveAvgPool2d(1) -> Flatten -> LogSoftmax."""

    class_maps: nn.Conv2d

    def __init__(self, body: nn.Module, body_channels: int, num_classes: int, head_dilation: int = 1) -> None:
        super().__init__()
        self.body = body
        self.class_maps = nn.Conv2d(
            body_channels, num_classes, kernel_size=3, padding=head_dilation, dilation=head_dilation
        )
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
    return CamNetwork(body, channels, num_classes, _HEAD_DILATION[architecture])

"""The networks of fast.ai's lesson 7 CIFAR-10 notebook (courses/dl1/lesson7-cifar10.ipynb, fastai 0.7),
as the notebook defines them, each with the original CAM of Zhou et al. (2016) computed in its forward pass.

Every one ends in adaptive max pooling and a linear layer, so class c's map at cell (i, j) is that linear
layer applied to the feature vector there: ``W_c . f(i, j) + b_c``, the logit the head would give if that
cell were all it pooled. With average pooling the map's mean would be the logit exactly; with the lesson's
max pooling the logit takes each channel's largest value wherever it lies, so the map says how strongly each
cell alone votes for each class, not how the logit was assembled (docs/cifar10.md).

Deviations from the notebook, both needed to checkpoint and resume: ``BnLayer`` keeps the last training
batch's statistics (which the notebook's eval mode uses) in buffers instead of plain attributes, and floors
the standard deviation at ``STD_FLOOR`` so a channel that ReLU silenced for a whole batch cannot divide by 0.
"""

from collections.abc import Callable

import torch
from torch import nn
from torch.nn import functional

from camserve.models.classmap_network import ClassMapNetwork

__all__ = [
    "LESSON_NETWORKS",
    "BnLayer",
    "ConvBnNet",
    "ConvBnNet2",
    "ConvLayer",
    "ConvNet",
    "ConvNet2",
    "LessonNetwork",
    "LinearClassMaps",
    "Resnet",
    "Resnet2",
    "ResnetLayer",
]

STD_FLOOR = 1e-5


class LinearClassMaps(nn.Module):
    """The linear head applied at every cell of the last feature maps (a 1x1 convolution with its weights).

    It owns no parameters: the head's own weights come in with the features, so the checkpoint holds them
    once, and the module exists so the PyTorch runtime's forward hook can capture its output.
    """

    def forward(self, features: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        return functional.conv2d(features, weight[:, :, None, None], bias)


class LessonNetwork(ClassMapNetwork):
    """The lesson's shared head: ``F.adaptive_max_pool2d(x, 1)``, flatten, dropout (Resnet2 only), ``out``
    (the linear layer), ``F.log_softmax``. Subclasses define ``features``, the body the notebook writes
    inline in ``forward``."""

    def __init__(self, channels: int, num_classes: int, dropout: float | None = None) -> None:
        super().__init__()
        self.out = nn.Linear(channels, num_classes)
        self.drop = nn.Dropout(dropout) if dropout is not None else nn.Identity()
        self.class_maps = LinearClassMaps()

    def features(self, images: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward_with_maps(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.features(images)
        pooled = self.drop(functional.adaptive_max_pool2d(features, 1).flatten(1))
        log_probs = functional.log_softmax(self.out(pooled), dim=-1)
        return log_probs, self.class_maps(features, self.out.weight, self.out.bias)


class ConvNet(LessonNetwork):
    """Section "CNN": 3x3 convolutions with stride 2 and no padding, ReLU; ``ConvNet([3, 20, 40, 80], 10)``."""

    def __init__(self, layers: list[int], c: int) -> None:
        super().__init__(layers[-1], c)
        self.layers = nn.ModuleList(
            [nn.Conv2d(layers[i], layers[i + 1], kernel_size=3, stride=2) for i in range(len(layers) - 1)]
        )

    def features(self, images: torch.Tensor) -> torch.Tensor:
        x = images
        for layer in self.layers:
            x = functional.relu(layer(x))
        return x


class ConvLayer(nn.Module):
    """Section "Refactored": a 3x3 convolution with stride 2 and padding 1, then ReLU."""

    def __init__(self, ni: int, nf: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(ni, nf, kernel_size=3, stride=2, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return functional.relu(self.conv(x))


class ConvNet2(LessonNetwork):
    """Section "Refactored": ConvNet rebuilt from ``ConvLayer`` blocks; ``ConvNet2([3, 20, 40, 80], 10)``."""

    def __init__(self, layers: list[int], c: int) -> None:
        super().__init__(layers[-1], c)
        self.layers = nn.ModuleList([ConvLayer(layers[i], layers[i + 1]) for i in range(len(layers) - 1)])

    def features(self, images: torch.Tensor) -> torch.Tensor:
        x = images
        for layer in self.layers:
            x = layer(x)
        return x


class BnLayer(nn.Module):
    """Section "BatchNorm": the lesson's own batch normalisation after the ReLU, with learnable shift ``a``
    and scale ``m``. Training normalises by the batch's per-channel mean and (unbiased) standard deviation;
    evaluation reuses the last training batch's, as the notebook does (it keeps no running averages)."""

    def __init__(self, ni: int, nf: int, stride: int = 2, kernel_size: int = 3) -> None:
        super().__init__()
        self.conv = nn.Conv2d(ni, nf, kernel_size=kernel_size, stride=stride, bias=False, padding=1)
        self.a = nn.Parameter(torch.zeros(nf, 1, 1))
        self.m = nn.Parameter(torch.ones(nf, 1, 1))
        self.means: torch.Tensor
        self.stds: torch.Tensor
        self.register_buffer("means", torch.zeros(nf, 1, 1))
        self.register_buffer("stds", torch.ones(nf, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = functional.relu(self.conv(x))
        if self.training:
            means = x.mean(dim=(0, 2, 3)).view(-1, 1, 1)
            stds = x.std(dim=(0, 2, 3)).view(-1, 1, 1)
            self.means.copy_(means.detach())
            self.stds.copy_(stds.detach())
        else:
            means, stds = self.means, self.stds
        return (x - means) / stds.clamp_min(STD_FLOOR) * self.m + self.a


class ResnetLayer(BnLayer):
    """Section "Resnet": ``x + BnLayer(x)``, the identity plus one stride-1 ``BnLayer``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + super().forward(x)


class ConvBnNet(LessonNetwork):
    """Section "BatchNorm": a 5x5 stride-1 convolution (10 channels, no ReLU), then stride-2 ``BnLayer``s;
    ``ConvBnNet([10, 20, 40, 80, 160], 10)``."""

    def __init__(self, layers: list[int], c: int) -> None:
        super().__init__(layers[-1], c)
        self.conv1 = nn.Conv2d(3, 10, kernel_size=5, stride=1, padding=2)
        self.layers = nn.ModuleList([BnLayer(layers[i], layers[i + 1]) for i in range(len(layers) - 1)])

    def features(self, images: torch.Tensor) -> torch.Tensor:
        x: torch.Tensor = self.conv1(images)
        for layer in self.layers:
            x = layer(x)
        return x


class ConvBnNet2(LessonNetwork):
    """Section "Deep BatchNorm": ConvBnNet with a stride-1 ``BnLayer`` after each stride-2 one."""

    def __init__(self, layers: list[int], c: int) -> None:
        super().__init__(layers[-1], c)
        self.conv1 = nn.Conv2d(3, 10, kernel_size=5, stride=1, padding=2)
        self.layers = nn.ModuleList([BnLayer(layers[i], layers[i + 1]) for i in range(len(layers) - 1)])
        self.layers2 = nn.ModuleList([BnLayer(layers[i + 1], layers[i + 1], 1) for i in range(len(layers) - 1)])

    def features(self, images: torch.Tensor) -> torch.Tensor:
        x: torch.Tensor = self.conv1(images)
        for layer, layer2 in zip(self.layers, self.layers2, strict=True):
            x = layer2(layer(x))
        return x


class Resnet(LessonNetwork):
    """Section "Resnet": each stride-2 ``BnLayer`` followed by two ``ResnetLayer``s;
    ``Resnet([10, 20, 40, 80, 160], 10)``."""

    def __init__(self, layers: list[int], c: int, dropout: float | None = None) -> None:
        super().__init__(layers[-1], c, dropout)
        self.conv1: nn.Module = nn.Conv2d(3, 10, kernel_size=5, stride=1, padding=2)
        self.layers = nn.ModuleList([BnLayer(layers[i], layers[i + 1]) for i in range(len(layers) - 1)])
        self.layers2 = nn.ModuleList([ResnetLayer(layers[i + 1], layers[i + 1], 1) for i in range(len(layers) - 1)])
        self.layers3 = nn.ModuleList([ResnetLayer(layers[i + 1], layers[i + 1], 1) for i in range(len(layers) - 1)])

    def features(self, images: torch.Tensor) -> torch.Tensor:
        x: torch.Tensor = self.conv1(images)
        for layer, layer2, layer3 in zip(self.layers, self.layers2, self.layers3, strict=True):
            x = layer3(layer2(layer(x)))
        return x


class Resnet2(Resnet):
    """Section "Resnet 2": Resnet with a 7x7 stride-1 ``BnLayer`` stem (16 channels; its padding stays the
    ``BnLayer``'s 1, so 32 px become 28) and dropout before the linear layer;
    ``Resnet2([16, 32, 64, 128, 256], 10, 0.2)``."""

    def __init__(self, layers: list[int], c: int, p: float = 0.5) -> None:
        super().__init__(layers, c, dropout=p)
        self.conv1 = BnLayer(3, 16, stride=1, kernel_size=7)


# The notebook's instances, in its order. SimpleNet (fully connected, no feature maps) has no CAM.
LESSON_NETWORKS: dict[str, Callable[[int], ClassMapNetwork]] = {
    "lesson7-convnet": lambda c: ConvNet([3, 20, 40, 80], c),
    "lesson7-convnet2": lambda c: ConvNet2([3, 20, 40, 80], c),
    "lesson7-convbnnet": lambda c: ConvBnNet([10, 20, 40, 80, 160], c),
    "lesson7-convbnnet2": lambda c: ConvBnNet2([10, 20, 40, 80, 160], c),
    "lesson7-resnet": lambda c: Resnet([10, 20, 40, 80, 160], c),
    "lesson7-resnet2": lambda c: Resnet2([16, 32, 64, 128, 256], c, 0.2),
}

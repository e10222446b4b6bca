"""What every servable network offers, whatever its head: log-probabilities, and class maps from the same run.

The PyTorch runtime captures the maps with a scoped forward hook on the module called ``class_maps``; graph
runtimes export ``forward_with_maps``. A network with a different head (the lesson's CIFAR-10 networks: max
pooling and a linear layer) only has to compute its maps inside such a module.
"""

import torch
from torch import nn


class ClassMapNetwork(nn.Module):
    """Base of the networks checkpoints build by name: ``forward`` gives (N, C) log-probabilities and
    ``forward_with_maps`` gives them with the (N, C, h, w) class maps computed by ``self.class_maps``."""

    class_maps: nn.Module

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.forward_with_maps(images)[0]

    def forward_with_maps(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError

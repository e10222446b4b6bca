"""The recipe's optional regularisers: mixup, CutMix, an exponential moving average of the weights, and
stochastic depth. Each is off at 0, the 2.0.0 recipe; which of them help is the ablation's question
(label smoothing, the fifth, is ``LossWeights.label_smoothing``).

Library code where it exists: ``torch.optim.swa_utils`` keeps the moving average, and
``torchvision.ops.stochastic_depth`` drops residual branches. Stochastic depth is applied by forward hooks
on each residual block's last batch norm (the end of the branch, before the shortcut is added), so the
network's modules and its checkpoint keys stay exactly those the service builds.
"""

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from torch.utils.hooks import RemovableHandle
from torchvision.models.resnet import BasicBlock, Bottleneck
from torchvision.ops import stochastic_depth

__all__ = ["MixedBatch", "Regularisation", "add_stochastic_depth", "mix_batch", "weight_average"]


@dataclass(frozen=True)
class Regularisation:
    mixup_alpha: float = 0.0  # > 0: blend pairs of photos, weight ~ Beta(alpha, alpha) (Zhang et al., 2018)
    cutmix_alpha: float = 0.0  # > 0: paste a box of one photo into another (Yun et al., 2019); alternates with mixup
    ema_decay: float = 0.0  # > 0: validate and save the weights' moving average, updated after every step
    stochastic_depth: float = 0.0  # the last block's drop probability, rising linearly from 0 (Huang et al., 2016)

    def __post_init__(self) -> None:
        if min(self.mixup_alpha, self.cutmix_alpha, self.ema_decay, self.stochastic_depth) < 0:
            raise ValueError("mixup_alpha, cutmix_alpha, ema_decay and stochastic_depth must not be negative")
        if self.ema_decay >= 1 or self.stochastic_depth >= 1:
            raise ValueError("ema_decay and stochastic_depth must be below 1")


@dataclass(frozen=True)
class MixedBatch:
    """Photos mixed in pairs: each photo's loss is ``share`` of its own label's and ``1 - share`` of its
    partner's (``partner`` indexes the batch). Unmixed, ``partner`` is None and ``share`` 1."""

    images: torch.Tensor
    partner: torch.Tensor | None
    share: float


def mix_batch(images: torch.Tensor, regularisation: Regularisation, generator: torch.Generator) -> MixedBatch:
    """Mixup or CutMix on a standardised (N, 3, H, W) batch, drawn from ``generator`` (reproducible); with both
    set, each batch uses one of them at random."""
    methods = [
        (name, alpha)
        for name, alpha in (("mixup", regularisation.mixup_alpha), ("cutmix", regularisation.cutmix_alpha))
        if alpha > 0
    ]
    if not methods:
        return MixedBatch(images, None, 1.0)
    name, alpha = methods[int(torch.randint(len(methods), (1,), generator=generator))]
    rng = np.random.default_rng(int(torch.randint(2**31, (1,), generator=generator)))
    share = float(rng.beta(alpha, alpha))
    partner = torch.randperm(len(images), generator=generator).to(images.device)
    if name == "mixup":
        return MixedBatch(share * images + (1 - share) * images[partner], partner, share)
    height, width = images.shape[-2:]
    cut_h, cut_w = round(height * np.sqrt(1 - share)), round(width * np.sqrt(1 - share))
    top, left = int(rng.integers(0, height - cut_h + 1)), int(rng.integers(0, width - cut_w + 1))
    mixed = images.clone()
    mixed[..., top : top + cut_h, left : left + cut_w] = images[partner][..., top : top + cut_h, left : left + cut_w]
    return MixedBatch(mixed, partner, 1 - cut_h * cut_w / (height * width))  # the share the box really left


def weight_average(network: nn.Module, decay: float) -> AveragedModel:
    """The moving average of ``network``'s weights and batch-norm statistics; call ``update_parameters``
    after every optimiser step."""
    return AveragedModel(network, multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=True)


def add_stochastic_depth(network: nn.Module, last_drop: float) -> list[RemovableHandle]:
    """Drop each residual branch of ``network`` per photo while training, block k of K with probability
    ``last_drop * k / K``; evaluation is untouched. Refuses a network without torchvision residual blocks."""
    ends = [
        block.bn3 if isinstance(block, Bottleneck) else block.bn2
        for block in network.modules()
        if isinstance(block, BasicBlock | Bottleneck)
    ]
    if not ends:
        raise ValueError("stochastic depth needs torchvision residual blocks (BasicBlock or Bottleneck)")
    return [end.register_forward_hook(_dropping(last_drop * (k + 1) / len(ends))) for k, end in enumerate(ends)]


def _dropping(probability: float) -> Callable[[nn.Module, object, torch.Tensor], torch.Tensor]:
    def hook(module: nn.Module, _inputs: object, output: torch.Tensor) -> torch.Tensor:
        dropped: torch.Tensor = stochastic_depth(output, probability, "row", training=module.training)
        return dropped

    return hook

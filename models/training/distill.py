"""The training objective: label-smoothed cross-entropy, plus distillation from the teacher when there is one.

The served network has two class-map channels and nothing else. During training an auxiliary linear head
on the pooled body features learns to match the teacher's 1000 ImageNet classes, which carries far more
information per photo than a cat/dog label; it is thrown away when the checkpoint is saved.
"""

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional

from camserve.models.network import CamNetwork


class Student(nn.Module):
    """The CAM network plus the auxiliary head; ``forward`` matches ``CamNetwork.forward`` exactly."""

    def __init__(self, network: CamNetwork, teacher_classes: int) -> None:
        super().__init__()
        self.network = network
        self.aux_head = nn.Linear(network.class_maps.in_channels, teacher_classes) if teacher_classes else None

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        net = self.network
        features = net.body(images)
        log_probs = net.log_softmax(net.flatten(net.pool(net.class_maps(features))))
        aux = self.aux_head(features.mean(dim=(2, 3))) if self.aux_head is not None else None
        return log_probs, aux


@dataclass(frozen=True)
class LossWeights:
    label_smoothing: float = 0.1
    hard: float = 1.0
    teacher_two_class: float = 0.5
    teacher_imagenet: float = 1.0


def training_loss(
    log_probs: torch.Tensor,
    aux_logits: torch.Tensor | None,
    labels: torch.Tensor,
    teacher_two_class: torch.Tensor | None,
    teacher_imagenet: torch.Tensor | None,
    weights: LossWeights,
) -> torch.Tensor:
    log_probs = log_probs.float()
    loss = weights.hard * functional.cross_entropy(log_probs, labels, label_smoothing=weights.label_smoothing)
    if teacher_two_class is not None:
        loss = loss + weights.teacher_two_class * functional.kl_div(log_probs, teacher_two_class, reduction="batchmean")
    if aux_logits is not None and teacher_imagenet is not None:
        target = teacher_imagenet.float().softmax(dim=1)
        student = aux_logits.float().log_softmax(dim=1)
        loss = loss + weights.teacher_imagenet * functional.kl_div(student, target, reduction="batchmean")
    return loss

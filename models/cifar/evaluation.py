"""Scores on the CIFAR-10 test set, plain and with the lesson's test-time augmentation.

fastai 0.7's ``learn.TTA()`` (n_aug=4) predicts the test set once as is and four times through the training
augmentation (reflect-pad, random crop, random flip); the notebook then averages the five views'
probabilities, ``np.mean(np.exp(log_preds), 0)``. Here the four augmented views are seeded, so a score is
reproducible.
"""

from dataclasses import dataclass

import numpy as np
import torch

from camserve.models.cifar.augment import pad_crop_flip
from camserve.models.classmap_network import ClassMapNetwork
from camserve.models.evaluation.calibration import accuracy, log_loss
from camserve.models.metadata import ModelMetadata
from camserve.models.selection.devices import Precision, autocast
from camserve.models.training.augment import standardise

TTA_AUGMENTED_VIEWS = 4
EVAL_BATCH = 1000


@dataclass(frozen=True)
class Scores:
    accuracy: float
    log_loss: float

    @classmethod
    def of(cls, probabilities: np.ndarray, labels: np.ndarray) -> "Scores":
        return cls(accuracy(probabilities, labels), log_loss(probabilities, labels))


def predict_probabilities(
    network: ClassMapNetwork,
    images: torch.Tensor,
    metadata: ModelMetadata,
    precision: Precision,
    augmented_views: int = 0,
    seed: int = 0,
) -> np.ndarray:
    """(N, C) probabilities of uint8 ``images`` (on the network's device), averaged over the plain view and
    ``augmented_views`` seeded pad-crop-flip views."""
    network.eval()
    views: list[np.ndarray] = []
    for view in range(augmented_views + 1):
        generator = torch.Generator().manual_seed(seed * 1000 + view)
        chunks = []
        with torch.inference_mode(), autocast(images.device, precision):
            for start in range(0, len(images), EVAL_BATCH):
                chunk = images[start : start + EVAL_BATCH]
                pixels = chunk.float() if view == 0 else pad_crop_flip(chunk, generator)
                chunks.append(network(standardise(pixels, metadata)).float().exp().cpu())
        views.append(torch.cat(chunks).numpy())
    probabilities: np.ndarray = np.mean(views, axis=0)
    return probabilities


def limited_test_indices(count: int, limit: int | None, seed: int) -> np.ndarray:
    """Indices of a seeded sample of ``limit`` test images, in order (the archive's order is by class, so its
    first images would be one class); all of them without a limit."""
    if limit is None or limit >= count:
        return np.arange(count)
    return np.sort(np.random.default_rng(seed).choice(count, size=limit, replace=False))


def score(
    network: ClassMapNetwork,
    images: torch.Tensor,
    labels: np.ndarray,
    metadata: ModelMetadata,
    precision: Precision,
    tta: bool,
    seed: int = 0,
) -> Scores:
    views = TTA_AUGMENTED_VIEWS if tta else 0
    return Scores.of(predict_probabilities(network, images, metadata, precision, views, seed), labels)

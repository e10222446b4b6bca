"""Training the CAM network: image-folder data, augmentation, distillation, resumable runs."""

from camserve.models.training.augment import Augmentation
from camserve.models.training.cache import cached_images
from camserve.models.training.distill import LossWeights, Student, training_loss
from camserve.models.training.init import InitUnavailable, initial_network
from camserve.models.training.trainer import TrainConfig, Trainer

__all__ = [
    "Augmentation",
    "InitUnavailable",
    "LossWeights",
    "Student",
    "TrainConfig",
    "Trainer",
    "cached_images",
    "initial_network",
    "training_loss",
]

"""Training the CAM network: image-folder data, augmentation, distillation, resumable runs."""

from models.training.augment import Augmentation
from models.training.cache import cached_images
from models.training.distill import LossWeights, Student, training_loss
from models.training.init import InitUnavailable, initial_network
from models.training.trainer import TrainConfig, Trainer

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

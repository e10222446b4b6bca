"""The teacher's outputs for every cached photo, computed once per data set and kept beside the image cache."""

from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from camserve.models.dataset import ImageFolder
from camserve.models.files import atomic_write
from camserve.models.training.teacher import (
    fit_two_class_calibration,
    load_teacher,
    teacher_logits,
    two_class_log_masses,
)

# Below this, the teacher is broken (its weights are loaded by position), not merely imperfect.
MIN_TEACHER_ACCURACY = 0.85


@dataclass(frozen=True)
class TeacherTargets:
    """Per training photo: the teacher's ImageNet logits (float16) and calibrated cat/dog probabilities."""

    imagenet_logits: torch.Tensor
    two_class: torch.Tensor
    train_accuracy: float


def cached_teacher_targets(
    folder: ImageFolder,
    images: torch.Tensor,
    train_index: list[int],
    cache_size: int,
    size: int,
    cache_dir: Path,
    device: torch.device,
) -> TeacherTargets:
    """The teacher sees the ``cache_size`` photos squashed to ``size``; the cat/dog calibration is fitted on
    training labels only, so validation stays unseen."""
    path = Path(cache_dir) / f"teacher-efficientnet-lite0-{folder.digest()}-{cache_size}to{size}px.safetensors"
    if path.is_file():
        logits = load_file(str(path))["logits"]
    else:
        logits = teacher_logits(load_teacher(), images, size, device)
        with atomic_write(path) as staged:
            save_file({"logits": logits}, str(staged))
    train_logits = logits[train_index]
    masses = two_class_log_masses(train_logits, folder.class_names)
    labels = torch.tensor(folder.labels)[train_index]
    calibration = fit_two_class_calibration(masses, labels)
    two_class = (masses * calibration[0] + calibration[1]).softmax(dim=1)
    accuracy = float((two_class.argmax(dim=1) == labels).float().mean())
    if accuracy < MIN_TEACHER_ACCURACY:
        raise ValueError(
            f"the teacher labels only {accuracy:.1%} of the training photos right (expected over "
            f"{MIN_TEACHER_ACCURACY:.0%}): its weights look wrong; train with --teacher none"
        )
    return TeacherTargets(train_logits, two_class, accuracy)

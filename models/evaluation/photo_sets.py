"""The photo sets a release is judged on: a checkpoint's validation photos (the split it records, which it
never trained on) and full-resolution stand-ins (scored whole), each through the service's own decoding."""

import random
from dataclasses import dataclass
from pathlib import Path

from camserve.models.dataset import ImageFolder, scan_image_folder, validation_indices
from camserve.models.evaluation.folder import Evaluation, evaluate_folder
from camserve.models.inference.predictor import Predictor
from camserve.models.metadata import ModelMetadata

__all__ = ["PhotoSet", "evaluate_set", "photo_indices", "release_sets", "sample"]


@dataclass(frozen=True)
class PhotoSet:
    """A folder, scored whole or only on the photos the checkpoint's recorded split held out."""

    name: str
    root: Path
    validation: bool


def release_sets(data: Path, fullres: Path) -> tuple[PhotoSet, PhotoSet]:
    """The training folder's validation split and the full-resolution stand-ins, named as reports name them."""
    return PhotoSet("validation", data, True), PhotoSet("full_resolution", fullres, False)


def photo_indices(folder: ImageFolder, metadata: ModelMetadata, validation: bool) -> list[int]:
    return validation_indices(folder, metadata.extra) if validation else list(range(len(folder.files)))


def sample(indices: list[int], limit: int | None, seed: int) -> list[int]:
    """At most ``limit`` of ``indices``, drawn at random by ``seed`` (so both classes stay), in folder order."""
    if limit is None or limit >= len(indices):
        return indices
    return sorted(random.Random(seed).sample(indices, limit))


def evaluate_set(
    predictor: Predictor, photos: PhotoSet, max_pixels: int, limit: int | None = None, seed: int = 0
) -> Evaluation:
    """``camserve evaluate``'s own evaluation of one set (or of a seeded sample of ``limit`` of its photos),
    with the predictor's current metadata."""
    folder = scan_image_folder(photos.root, predictor.metadata.class_names)
    indices = sample(photo_indices(folder, predictor.metadata, photos.validation), limit, seed)
    return evaluate_folder(predictor, folder, indices, max_pixels)

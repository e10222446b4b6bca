"""What serve-time TTA (the photo and its mirror image, averaged) gains and costs, with the served runtime.

Gain: accuracy, log loss and calibration error of each photo once plain and once with its mirror image
averaged in, through ``camserve.models.inference.tta`` as the service does it. Cost: the bare forward of one
photo (batch 1) against one photo's two views (batch 2), in turns, on the same input.
"""

import statistics
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial

import numpy as np

from camserve.models.dataset import scan_image_folder
from camserve.models.evaluation.measurement import timed, turns
from camserve.models.evaluation.paired import Scores, scores
from camserve.models.evaluation.photo_sets import PhotoSet, photo_indices
from camserve.models.inference.predictor import Predictor
from camserve.models.inference.preprocess import prepare
from camserve.models.inference.tta import average_mirror_views, mirror_views

__all__ = ["MirrorCost", "MirrorScores", "mirror_cost", "mirror_scores", "model_inputs"]

BATCH = 32
WARM_UP = 3


@dataclass(frozen=True)
class MirrorScores:
    photos: int
    plain: Scores
    mirror_tta: Scores


@dataclass(frozen=True)
class MirrorCost:
    """Median milliseconds of a forward of one view and of two views in one batch."""

    one_view_ms: float
    two_views_ms: float


def model_inputs(predictor: Predictor, photos: PhotoSet, max_pixels: int) -> tuple[np.ndarray, np.ndarray]:
    """(N, 3, S, S) inputs as the service prepares them, and their labels."""
    folder = scan_image_folder(photos.root, predictor.metadata.class_names)
    indices = photo_indices(folder, predictor.metadata, photos.validation)
    with ThreadPoolExecutor(2) as pool:
        pixels = list(
            pool.map(lambda i: prepare(folder.files[i].read_bytes(), predictor.metadata, max_pixels).pixels, indices)
        )
    return np.stack(pixels), np.array([folder.labels[i] for i in indices])


def mirror_scores(predictor: Predictor, inputs: np.ndarray, labels: np.ndarray) -> MirrorScores:
    plain, mirrored = [], []
    for start in range(0, len(inputs), BATCH):
        chunk = inputs[start : start + BATCH]
        originals = predictor.predict(chunk)
        flipped = predictor.predict(np.stack([mirror_views(x)[1] for x in chunk]))
        plain += [p.probabilities for p in originals]
        mirrored += [average_mirror_views(o, f).probabilities for o, f in zip(originals, flipped, strict=True)]
    return MirrorScores(len(labels), scores(np.stack(plain), labels), scores(np.stack(mirrored), labels))


def mirror_cost(predictor: Predictor, pixels: np.ndarray, rounds: int) -> MirrorCost:
    """One view against two, a forward each per round, in turns (one, two; two, one; ...)."""
    batches = {"one": pixels[None], "two": np.stack(mirror_views(pixels))}
    for _ in range(WARM_UP):
        for batch in batches.values():
            predictor.predict(batch)
    times: dict[str, list[float]] = {name: [] for name in batches}
    for _, name in turns(rounds, tuple(batches)):
        times[name].append(timed(1, partial(predictor.predict, batches[name]))[0])
    return MirrorCost(round(statistics.median(times["one"]), 2), round(statistics.median(times["two"]), 2))

"""What another input size would be worth: accuracy and log loss of one checkpoint at several sizes, with the
runtime that serves it, beside what each size costs.

Scores come from ``camserve evaluate``'s own evaluation with the input size overridden. Cost: the bare
forward at batch 1 and per photo at the serving batch, and a full-resolution photo's decode and preprocessing,
each size in turn within every round, so all sizes see the same drift of shared cores. The weights were
calibrated and quantised at their own size; at another one the temperature was not fitted and the int8 gate
not run, so serving it needs ``camserve calibrate`` and ``camserve quantize`` at that size first.
"""

import statistics
import time
from dataclasses import dataclass, replace

import numpy as np

from camserve.models.evaluation.photo_sets import PhotoSet, evaluate_set
from camserve.models.inference.predictor import Predictor
from camserve.models.inference.preprocess import prepare

__all__ = ["SIZES", "SizeCost", "SizeScores", "score_sizes", "time_sizes"]

SIZES = (144, 176, 224)


@dataclass(frozen=True)
class SizeScores:
    photos: int
    accuracy: float
    log_loss: float


@dataclass(frozen=True)
class SizeCost:
    """Median milliseconds over the rounds; ``batch`` is the serving batch the per-photo forward ran at."""

    batch: int
    forward_1_ms: float
    forward_batch_ms_per_photo: float
    prepare_fullres_ms: float

    def to_dict(self) -> dict[str, float]:
        """As the sizes table records it, the batch in the per-photo figure's name."""
        return {
            "forward_1_ms": self.forward_1_ms,
            f"forward_{self.batch}_ms_per_photo": self.forward_batch_ms_per_photo,
            "prepare_fullres_ms": self.prepare_fullres_ms,
        }


def score_sizes(
    predictor: Predictor, sizes: list[int], sets: tuple[PhotoSet, ...], max_pixels: int
) -> dict[int, dict[str, SizeScores]]:
    """Every set scored at every size; the predictor's metadata is restored afterwards."""
    trained = predictor.metadata
    scored: dict[int, dict[str, SizeScores]] = {}
    try:
        for size in sizes:
            predictor.metadata = replace(trained, input_size=size)
            scored[size] = {}
            for photos in sets:
                report = evaluate_set(predictor, photos, max_pixels).report
                scored[size][photos.name] = SizeScores(report.photos, report.accuracy, report.log_loss)
    finally:
        predictor.metadata = trained
    return scored


def time_sizes(
    predictor: Predictor, sizes: list[int], photos: list[bytes], batch: int, rounds: int, max_pixels: int
) -> dict[int, SizeCost]:
    """Median ms per size: a forward of one photo, a forward per photo in a full batch, and the preparation
    of a large photo (``photos`` in turn), all sizes timed within each round."""
    if not photos or rounds < 1:
        raise ValueError("timing sizes needs at least one photo and one round")
    metadatas = {size: replace(predictor.metadata, input_size=size) for size in sizes}
    samples: dict[int, tuple[list[float], list[float], list[float]]] = {size: ([], [], []) for size in sizes}
    inputs = {size: np.zeros((batch, 3, size, size), dtype=np.float32) for size in sizes}
    for size in sizes:  # warm each shape once: the first forward at a new size selects kernels
        predictor.predict(inputs[size][:1])
        predictor.predict(inputs[size])
    for round_index in range(rounds):
        for size, metadata in metadatas.items():
            started = time.perf_counter()
            predictor.predict(inputs[size][:1])
            single = time.perf_counter()
            predictor.predict(inputs[size])
            batched = time.perf_counter()
            prepare(photos[round_index % len(photos)], metadata, max_pixels)
            prepared = time.perf_counter()
            one, per_photo, preparation = samples[size]
            one.append((single - started) * 1000.0)
            per_photo.append((batched - single) * 1000.0 / batch)
            preparation.append((prepared - batched) * 1000.0)
    return {
        size: SizeCost(batch, *(round(statistics.median(times), 2) for times in by)) for size, by in samples.items()
    }

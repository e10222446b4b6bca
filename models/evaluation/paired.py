"""Two sets of answers to the same photos, compared fairly: the scores of each, and bootstrap intervals of
their differences that resample the photos (the same ones for both), so a gain of a few photos in thousands
is not mistaken for progress."""

import functools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from camserve.models.evaluation.calibration import accuracy, expected_calibration_error, log_loss

__all__ = ["BOOTSTRAP", "Metric", "Scores", "paired_interval", "paired_mean_interval", "scores"]

BOOTSTRAP = 2000

Metric = Callable[[np.ndarray, np.ndarray], float]


@dataclass(frozen=True)
class Scores:
    """One set of answers against the labels: right or wrong, and how honest its confidence is."""

    accuracy: float
    log_loss: float
    ece: float


def scores(probabilities: np.ndarray, labels: np.ndarray) -> Scores:
    return Scores(
        accuracy(probabilities, labels),
        log_loss(probabilities, labels),
        expected_calibration_error(probabilities, labels),
    )


def paired_interval(
    before: np.ndarray, after: np.ndarray, labels: np.ndarray, metric: Metric, seed: int = 0
) -> tuple[float, float]:
    """95% bootstrap interval of metric(after) - metric(before), resampling photos (the same ones for both)."""
    if len(before) != len(after) or len(after) != len(labels) or not len(labels):
        raise ValueError("paired answers need the same photos on both sides, and at least one")
    differences = [
        metric(after[sample], labels[sample]) - metric(before[sample], labels[sample])
        for sample in _resamples(len(labels), seed)
    ]
    return _percentiles(np.asarray(differences))


def paired_mean_interval(before: np.ndarray, after: np.ndarray, seed: int = 0) -> tuple[float, float]:
    """95% bootstrap interval of mean(after) - mean(before) for per-photo scores (a hit, a share of the map):
    the same resamples as ``paired_interval`` with the same seed, so every kind meets the same photos."""
    if before.shape != after.shape or before.ndim != 1 or not len(before):
        raise ValueError("paired scores need the same photos on both sides, and at least one")
    differences = np.asarray(after, np.float64) - np.asarray(before, np.float64)
    return _percentiles(differences[_resamples(len(differences), seed)].mean(axis=1))


@functools.lru_cache(maxsize=8)
def _resamples(count: int, seed: int) -> np.ndarray:
    """BOOTSTRAP draws of ``count`` photo indices with replacement, (BOOTSTRAP, count); kept, since every kind
    and figure of a report draws the same ones."""
    rng = np.random.default_rng(seed)
    samples = np.stack([rng.integers(0, count, count) for _ in range(BOOTSTRAP)])
    samples.setflags(write=False)
    return samples


def _percentiles(differences: np.ndarray) -> tuple[float, float]:
    low, high = np.percentile(differences, [2.5, 97.5])
    return round(float(low), 5), round(float(high), 5)

"""Two sets of answers to the same photos, compared fairly: the scores of each, and bootstrap intervals of
their differences that resample the photos (the same ones for both), so a gain of a few photos in thousands
is not mistaken for progress."""

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from camserve.models.evaluation.calibration import accuracy, expected_calibration_error, log_loss

__all__ = ["BOOTSTRAP", "Metric", "Scores", "paired_interval", "scores"]

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
    rng = np.random.default_rng(seed)
    differences = []
    for _ in range(BOOTSTRAP):
        sample = rng.integers(0, len(labels), len(labels))
        differences.append(metric(after[sample], labels[sample]) - metric(before[sample], labels[sample]))
    low, high = np.percentile(differences, [2.5, 97.5])
    return round(float(low), 5), round(float(high), 5)

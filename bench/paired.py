"""Two sets of answers to the same photos, compared fairly: the scores of each, and bootstrap intervals of
their differences that resample the photos (the same ones for both), so a gain of a few photos in thousands
is not mistaken for progress."""

from collections.abc import Callable

import numpy as np

from camserve.models.evaluation.calibration import accuracy, expected_calibration_error, log_loss

BOOTSTRAP = 2000


def scores(probabilities: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    return {
        "accuracy": accuracy(probabilities, labels),
        "log_loss": log_loss(probabilities, labels),
        "ece": expected_calibration_error(probabilities, labels),
    }


def paired_interval(
    before: np.ndarray, after: np.ndarray, labels: np.ndarray, metric: Callable[[np.ndarray, np.ndarray], float]
) -> list[float]:
    """95% bootstrap interval of metric(after) - metric(before), resampling photos (the same ones for both)."""
    rng = np.random.default_rng(0)
    differences = []
    for _ in range(BOOTSTRAP):
        sample = rng.integers(0, len(labels), len(labels))
        differences.append(metric(after[sample], labels[sample]) - metric(before[sample], labels[sample]))
    return [round(float(q), 5) for q in np.percentile(differences, [2.5, 97.5])]

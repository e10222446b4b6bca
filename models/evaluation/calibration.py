"""Honest confidence: temperature scaling (Guo et al., 2017), expected calibration error, reliability diagrams.

A network trained with label smoothing and long schedules states confidences that do not match how often
it is right. One temperature T, fitted on held-out photos by minimising the log loss of
softmax(log_probs / T), fixes most of that without moving any label (the argmax is unchanged).
"""

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from camserve.models.inference.predictor import calibrated_probabilities

__all__ = ["Calibration", "accuracy", "expected_calibration_error", "fit_temperature", "log_loss", "plot_reliability"]

BINS = 15
T_BOUNDS = (0.05, 20.0)  # what ModelMetadata accepts


def accuracy(probabilities: np.ndarray, labels: np.ndarray) -> float:
    """The share of photos whose most probable class is the true one."""
    return float((probabilities.argmax(axis=1) == labels).mean())


def log_loss(probabilities: np.ndarray, labels: np.ndarray) -> float:
    picked = probabilities[np.arange(len(labels)), labels]
    return float(-np.log(np.clip(picked, 1e-12, 1.0)).mean())


def fit_temperature(log_probs: np.ndarray, labels: np.ndarray) -> float:
    """The T that minimises the log loss of softmax(log_probs / T); a bounded 1-D search over log T."""
    # SciPy comes with the train extra; the rest of this module also serves camserve evaluate in the
    # torch-free CPU image, which has no SciPy.
    from scipy.optimize import minimize_scalar

    result = minimize_scalar(
        lambda log_t: log_loss(calibrated_probabilities(log_probs, float(np.exp(log_t))), labels),
        bounds=(float(np.log(T_BOUNDS[0])), float(np.log(T_BOUNDS[1]))),
        method="bounded",
    )
    return float(np.clip(np.exp(result.x), *T_BOUNDS))


def _bins(probabilities: np.ndarray, labels: np.ndarray, bins: int) -> list[tuple[float, float, int]]:
    """Per confidence bin: mean confidence, accuracy, photo count (empty bins left out)."""
    confidence = probabilities.max(axis=1)
    correct = probabilities.argmax(axis=1) == labels
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1], right=True), 0, bins - 1)
    return [
        (float(confidence[which == b].mean()), float(correct[which == b].mean()), int((which == b).sum()))
        for b in range(bins)
        if (which == b).any()
    ]


def expected_calibration_error(probabilities: np.ndarray, labels: np.ndarray, bins: int = BINS) -> float:
    """The photo-weighted mean gap between confidence and accuracy over equal-width confidence bins."""
    total = len(labels)
    return float(sum(count / total * abs(conf - acc) for conf, acc, count in _bins(probabilities, labels, bins)))


@dataclass(frozen=True)
class Calibration:
    """One photo set before and after scaling: log loss and expected calibration error."""

    photos: int
    temperature: float
    log_loss_before: float
    log_loss_after: float
    ece_before: float
    ece_after: float

    @classmethod
    def measure(cls, log_probs: np.ndarray, labels: np.ndarray, temperature: float) -> "Calibration":
        before, after = calibrated_probabilities(log_probs, 1.0), calibrated_probabilities(log_probs, temperature)
        return cls(
            photos=len(labels),
            temperature=temperature,
            log_loss_before=log_loss(before, labels),
            log_loss_after=log_loss(after, labels),
            ece_before=expected_calibration_error(before, labels),
            ece_after=expected_calibration_error(after, labels),
        )


def plot_reliability(
    log_probs: np.ndarray, labels: np.ndarray, temperature: float, title: str, path: Path, bins: int = BINS
) -> None:
    """Accuracy against confidence per bin, before and after scaling, with the diagonal of perfect calibration."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    figure, axes = pyplot.subplots(figsize=(5, 5), layout="constrained")
    axes.plot([0, 1], [0, 1], color="grey", ls="--", label="perfectly calibrated")
    for t, name, colour in ((1.0, "before", "tab:orange"), (temperature, f"after (T = {temperature:.2f})", "tab:blue")):
        probabilities = calibrated_probabilities(log_probs, t)
        points = _bins(probabilities, labels, bins)
        ece = expected_calibration_error(probabilities, labels, bins)
        axes.plot([p[0] for p in points], [p[1] for p in points], "o-", color=colour, label=f"{name}, ECE {ece:.2%}")
    axes.set(xlabel="confidence", ylabel="accuracy", title=title, xlim=(0.45, 1.0), ylim=(0.45, 1.0))
    axes.grid(alpha=0.3)
    axes.legend(fontsize="small")
    figure.savefig(path, dpi=110)
    pyplot.close(figure)

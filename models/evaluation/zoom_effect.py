"""What a CAM-guided zoom rule did to a set of photos: how many it zoomed, the scores with and without it, the
answers it fixed and broke, and (for held-out sets) paired intervals of its gain."""

from dataclasses import asdict
from typing import Any

import numpy as np

from camserve.models.evaluation.calibration import accuracy, log_loss
from camserve.models.evaluation.folder import Evaluation, answers_changed
from camserve.models.evaluation.paired import paired_interval, scores
from camserve.models.inference.zoom import ZoomRule

__all__ = ["format_zoom_effect", "zoom_effect", "zoom_gain"]


def _unzoomed(evaluation: Evaluation) -> tuple[np.ndarray, np.ndarray]:
    if evaluation.unzoomed is None or evaluation.zoomed is None:
        raise ValueError("the evaluation was run without zoom")
    return evaluation.unzoomed, evaluation.zoomed


def zoom_effect(evaluation: Evaluation, rule: ZoomRule) -> dict[str, Any]:
    """``camserve evaluate --zoom``'s figures: photos zoomed, the scores without zoom, answers fixed and broken."""
    unzoomed, zoomed = _unzoomed(evaluation)
    labels = evaluation.labels
    fixed, broken = answers_changed(unzoomed, evaluation.probabilities, labels)
    return {
        "rule": asdict(rule),
        "photos_zoomed": int(zoomed.sum()),
        "fraction_zoomed": float(zoomed.mean()),
        "without_zoom": {"accuracy": accuracy(unzoomed, labels), "log_loss": log_loss(unzoomed, labels)},
        "answers_fixed": fixed,
        "answers_broken": broken,
    }


def zoom_gain(evaluation: Evaluation, rule: ZoomRule) -> dict[str, Any]:
    """The effect with calibration error added, and paired 95% intervals of zoom minus no zoom."""
    unzoomed, _ = _unzoomed(evaluation)
    zoomed, labels = evaluation.probabilities, evaluation.labels
    return {
        **zoom_effect(evaluation, rule),
        "photos": len(labels),
        "without_zoom": asdict(scores(unzoomed, labels)),
        "with_zoom": asdict(scores(zoomed, labels)),
        "accuracy_difference_95": paired_interval(unzoomed, zoomed, labels, accuracy),
        "log_loss_difference_95": paired_interval(unzoomed, zoomed, labels, log_loss),
    }


def format_zoom_effect(effect: dict[str, Any]) -> str:
    without = effect["without_zoom"]
    return "\n".join(
        [
            f"zoomed    {effect['photos_zoomed']} photos ({effect['fraction_zoomed']:.1%})",
            f"without   accuracy {without['accuracy']:.4f}, log loss {without['log_loss']:.4f}",
            f"answers   {effect['answers_fixed']} fixed, {effect['answers_broken']} broken by the zoom",
            "rule      " + ", ".join(f"{name} {value}" for name, value in effect["rule"].items()),
        ]
    )

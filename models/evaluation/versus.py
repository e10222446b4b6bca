"""Two checkpoints on the same photos: is the new one better, and by more than noise?

For each set: each checkpoint's accuracy, log loss and calibration error, the answers the new one fixed and
broke, and paired bootstrap 95% intervals of the differences (new minus old). Validation accuracy chose the
new checkpoint's epoch, so its validation figures lean its way a little; the stand-ins are the same photos at
another size, not an independent set. The release rule (``release_rule``) reads these figures.
"""

from dataclasses import dataclass
from pathlib import Path

from camserve.models.evaluation.calibration import accuracy, log_loss
from camserve.models.evaluation.folder import Evaluation, answers_changed
from camserve.models.evaluation.paired import Scores, paired_interval, scores
from camserve.models.evaluation.photo_sets import PhotoSet, evaluate_set
from camserve.models.inference.predictor import Predictor

__all__ = ["CheckpointFacts", "SetComparison", "Versus", "compare_answers", "compare_checkpoints"]


@dataclass(frozen=True)
class SetComparison:
    """Old against new on one photo set; intervals are of new minus old."""

    photos: int
    old: Scores
    new: Scores
    answers_fixed: int
    answers_broken: int
    accuracy_difference_95: tuple[float, float]
    log_loss_difference_95: tuple[float, float]


@dataclass(frozen=True)
class CheckpointFacts:
    weights: str
    version: str
    input_size: int


@dataclass(frozen=True)
class Versus:
    old: CheckpointFacts
    new: CheckpointFacts
    sets: dict[str, SetComparison]


def compare_answers(old: Evaluation, new: Evaluation) -> SetComparison:
    if old.files != new.files:
        raise ValueError("the two checkpoints answered different photos")
    labels = old.labels
    fixed, broken = answers_changed(old.probabilities, new.probabilities, labels)
    return SetComparison(
        photos=len(labels),
        old=scores(old.probabilities, labels),
        new=scores(new.probabilities, labels),
        answers_fixed=fixed,
        answers_broken=broken,
        accuracy_difference_95=paired_interval(old.probabilities, new.probabilities, labels, accuracy),
        log_loss_difference_95=paired_interval(old.probabilities, new.probabilities, labels, log_loss),
    )


def _facts(weights: Path, predictor: Predictor) -> CheckpointFacts:
    return CheckpointFacts(str(weights), predictor.metadata.version, predictor.metadata.input_size)


def compare_checkpoints(
    old: tuple[Path, Predictor], new: tuple[Path, Predictor], sets: tuple[PhotoSet, ...], max_pixels: int
) -> Versus:
    """Each checkpoint at its own input size and temperature on every set; both must record the same split,
    or their validation photos would differ."""
    (old_weights, old_predictor), (new_weights, new_predictor) = old, new
    if old_predictor.metadata.extra.get("split") != new_predictor.metadata.extra.get("split"):
        raise ValueError("the two checkpoints record different validation splits")
    compared = {
        photos.name: compare_answers(
            evaluate_set(old_predictor, photos, max_pixels), evaluate_set(new_predictor, photos, max_pixels)
        )
        for photos in sets
    }
    return Versus(_facts(old_weights, old_predictor), _facts(new_weights, new_predictor), compared)

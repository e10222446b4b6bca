"""How often a checkpoint's answer at a reduced precision matches fp32 on the same photos: label agreement,
which photos disagree, the largest probability difference, and each precision's accuracy. The gate
(``gate``) decides serving on more than labels; this is the quick look at labels alone, on any folder."""

from dataclasses import dataclass

import numpy as np

from camserve.models.evaluation.folder import Evaluation

__all__ = ["PrecisionAgreement", "precision_agreement"]


@dataclass(frozen=True)
class PrecisionAgreement:
    photos: int
    compared: str
    label_agreement: float
    disagreements: tuple[str, ...]
    max_probability_difference: float
    accuracy: dict[str, float]


def precision_agreement(reference: Evaluation, other: Evaluation, precision: str) -> PrecisionAgreement:
    """``other`` (at ``precision``) against the fp32 ``reference``, photo by photo."""
    if reference.files != other.files:
        raise ValueError("the two precisions answered different photos")
    same = reference.probabilities.argmax(axis=1) == other.probabilities.argmax(axis=1)
    return PrecisionAgreement(
        photos=len(same),
        compared=precision,
        label_agreement=float(same.mean()),
        disagreements=tuple(name for name, agree in zip(reference.files, same, strict=True) if not agree),
        max_probability_difference=float(np.abs(reference.probabilities - other.probabilities).max()),
        accuracy={"fp32": reference.report.accuracy, precision: other.report.accuracy},
    )

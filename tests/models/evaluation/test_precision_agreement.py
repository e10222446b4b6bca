"""A reduced precision against fp32: the share of labels that agree, which photos differ, the largest
probability difference, and each side's accuracy."""

import pytest

from camserve.models.evaluation.precision_agreement import precision_agreement
from tests.models.evaluation.answers import evaluation, two_class

LABELS = [0, 0, 1, 1]


def test_agreement_disagreements_and_accuracies() -> None:
    fp32 = evaluation(two_class([0.9, 0.55, 0.2, 0.3]), LABELS)
    bf16 = evaluation(two_class([0.88, 0.45, 0.2, 0.31]), LABELS)
    agreement = precision_agreement(fp32, bf16, "bf16")
    assert (agreement.photos, agreement.label_agreement) == (4, 0.75)
    assert agreement.disagreements == ("photo-1.jpg",)
    assert agreement.max_probability_difference == pytest.approx(0.1)
    assert agreement.accuracy == {"fp32": 1.0, "bf16": 0.75}


def test_answers_to_different_photos_are_refused() -> None:
    fp32 = evaluation(two_class([0.9, 0.55, 0.2, 0.3]), LABELS)
    other = evaluation(two_class([0.9, 0.55, 0.2, 0.3]), LABELS, files=("a", "b", "c", "d"))
    with pytest.raises(ValueError, match="different photos"):
        precision_agreement(fp32, other, "bf16")

"""Two checkpoints compared on the same photos: fixed and broken answers, both sets of scores, and a refusal
to compare answers to different photos or different validation splits."""

from dataclasses import replace
from pathlib import Path

import pytest

from camserve.models.evaluation.photo_sets import release_sets
from camserve.models.evaluation.versus import compare_answers, compare_checkpoints
from tests.models.evaluation.answers import METADATA, LeftRightPredictor, evaluation, two_class

LABELS = [0, 0, 1, 1]


def test_fixed_broken_and_both_scores() -> None:
    old = evaluation(two_class([0.9, 0.4, 0.6, 0.3]), LABELS)  # right, wrong, wrong, right
    new = evaluation(two_class([0.8, 0.7, 0.2, 0.6]), LABELS)  # right, right, right, wrong
    compared = compare_answers(old, new)
    assert (compared.photos, compared.answers_fixed, compared.answers_broken) == (4, 2, 1)
    assert (compared.old.accuracy, compared.new.accuracy) == (0.5, 0.75)
    low, high = compared.accuracy_difference_95
    assert low <= 0.25 <= high


def test_answers_to_different_photos_are_refused() -> None:
    old = evaluation(two_class([0.9, 0.4, 0.6, 0.3]), LABELS)
    new = evaluation(two_class([0.9, 0.4, 0.6, 0.3]), LABELS, files=("a", "b", "c", "d"))
    with pytest.raises(ValueError, match="different photos"):
        compare_answers(old, new)


def test_checkpoints_with_different_splits_are_refused(tmp_path: Path) -> None:
    old = LeftRightPredictor(replace(METADATA, extra={"split": {"seed": 0}}))
    new = LeftRightPredictor(replace(METADATA, extra={"split": {"seed": 1}}))
    with pytest.raises(ValueError, match="different validation splits"):
        compare_checkpoints((tmp_path / "old", old), (tmp_path / "new", new), release_sets(tmp_path, tmp_path), 1000)

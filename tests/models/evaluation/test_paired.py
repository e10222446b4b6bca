"""Paired statistics: the scores are the calibration module's, and the interval resamples the same photos for
both sides, so a uniform gain shows as an interval that excludes zero and no change as exactly zero."""

import math

import numpy as np
import pytest

from camserve.models.evaluation.calibration import accuracy, log_loss
from camserve.models.evaluation.paired import Metric, Scores, paired_interval, paired_mean_interval, scores
from tests.models.evaluation.answers import two_class

LABELS = np.array([0, 0, 1, 1])


def test_scores_of_hand_made_answers() -> None:
    figures = scores(two_class([0.9, 0.4, 0.2, 0.3]), LABELS)
    assert figures.accuracy == 0.75
    assert figures.log_loss == pytest.approx(-(math.log(0.9) + math.log(0.4) + math.log(0.8) + math.log(0.7)) / 4)
    assert isinstance(figures, Scores) and 0.0 <= figures.ece <= 1.0


def test_the_same_answers_differ_by_exactly_nothing() -> None:
    answers = two_class([0.9, 0.4, 0.2, 0.3])
    assert paired_interval(answers, answers, LABELS, log_loss) == (0.0, 0.0)


def test_a_gain_on_every_photo_lies_below_zero_in_log_loss_and_its_reverse_above() -> None:
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 2, 400)
    right_after = np.full(400, 0.8)
    right_before = right_after - rng.uniform(0.05, 0.3, 400)  # every photo less sure of the right class

    def cat(right: np.ndarray) -> np.ndarray:
        return two_class(list(np.where(labels == 0, right, 1.0 - right)))

    low, high = paired_interval(cat(right_before), cat(right_after), labels, log_loss)
    assert low < high < 0.0
    assert paired_interval(cat(right_after), cat(right_before), labels, log_loss) == pytest.approx((-high, -low))


def test_a_few_photos_fixed_in_many_is_within_the_noise() -> None:
    """3 of 400 answers fixed, 1 broken: the accuracy interval straddles zero."""
    labels = np.zeros(400, dtype=np.int64)
    before = np.full(400, 0.9)
    before[:3] = 0.4
    after = before.copy()
    after[:3], after[3] = 0.9, 0.4
    low, high = paired_interval(two_class(list(before)), two_class(list(after)), labels, accuracy)
    assert low <= 0.0 < high


def test_the_interval_is_reproducible_by_seed() -> None:
    before, after = two_class([0.6, 0.4, 0.3, 0.5]), two_class([0.9, 0.6, 0.2, 0.4])
    assert paired_interval(before, after, LABELS, log_loss) == paired_interval(before, after, LABELS, log_loss)


@pytest.mark.parametrize("after_photos", [3, 0])
def test_answers_to_other_photos_are_refused(after_photos: int) -> None:
    with pytest.raises(ValueError, match="same photos"):
        paired_interval(two_class([0.5] * 4), two_class([0.5] * after_photos), LABELS, accuracy)


def test_the_mean_interval_resamples_as_the_metric_interval_does() -> None:
    rng = np.random.default_rng(2)
    before, after = rng.random(50), rng.random(50)
    mean_of_first: Metric = lambda values, _labels: float(values.mean())  # noqa: E731
    assert paired_mean_interval(before, after) == paired_interval(before, after, np.zeros(50), mean_of_first)
    assert paired_mean_interval(before, before + 1.0) == (1.0, 1.0)
    with pytest.raises(ValueError, match="same photos"):
        paired_mean_interval(before, after[:10])

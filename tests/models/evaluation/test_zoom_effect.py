"""What a zoom did: photos zoomed, the scores without it, the answers it fixed and broke, and intervals of its
gain; an evaluation without zoom has none of these."""

import numpy as np
import pytest

from camserve.models.evaluation.zoom_effect import format_zoom_effect, zoom_effect, zoom_gain
from camserve.models.inference.zoom import ZOOM_RULE
from tests.models.evaluation.answers import evaluation, two_class

LABELS = [0, 0, 1, 1]
WITHOUT = two_class([0.4, 0.9, 0.3, 0.6])  # wrong, right, right, wrong
WITH = two_class([0.7, 0.9, 0.3, 0.2])  # the first and last photo zoomed: both fixed
ZOOMED = evaluation(WITH, LABELS, unzoomed=WITHOUT, zoomed=[True, False, False, True])


def test_the_effect_counts_zoomed_photos_and_changed_answers() -> None:
    effect = zoom_effect(ZOOMED, ZOOM_RULE)
    assert (effect["photos_zoomed"], effect["fraction_zoomed"]) == (2, 0.5)
    assert (effect["answers_fixed"], effect["answers_broken"]) == (2, 0)
    assert effect["without_zoom"]["accuracy"] == 0.5
    assert effect["rule"]["threshold"] == ZOOM_RULE.threshold
    text = format_zoom_effect(effect)
    assert "zoomed    2 photos (50.0%)" in text and "2 fixed, 0 broken" in text


def test_the_gain_scores_both_sides_with_paired_intervals() -> None:
    gain = zoom_gain(ZOOMED, ZOOM_RULE)
    assert (gain["without_zoom"]["accuracy"], gain["with_zoom"]["accuracy"]) == (0.5, 1.0)
    assert {"ece", "log_loss"} <= gain["with_zoom"].keys()
    low, high = gain["log_loss_difference_95"]
    assert low <= high <= 0.0  # no photo's log loss rose
    assert gain["photos"] == 4 and gain["photos_zoomed"] == 2


def test_an_evaluation_without_zoom_has_no_effect() -> None:
    with pytest.raises(ValueError, match="without zoom"):
        zoom_effect(evaluation(WITHOUT, LABELS), ZOOM_RULE)
    with pytest.raises(ValueError, match="without zoom"):
        zoom_gain(evaluation(WITHOUT, LABELS, unzoomed=WITHOUT), ZOOM_RULE)
    assert np.array_equal(ZOOMED.probabilities, WITH)

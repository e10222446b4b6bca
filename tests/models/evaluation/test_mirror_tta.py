"""Mirror TTA: each photo's answer averaged with its mirror image's, scored beside the plain answer; its cost
timed one view against two, in turns."""

import math

import numpy as np
import pytest

from camserve.models.evaluation.mirror_tta import mirror_cost, mirror_scores
from tests.models.evaluation.answers import LeftRightPredictor


def lit(side: str) -> np.ndarray:
    """A 32 px input bright on one half."""
    pixels = np.zeros((3, 32, 32), dtype=np.float32)
    if side == "left":
        pixels[..., :16] = 1.0
    else:
        pixels[..., 16:] = 1.0
    return pixels


def test_a_mirror_that_reverses_the_answer_averages_to_a_coin_toss() -> None:
    """The hand-made model answers from left against right, which the mirror swaps: plain it is always right
    here, with TTA exactly unsure (log loss ln 2, accuracy by the tie-break to class 0)."""
    inputs = np.stack([lit("left"), lit("right"), lit("left")])
    labels = np.array([0, 1, 0])
    figures = mirror_scores(LeftRightPredictor(), inputs, labels)
    assert figures.photos == 3
    assert figures.plain.accuracy == 1.0 and figures.plain.log_loss < 0.1
    assert figures.mirror_tta.log_loss == pytest.approx(math.log(2), abs=1e-6)
    assert figures.mirror_tta.accuracy == pytest.approx(2 / 3)


def test_one_view_and_two_are_timed_in_turns() -> None:
    predictor = LeftRightPredictor()
    cost = mirror_cost(predictor, lit("left"), rounds=2)
    timed = [shape[0] for shape in predictor.shapes[6:]]  # after three warm-up pairs
    assert timed == [1, 2, 2, 1]
    assert cost.one_view_ms >= 0 and cost.two_views_ms >= 0

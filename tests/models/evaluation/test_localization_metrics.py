"""The localization figures on hand-built masks and maps whose answers are known."""

import numpy as np
import pytest

from camserve.models.evaluation.localization_metrics import energy, iou, peak, score_map

MASK = np.zeros((10, 20), bool)
MASK[2:6, 3:9] = True  # 24 of 200 pixels


def test_a_single_maximum_is_the_peak_and_ties_meet_at_their_centre() -> None:
    saliency = np.zeros((10, 20), np.float32)
    saliency[7, 13] = 1.0
    assert peak(saliency) == (13, 7)
    saliency[7, 17] = 1.0  # a tie: the centre of the two
    assert peak(saliency) == (15, 7)
    assert peak(np.ones((9, 21), np.float32)) == (10, 4)  # a flat map points at the photo's centre


def test_energy_is_the_share_of_mass_on_the_mask() -> None:
    saliency = np.zeros((10, 20), np.float32)
    saliency[3, 4] = 3.0  # on the animal
    saliency[8, 15] = 1.0  # off it
    assert energy(saliency, MASK) == pytest.approx(0.75)
    assert energy(np.ones((10, 20), np.float32), MASK) == pytest.approx(24 / 200)
    assert energy(np.zeros((10, 20), np.float32), MASK) == pytest.approx(24 / 200)  # no mass reads as flat


def test_iou_of_the_half_range_region() -> None:
    saliency = np.full((10, 20), 0.2, np.float32)
    saliency[2:6, 3:7] = 0.9  # 16 pixels at the top, all on the mask
    saliency[0, 0] = 0.6  # at or above half the range (0.55): in the region, off the mask
    assert iou(saliency, MASK) == pytest.approx(16 / 25)
    assert iou(np.ones((10, 20), np.float32), MASK) == pytest.approx(24 / 200)  # a flat map's region is all


def test_a_map_scores_pointing_within_the_tolerance_and_head_in_the_box() -> None:
    saliency = np.zeros((10, 20), np.float32)
    saliency[8, 12] = 1.0
    tolerance = np.zeros_like(MASK)
    tolerance[:, :14] = True
    scores = score_map(saliency, MASK, tolerance, head_box=(10, 8, 12, 9))
    assert (scores.pointing, scores.head, scores.peak) == (True, True, (12, 8))
    assert score_map(saliency, MASK, MASK, head_box=(0, 0, 11, 9)).pointing is False
    assert score_map(saliency, MASK, MASK, head_box=(0, 0, 11, 9)).head is False
    assert score_map(saliency, MASK, MASK, head_box=None).head is None
    with pytest.raises(ValueError, match="differ in size"):
        score_map(saliency[:5], MASK, MASK, None)

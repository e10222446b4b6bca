"""The map variants that need no new weights, on class maps whose answers are known."""

import numpy as np
import pytest

from camserve.models.inference.cam import upsample
from camserve.models.inference.map_variants import (
    centre_blob,
    contrastive_cam,
    merge_crop_map,
    multiscale_map,
    sharpened,
    upsample_bilinear,
)
from camserve.models.inference.zoom import CropBox


def test_the_contrastive_map_keeps_only_where_the_predicted_class_beats_the_others() -> None:
    maps = np.array([[[3.0, 1.0], [0.0, 2.0]], [[1.0, 2.0], [-1.0, 2.0]], [[0.0, 0.0], [0.5, 0.0]]], np.float32)
    contrast = contrastive_cam(maps, np.array([0.7, 0.2, 0.1], np.float32))
    np.testing.assert_allclose(contrast, [[2.0, 0.0], [0.0, 0.0]])
    with pytest.raises(ValueError, match="C >= 2"):
        contrastive_cam(maps[:1], np.array([1.0], np.float32))


def test_the_served_bicubic_and_the_old_bilinear_keep_the_cells_alignment_and_the_maps_range() -> None:
    cells = np.zeros((5, 5), np.float32)
    cells[1, 3] = 1.0
    smooth, linear = upsample(cells, 50, 50), upsample_bilinear(cells, 50, 50)
    for stretched in (smooth, linear):
        assert stretched.shape == (50, 50) and stretched.min() >= 0.0 and stretched.max() <= 1.0
        row, column = np.unravel_index(np.argmax(stretched), stretched.shape)
        assert (row // 10, column // 10) == (1, 3)  # peaks in the cell it came from
    assert not np.allclose(smooth, linear)


def test_bicubic_leans_the_hottest_region_toward_a_warm_neighbour_where_bilinear_keeps_it_on_the_cell() -> None:
    cells = np.zeros((5, 5), np.float32)
    cells[2, 1], cells[2, 2] = 1.0, 0.6  # a hot cell (centre x=15) with a warm one on its right (centre x=25)
    for stretched, leans in ((upsample(cells, 50, 50), True), (upsample_bilinear(cells, 50, 50), False)):
        columns = np.nonzero(np.isclose(stretched, stretched.max()))[1]
        assert bool(columns.mean() > 15.5) == leans, columns


def test_multiscale_averages_each_sizes_normalised_stretched_map() -> None:
    probabilities = np.array([1.0, 0.0], np.float32)
    small = np.zeros((2, 2, 2), np.float32)
    small[0, 0, 0] = 5.0
    large = np.zeros((2, 3, 3), np.float32)
    large[0, 2, 2] = 1.0
    averaged = multiscale_map([small, large], probabilities, 12, 12)
    expected = (upsample(small[0] / 5.0, 12, 12) + upsample(large[0], 12, 12)) / 2
    np.testing.assert_allclose(averaged, expected, atol=1e-6)
    with pytest.raises(ValueError, match="at least one"):
        multiscale_map([], probabilities, 12, 12)


def test_the_crops_map_mixes_in_inside_its_box_only() -> None:
    photo = np.full((20, 30), 0.2, np.float32)
    merged = merge_crop_map(photo, np.ones((3, 3), np.float32) * 7.0, CropBox(10, 5, 20, 15), crop_weight=0.5)
    np.testing.assert_allclose(merged[5:15, 10:20], 0.1)  # a flat crop map normalises to zeros
    np.testing.assert_allclose(np.delete(merged, np.s_[5:15], axis=0), 0.2)
    crop = np.zeros((2, 2), np.float32)
    crop[1, 1] = 1.0
    merged = merge_crop_map(photo, crop, CropBox(10, 5, 20, 15), crop_weight=1.0)
    assert merged[14, 19] == pytest.approx(1.0) and merged[5, 10] < 0.1  # the crop's hot and cold corners
    assert photo[5, 10] == pytest.approx(0.2)  # the photo's map is not changed in place


def test_the_centre_blob_peaks_at_the_centre_with_a_quarter_side_sigma() -> None:
    blob = centre_blob(81, 41)
    assert blob.shape == (41, 81) and blob[20, 40] == pytest.approx(1.0)
    assert blob[20, 40 + 20] == pytest.approx(np.exp(-0.5 * (20 / 20.25) ** 2))
    assert blob[20 + 10, 40] == pytest.approx(np.exp(-0.5 * (10 / 10.25) ** 2))


def test_sharpening_keeps_the_peak_and_the_order_and_cools_the_lukewarm_pixels() -> None:
    saliency = np.array([[0.0, 0.25], [0.5, 1.0]], np.float32)
    raised = sharpened(saliency)
    np.testing.assert_allclose(raised, [[0.0, 0.0625], [0.25, 1.0]])
    assert (np.argsort(raised, axis=None) == np.argsort(saliency, axis=None)).all()
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        sharpened(saliency * 3)

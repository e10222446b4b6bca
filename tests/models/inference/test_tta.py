"""Serve-time TTA: the mirror image's maps go back onto the photo before averaging, so the heatmap stays put."""

import numpy as np

from camserve.models.inference.tta import average_mirror_views, mirror_views
from camserve.models.runtimes.torch import TorchPredictor
from tests.support.networks import TINY_CELL, TINY_INPUT


def red_patch_input(row: int, column: int) -> np.ndarray:
    """Model input with one saturated red cell, off-centre, on grey."""
    pixels = np.zeros((3, TINY_INPUT, TINY_INPUT), dtype=np.float32)
    cell = np.s_[row * TINY_CELL : (row + 1) * TINY_CELL, column * TINY_CELL : (column + 1) * TINY_CELL]
    pixels[0][cell] = 3.0
    return pixels


def test_the_mirror_view_is_the_photo_turned_left_to_right() -> None:
    pixels = red_patch_input(1, 0)
    original, mirrored = mirror_views(pixels)
    assert original is pixels
    np.testing.assert_array_equal(mirrored, pixels[..., ::-1])
    assert mirrored.flags["C_CONTIGUOUS"]


def test_averaged_maps_peak_where_the_photo_does(red_patch_predictor: TorchPredictor) -> None:
    """The red cell sits at the left edge; the mirror view sees it at the right edge; averaged, still left."""
    pixels = red_patch_input(1, 0)
    original, mirrored = red_patch_predictor.predict(np.stack(mirror_views(pixels)))
    assert (
        np.unravel_index(mirrored.class_maps[0].argmax(), mirrored.class_maps[0].shape)[1]
        == TINY_INPUT // TINY_CELL - 1
    )
    averaged = average_mirror_views(original, mirrored)
    assert np.unravel_index(averaged.class_maps[0].argmax(), averaged.class_maps[0].shape) == (1, 0)
    np.testing.assert_allclose(averaged.class_maps, original.class_maps, atol=1e-5)  # this network is symmetric
    np.testing.assert_allclose(averaged.probabilities, (original.probabilities + mirrored.probabilities) / 2)

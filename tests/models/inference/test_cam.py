"""models.cam: the CAM maths against hand-computed numbers.

The expected values are written out by hand (not recomputed with numpy) so a wrong formula cannot agree
with itself.
"""

import numpy as np
import pytest

from camserve.models.inference.cam import FLAT_MAP_TOLERANCE, class_cam, normalise, weighted_cam

# Two classes, 2x2 maps, with negatives so that dropping the ReLU changes every answer.
CLASS_MAPS = np.array(
    [
        [[1.0, -2.0], [3.0, 0.0]],
        [[-1.0, 4.0], [2.0, -3.0]],
    ],
    dtype=np.float32,
)
PROBABILITIES = np.array([0.25, 0.75], dtype=np.float32)
# 0.25 * relu(class 0) + 0.75 * relu(class 1):
#   [[0.25*1 + 0.75*0, 0.25*0 + 0.75*4], [0.25*3 + 0.75*2, 0.25*0 + 0.75*0]]
# Without the ReLU it would be [[-0.5, 2.5], [2.25, -2.25]].
EXPECTED_WEIGHTED = [[0.25, 3.0], [2.25, 0.0]]


# --- weighted_cam / class_cam --------------------------------------------------------------------------------


def test_weighted_cam_matches_the_hand_computation() -> None:
    cam = weighted_cam(CLASS_MAPS, PROBABILITIES)
    assert cam.dtype == np.float32
    np.testing.assert_allclose(cam, EXPECTED_WEIGHTED, rtol=0, atol=1e-6)


def test_weighted_cam_with_one_hot_probabilities_is_that_class_map() -> None:
    np.testing.assert_allclose(weighted_cam(CLASS_MAPS, np.array([0.0, 1.0])), [[0.0, 4.0], [2.0, 0.0]])


@pytest.mark.parametrize(
    ("maps", "probabilities"),
    [
        (CLASS_MAPS[0], PROBABILITIES),  # a single 2-D map
        (CLASS_MAPS, np.array([1.0], dtype=np.float32)),  # too few probabilities
        (CLASS_MAPS, np.array([0.2, 0.3, 0.5], dtype=np.float32)),  # too many
        (CLASS_MAPS, PROBABILITIES.reshape(2, 1)),  # right count, wrong shape
    ],
)
def test_weighted_cam_rejects_mismatched_shapes(maps: np.ndarray, probabilities: np.ndarray) -> None:
    with pytest.raises(ValueError, match="expected maps"):
        weighted_cam(maps, probabilities)


@pytest.mark.parametrize(("index", "expected"), [(0, [[1.0, 0.0], [3.0, 0.0]]), (1, [[0.0, 4.0], [2.0, 0.0]])])
def test_class_cam_is_the_relu_of_that_class_map(index: int, expected: list[list[float]]) -> None:
    cam = class_cam(CLASS_MAPS, index)
    assert cam.dtype == np.float32
    assert cam.tolist() == expected


def test_class_cam_does_not_modify_its_input() -> None:
    maps = CLASS_MAPS.copy()
    class_cam(maps, 0)
    weighted_cam(maps, PROBABILITIES)
    assert np.array_equal(maps, CLASS_MAPS)


# --- normalise -----------------------------------------------------------------------------------------------


def test_normalise_scales_min_to_zero_and_max_to_one() -> None:
    cam = normalise(np.array(EXPECTED_WEIGHTED, dtype=np.float32))
    assert cam.dtype == np.float32
    # (x - 0) / (3 - 0)
    np.testing.assert_allclose(cam, [[0.25 / 3.0, 1.0], [0.75, 0.0]], atol=1e-6)


def test_normalise_handles_an_offset_negative_range() -> None:
    np.testing.assert_allclose(normalise(np.array([[-5.0, -4.0, -3.0]])), [[0.0, 0.5, 1.0]])


@pytest.mark.parametrize(
    "cam",
    [
        np.zeros((3, 3), dtype=np.float32),
        np.full((3, 3), 7.25, dtype=np.float32),
        np.array([[1.0, 1.0 + FLAT_MAP_TOLERANCE / 10]], dtype=np.float64),
        np.array([[0.0, FLAT_MAP_TOLERANCE / 2]], dtype=np.float64),
    ],
    ids=["zeros", "constant", "tiny-range-at-one", "tiny-range-at-zero"],
)
def test_normalise_of_a_flat_map_is_zeros(cam: np.ndarray) -> None:
    """Dividing by a (near-)zero range would give NaN or amplify float noise into a full-scale heatmap."""
    result = normalise(cam)
    assert result.dtype == np.float32
    assert result.shape == cam.shape
    assert (result == 0).all()


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_normalise_never_returns_nan(bad: float) -> None:
    cam = np.array([[0.0, 1.0], [bad, 0.5]], dtype=np.float32)
    result = normalise(cam)
    assert np.isfinite(result).all()
    assert (result == 0).all()


def test_normalise_just_above_tolerance_still_scales() -> None:
    result = normalise(np.array([[0.0, 10 * FLAT_MAP_TOLERANCE]], dtype=np.float64))
    np.testing.assert_allclose(result, [[0.0, 1.0]])

"""models.cam: the CAM maths against hand-computed numbers, and the scoped forward hook.

The expected values are written out by hand (not recomputed with numpy) so a wrong formula cannot agree
with itself; the hook tests guard against hooks piling up across requests or features leaking between them.
"""

import numpy as np
import pytest
import torch
from torch import nn

from models.cam import FLAT_MAP_TOLERANCE, capture_output, class_cam, normalise, weighted_cam

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


# --- capture_output ------------------------------------------------------------------------------------------


@pytest.fixture
def layer() -> nn.Module:
    torch.manual_seed(0)
    return nn.Linear(3, 2)


def test_capture_records_one_detached_output_per_forward(layer: nn.Module) -> None:
    inputs = torch.randn(4, 3, requires_grad=True)
    with capture_output(layer) as outputs:
        assert outputs == []
        first = layer(inputs)
        assert len(outputs) == 1
        layer(inputs * 2)
        assert len(outputs) == 2
    assert torch.equal(outputs[0], first.detach())
    assert not outputs[0].requires_grad
    assert torch.equal(outputs[1], layer(inputs * 2).detach())


def test_capture_removes_its_hook_on_exit(layer: nn.Module) -> None:
    with capture_output(layer) as outputs:
        assert len(layer._forward_hooks) == 1
        layer(torch.randn(1, 3))
    assert len(layer._forward_hooks) == 0
    layer(torch.randn(1, 3))
    assert len(outputs) == 1  # forwards after the block are not recorded


def test_capture_removes_its_hook_on_exception(layer: nn.Module) -> None:
    with pytest.raises(RuntimeError, match="boom"), capture_output(layer):
        layer(torch.randn(1, 3))
        raise RuntimeError("boom")
    assert len(layer._forward_hooks) == 0


def test_sequential_captures_do_not_share_outputs(layer: nn.Module) -> None:
    first_input, second_input = torch.randn(1, 3), torch.randn(1, 3)
    with capture_output(layer) as first:
        layer(first_input)
    with capture_output(layer) as second:
        layer(second_input)
    assert first is not second
    assert len(first) == len(second) == 1
    assert torch.equal(second[0], layer(second_input).detach())
    assert len(layer._forward_hooks) == 0


def test_nested_captures_each_see_their_own_forwards(layer: nn.Module) -> None:
    with capture_output(layer) as outer:
        layer(torch.randn(1, 3))
        with capture_output(layer) as inner:
            layer(torch.randn(1, 3))
        assert len(layer._forward_hooks) == 1  # only the outer hook is left
        layer(torch.randn(1, 3))
    assert outer is not inner
    assert len(outer) == 3
    assert len(inner) == 1
    assert torch.equal(inner[0], outer[1])
    assert len(layer._forward_hooks) == 0


def test_capture_on_a_submodule_sees_its_output_inside_a_larger_model() -> None:
    """In the service the hook sits on the class-map conv inside the network, not on the whole model."""
    torch.manual_seed(0)
    inner = nn.Linear(3, 4)
    model = nn.Sequential(inner, nn.ReLU(), nn.Linear(4, 2))
    inputs = torch.randn(2, 3)
    with capture_output(inner) as outputs:
        model(inputs)
    assert len(outputs) == 1
    assert outputs[0].shape == (2, 4)
    assert torch.equal(outputs[0], inner(inputs).detach())

"""CAM-guided zoom: the box lies where the heat is, in photo pixels, inside the photo, for any aspect ratio and
EXIF orientation; a spread or flat map never zooms; the crop is cut from the photo at its own resolution; and
the two answers combine as the rule says."""

import io

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from camserve.models.inference.cam import normalise, weighted_cam
from camserve.models.inference.predictor import Prediction
from camserve.models.inference.preprocess import prepare, to_model_input
from camserve.models.inference.zoom import ZOOM_RULE, CropBox, ZoomRule, combine, crop_input, hot_cells, zoom_box
from camserve.models.runtimes.torch import TorchPredictor
from camserve.service.render import Colormap, Picture, RenderRequest, render
from tests.support.networks import RED_PATCH_METADATA
from tests.support.photos import STORED_FOR_ORIENTATION, encode, exif_with_orientation, photo_with_patch

MAX_PIXELS = 50_000_000
INPUT = 144
# Only where each test says otherwise: no margin, and small crops allowed, so the box is the hot cells exactly.
EXACT = ZoomRule(threshold=0.5, max_area=0.4, margin=0.0, max_upscale=100.0, combine="weighted")


def hot(cells: list[tuple[int, int]], shape: tuple[int, int] = (5, 5), confidence: float = 0.9) -> Prediction:
    """A confident two-class prediction whose first class map is 1 on ``cells`` and 0 elsewhere (the second is
    its negative, as the shipped model's maps are)."""
    first = np.zeros(shape, dtype=np.float32)
    for row, column in cells:
        first[row, column] = 1.0
    return Prediction(np.array([confidence, 1 - confidence], np.float32), np.stack([first, -first]))


def test_one_hot_cell_of_a_wide_photo_maps_to_its_own_pixels() -> None:
    """Cell (1, 3) of a 5 x 5 map over 1000 x 600 covers x in [600, 800), y in [120, 240): as /maps's grid says."""
    assert zoom_box(hot([(1, 3)]), 1000, 600, INPUT, EXACT) == CropBox(600, 120, 800, 240)


def test_a_cell_of_the_finer_9x9_grid_maps_to_its_own_pixels() -> None:
    """resnet34-os16's maps (9 x 9 at 144 px): cell (2, 6) over 900 x 450 covers x in [600, 700), y in [100, 150)."""
    assert zoom_box(hot([(2, 6)], shape=(9, 9)), 900, 450, INPUT, EXACT) == CropBox(600, 100, 700, 150)


def test_the_margin_grows_the_box_about_its_centre() -> None:
    rule = ZoomRule(threshold=0.5, max_area=0.4, margin=0.5, max_upscale=100.0, combine="weighted")
    assert zoom_box(hot([(1, 3)]), 1000, 600, INPUT, rule) == CropBox(500, 60, 900, 300)


def test_a_box_at_the_corner_is_shifted_inside_the_photo_keeping_its_size() -> None:
    rule = ZoomRule(threshold=0.5, max_area=0.4, margin=0.5, max_upscale=100.0, combine="weighted")
    box = zoom_box(hot([(0, 0)]), 1000, 600, INPUT, rule)
    assert box == CropBox(0, 0, 400, 240)


def test_a_small_region_is_never_stretched_beyond_max_upscale() -> None:
    """300 x 200 photo: one cell is 60 x 40 pixels; at most 1x upscaling needs 144 pixels per side."""
    rule = ZoomRule(threshold=0.5, max_area=0.4, margin=0.0, max_upscale=1.0, combine="weighted")
    box = zoom_box(hot([(2, 2)]), 300, 200, INPUT, rule)
    assert box is not None
    assert (box.width, box.height) == (INPUT, INPUT)
    assert box.left <= 120 and box.right >= 180 and box.top <= 80 and box.bottom >= 120  # still holds the cell


def test_a_photo_smaller_than_the_minimum_crop_is_not_zoomed() -> None:
    """The crop would be the whole photo: a second look at the same pixels is no zoom."""
    rule = ZoomRule(threshold=0.5, max_area=0.4, margin=0.0, max_upscale=1.0, combine="weighted")
    assert zoom_box(hot([(2, 2)]), 120, 100, INPUT, rule) is None


def test_a_spread_map_is_not_concentrated() -> None:
    """max_area 0.4 of 25 cells: a 2 x 5 region (10 cells) zooms, a 3 x 4 one (12) does not."""
    two_rows = [(r, c) for r in (1, 2) for c in range(5)]
    assert zoom_box(hot(two_rows), 1000, 600, INPUT, EXACT) == CropBox(0, 120, 1000, 360)
    three_rows = [(r, c) for r in (1, 2, 3) for c in range(4)]
    assert zoom_box(hot(three_rows), 1000, 600, INPUT, EXACT) is None


def test_the_box_spans_every_hot_cell() -> None:
    """Two hot spots far apart: the box holds both (and is then too large to zoom)."""
    assert hot_cells(hot([(0, 0), (1, 1)]).class_maps[0], 0.5) == (0, 0, 2, 2)
    assert zoom_box(hot([(0, 0), (4, 4)]), 1000, 600, INPUT, EXACT) is None


@pytest.mark.parametrize("value", [0.0, 3.5, -2.0])
def test_a_flat_map_is_not_zoomed_and_makes_no_nan(value: float) -> None:
    maps = np.full((2, 5, 5), value, dtype=np.float32)
    with np.errstate(all="raise"):
        assert zoom_box(Prediction(np.array([0.5, 0.5], np.float32), maps), 800, 600, INPUT, ZOOM_RULE) is None


@given(
    maps=st.lists(st.floats(-10, 10, width=32), min_size=2 * 4 * 6, max_size=2 * 4 * 6),
    cat=st.floats(0.01, 0.99),
    width=st.integers(1, 5000),
    height=st.integers(1, 5000),
)
def test_any_box_lies_inside_the_photo_and_holds_the_hot_cells(
    maps: list[float], cat: float, width: int, height: int
) -> None:
    prediction = Prediction(np.array([cat, 1 - cat], np.float32), np.array(maps, np.float32).reshape(2, 4, 6))
    box = zoom_box(prediction, width, height, INPUT, ZOOM_RULE)
    if box is None:
        return
    assert 0 <= box.left < box.right <= width and 0 <= box.top < box.bottom <= height
    assert (box.width, box.height) != (width, height)
    cells = hot_cells(normalise(weighted_cam(prediction.class_maps, prediction.probabilities)), ZOOM_RULE.threshold)
    assert cells is not None
    top, left, bottom, right = cells
    assert box.left <= left * width / 6 + 1e-6 and box.right >= right * width / 6 - 1e-6
    assert box.top <= top * height / 4 + 1e-6 and box.bottom >= bottom * height / 4 - 1e-6


def stored_with_orientation(upright: Image.Image, orientation: int) -> bytes:
    stored = upright.transpose(STORED_FOR_ORIENTATION[orientation]) if orientation != 1 else upright
    return encode(stored, "JPEG", quality=95, exif=exif_with_orientation(orientation))


@pytest.mark.parametrize("orientation", [1, 6, 8])
@pytest.mark.parametrize(("width", "height"), [(1200, 600), (600, 1200)])
def test_the_box_sits_on_the_heat_the_overlay_draws(
    red_patch_predictor: TorchPredictor, orientation: int, width: int, height: int
) -> None:
    """The red-patch model's heat is on the patch; the box holds the patch and the overlay's hottest pixel, on
    non-square photos stored sideways with an EXIF orientation."""
    patch = (width * 5 // 8, height // 8, width * 5 // 8 + width // 10, height // 8 + height // 10)
    data = stored_with_orientation(photo_with_patch(width, height, patch), orientation)
    prepared = prepare(data, RED_PATCH_METADATA, MAX_PIXELS)
    assert (prepared.width, prepared.height) == (width, height)
    (prediction,) = red_patch_predictor.predict(prepared.pixels[None])
    box = zoom_box(prediction, width, height, RED_PATCH_METADATA.input_size, ZOOM_RULE)
    assert box is not None
    left, top, right, bottom = patch
    assert box.left <= left and box.top <= top and box.right >= right and box.bottom >= bottom
    assert box.width < width and box.height < height
    request = RenderRequest(Picture.heatmap, 0.0, Colormap.hot, None)
    png = render(data, prediction.class_maps, prediction.probabilities, request, MAX_PIXELS, 1)
    heat = np.asarray(Image.open(io.BytesIO(png)).convert("L"), dtype=np.int32)
    y, x = np.unravel_index(np.argmax(heat), heat.shape)
    assert box.left <= x < box.right and box.top <= y < box.bottom


def test_the_crop_is_the_photos_own_pixels_in_the_box() -> None:
    """A PNG (decoded at full size): the crop's input is the box cut from the photo and squashed, exactly."""
    pixels = np.random.default_rng(0).integers(0, 256, (300, 500, 3), dtype=np.uint8)
    data = encode(Image.fromarray(pixels))
    box = CropBox(310, 40, 420, 190)
    expected = to_model_input(Image.fromarray(pixels[40:190, 310:420]), RED_PATCH_METADATA)
    np.testing.assert_array_equal(crop_input(data, box, 500, 300, RED_PATCH_METADATA, MAX_PIXELS), expected)


@pytest.mark.parametrize("orientation", [1, 6, 8])
def test_the_crop_of_a_large_rotated_jpeg_holds_the_patch(orientation: int) -> None:
    """The box is in upright photo pixels; the crop, decoded at a reduced size, is still the red patch."""
    box = (1500, 200, 1800, 500)
    data = stored_with_orientation(photo_with_patch(2400, 1200, box), orientation)
    pixels = crop_input(data, CropBox(*box), 2400, 1200, RED_PATCH_METADATA, MAX_PIXELS)
    assert pixels.shape == (3, RED_PATCH_METADATA.input_size, RED_PATCH_METADATA.input_size)
    red, green, blue = pixels.mean(axis=(1, 2))  # mean 0 and std 1: input in [0, 1]
    assert red > 0.95 and green < 0.05 and blue < 0.05


def test_combine_weights_the_crop_as_the_rule_says() -> None:
    photo, crop = hot([(0, 0)], confidence=0.6), hot([(0, 0)], confidence=0.9)
    mean = ZoomRule(0.5, 0.4, 0.0, 1.0, "weighted", crop_weight=0.5)
    np.testing.assert_allclose(combine(photo, crop, mean), [0.75, 0.25], rtol=1e-6)
    crop_only = ZoomRule(0.5, 0.4, 0.0, 1.0, "weighted", crop_weight=1.0)
    np.testing.assert_allclose(combine(photo, crop, crop_only), crop.probabilities)
    quarter = ZoomRule(0.5, 0.4, 0.0, 1.0, "weighted", crop_weight=0.25)
    np.testing.assert_allclose(combine(photo, crop, quarter), [0.675, 0.325], rtol=1e-6)


def test_combine_confident_takes_the_surer_answer() -> None:
    rule = ZoomRule(0.5, 0.4, 0.0, 1.0, "confident")
    sure_dog, unsure_cat = hot([(0, 0)], confidence=0.1), hot([(0, 0)], confidence=0.7)
    np.testing.assert_array_equal(combine(unsure_cat, sure_dog, rule), sure_dog.probabilities)
    np.testing.assert_array_equal(combine(sure_dog, unsure_cat, rule), sure_dog.probabilities)
    np.testing.assert_array_equal(combine(unsure_cat, unsure_cat, rule), unsure_cat.probabilities)


@pytest.mark.parametrize(
    "values",
    [
        {"threshold": 0.0},
        {"threshold": 1.5},
        {"max_area": 0.0},
        {"margin": -0.1},
        {"max_upscale": 0.0},
        {"crop_weight": 1.5},
    ],
)
def test_a_rule_refuses_values_that_mean_nothing(values: dict[str, float]) -> None:
    fields: dict[str, object] = {"threshold": 0.5, "max_area": 0.4, "margin": 0.25, "max_upscale": 2.0}
    with pytest.raises(ValueError):
        ZoomRule(**{**fields, **values}, combine="weighted")  # type: ignore[arg-type]

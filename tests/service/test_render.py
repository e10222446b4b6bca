"""render: maps become pictures in RGB order, aligned with the photo, blended and encoded without surprises.

OpenCV works in BGR while everything else here is RGB, so colour order is checked at each boundary; the
upsampled map must peak over the photo region its cell saw, or the overlay points at the wrong thing.
"""

import io

import numpy as np
import pytest
from PIL import Image

from camserve.models.inference.cam import upsample
from camserve.models.inference.decode import open_photo
from camserve.service.render import (
    OUTLINE_RGB,
    Colormap,
    Picture,
    blend,
    colorize,
    draw_outline,
    encode_png,
    picture_bytes,
    select_cam,
)

MAP_SIZE = 7
# The most drawing a 12 MP overlay was measured to hold (8-bit 4:4:4; the JPEG's is 11.1): a HEIC's or AVIF's
# decoder keeps its buffers until the photo's array is made.
MEASURED_OVERLAY_PEAK_BYTES_PER_PIXEL = {"HEIF": 11.1, "AVIF": 14.9}


def random_rgb(height: int, width: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


# --- colorize ------------------------------------------------------------------------------------------------


def test_jet_is_red_at_one_and_blue_at_zero() -> None:
    """OpenCV's colormaps are BGR; unconverted, jet's hot end would come out blue."""
    picture = colorize(np.array([[1.0, 0.0]], dtype=np.float32), Colormap.jet)
    assert picture.shape == (1, 2, 3)
    assert picture.dtype == np.uint8
    (red, green, blue), (red0, green0, blue0) = picture[0].astype(int)
    assert red >= 120 and blue <= 10 and green <= 10
    assert blue0 >= 120 and red0 <= 10 and green0 <= 10


def test_hot_is_black_at_zero_and_white_at_one() -> None:
    picture = colorize(np.array([[0.0, 1.0]], dtype=np.float32), Colormap.hot)
    assert picture[0, 0].tolist() == [0, 0, 0]
    assert picture[0, 1].tolist() == [255, 255, 255]


@pytest.mark.parametrize("colormap", list(Colormap))
def test_every_colormap_gives_rgb_uint8_of_the_map_size(colormap: Colormap) -> None:
    cam = np.linspace(0.0, 1.0, 12, dtype=np.float32).reshape(3, 4)
    picture = colorize(cam, colormap)
    assert picture.shape == (3, 4, 3)
    assert picture.dtype == np.uint8
    assert not np.array_equal(picture[0, 0], picture[-1, -1])


def test_colorize_clips_values_outside_the_unit_range() -> None:
    """Interpolation can overshoot [0, 1] slightly; that must saturate, not wrap around in uint8."""
    cam = np.array([[-0.2, 0.0, 1.0, 1.3]], dtype=np.float32)
    picture = colorize(cam, Colormap.jet)
    assert np.array_equal(picture[0, 0], picture[0, 1])
    assert np.array_equal(picture[0, 2], picture[0, 3])


# --- upsample ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("width", "height"), [(700, 300), (300, 700), (70, 70), (1000, 140)])
@pytest.mark.parametrize("cell", [(0, 0), (2, 5), (6, 6), (6, 0), (3, 3)])
def test_upsampled_peak_lies_in_the_region_its_cell_covers(width: int, height: int, cell: tuple[int, int]) -> None:
    row, col = cell
    cam = np.zeros((MAP_SIZE, MAP_SIZE), dtype=np.float32)
    cam[row, col] = 1.0
    heat = upsample(cam, width, height)
    assert heat.shape == (height, width)
    peak_y, peak_x = np.unravel_index(np.argmax(heat), heat.shape)
    assert col * width / MAP_SIZE <= peak_x < (col + 1) * width / MAP_SIZE
    assert row * height / MAP_SIZE <= peak_y < (row + 1) * height / MAP_SIZE


# --- blend ---------------------------------------------------------------------------------------------------


def test_blend_alpha_zero_is_the_photo_and_one_the_heatmap() -> None:
    photo, heatmap = random_rgb(5, 6, seed=1), random_rgb(5, 6, seed=2)
    assert np.array_equal(blend(photo, heatmap, 0.0), photo)
    assert np.array_equal(blend(photo, heatmap, 1.0), heatmap)


def test_blend_half_is_the_mean() -> None:
    photo = np.full((2, 2, 3), 200, dtype=np.uint8)
    heatmap = np.full((2, 2, 3), 100, dtype=np.uint8)
    blended = blend(photo, heatmap, 0.5)
    assert blended.dtype == np.uint8
    assert (blended == 150).all()


@pytest.mark.parametrize("heatmap_shape", [(5, 7, 3), (6, 5, 3), (5, 6)])
def test_blend_rejects_a_shape_mismatch(heatmap_shape: tuple[int, ...]) -> None:
    with pytest.raises(ValueError, match="differ in shape"):
        blend(random_rgb(5, 6), np.zeros(heatmap_shape, dtype=np.uint8), 0.5)


# --- encode_png ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("compression", [0, 1, 9])
def test_encode_png_round_trips_in_rgb_order(compression: int) -> None:
    rgb = random_rgb(9, 13, seed=3)
    rgb[0, 0] = (255, 0, 0)
    data = encode_png(rgb, compression)
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    decoded = Image.open(io.BytesIO(data))
    assert decoded.mode == "RGB"
    assert decoded.size == (13, 9)
    back = np.asarray(decoded)
    assert np.array_equal(back, rgb)
    assert back[0, 0].tolist() == [255, 0, 0]


# --- select_cam ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("class_index", [None, 0, 1])
def test_select_cam_of_a_flat_map_is_zeros(class_index: int | None) -> None:
    class_maps = np.full((2, MAP_SIZE, MAP_SIZE), 3.5, dtype=np.float32)
    cam = select_cam(class_maps, np.array([0.4, 0.6], dtype=np.float32), class_index)
    assert cam.shape == (MAP_SIZE, MAP_SIZE)
    assert not np.isnan(cam).any()
    assert (cam == 0).all()


def test_select_cam_picks_the_weighted_or_the_class_map() -> None:
    class_maps = np.zeros((2, MAP_SIZE, MAP_SIZE), dtype=np.float32)
    class_maps[0, 1, 2] = 5.0
    class_maps[1, 4, 4] = 2.0
    probabilities = np.array([0.1, 0.9], dtype=np.float32)
    weighted = select_cam(class_maps, probabilities, None)  # 0.5 at (1, 2) < 1.8 at (4, 4)
    assert np.unravel_index(np.argmax(weighted), weighted.shape) == (4, 4)
    assert weighted.max() == pytest.approx(1.0)
    assert weighted[1, 2] == pytest.approx(0.5 / 1.8)
    first = select_cam(class_maps, probabilities, 0)
    assert np.unravel_index(np.argmax(first), first.shape) == (1, 2)
    assert first.min() == 0.0 and first.max() == pytest.approx(1.0)


def test_the_outline_is_drawn_on_the_box_edge_and_nowhere_else() -> None:
    picture = np.zeros((400, 600, 3), dtype=np.uint8)
    draw_outline(picture, (100, 50, 300, 250))
    white = (picture == OUTLINE_RGB).all(axis=2)
    assert white[50:250, 100].all() and white[50:250, 299].all()  # left and right edges
    assert white[50, 100:300].all() and white[249, 100:300].all()  # top and bottom edges
    assert not white[60:240, 110:290].any()  # inside
    assert not white[:, 310:].any() and not white[260:].any()  # outside


# --- memory --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["HEIF", "AVIF"])
def test_an_overlay_of_a_heic_or_avif_reserves_its_decoder_s_buffers_too(
    fmt: str, phone_photos: dict[str, bytes]
) -> None:
    opened, jpeg = (open_photo(phone_photos[name], 50_000_000) for name in (fmt, "JPEG"))
    assert (
        picture_bytes(opened, Picture.overlay)
        >= opened.width * opened.height * MEASURED_OVERLAY_PEAK_BYTES_PER_PIXEL[fmt]
    )
    assert picture_bytes(opened, Picture.overlay) > picture_bytes(jpeg, Picture.overlay)
    assert picture_bytes(opened, Picture.heatmap) == picture_bytes(jpeg, Picture.heatmap)  # a heatmap decodes nothing

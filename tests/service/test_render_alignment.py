"""Alignment: the heatmap's peak lands on the marked patch in original-photo coordinates.

The red-patch model's map fires where the input is red, so wherever the patch is drawn in the upright
photo, the upsampled heatmap must peak inside it: for non-square photos and for EXIF-rotated ones.
"""

import io

import numpy as np
import pytest
from PIL import Image

from camserve.models.inference.preprocess import prepare
from camserve.models.runtimes.torch import TorchPredictor
from camserve.service.render import Colormap, Picture, RenderRequest, render
from tests.support.photos import STORED_FOR_ORIENTATION, encode, exif_with_orientation, photo_with_patch

MAX_PIXELS = 50_000_000


def stored_with_orientation(upright: Image.Image, orientation: int) -> bytes:
    """JPEG bytes whose stored pixels are turned so that EXIF ``orientation`` makes them upright again."""
    stored = upright.transpose(STORED_FOR_ORIENTATION[orientation]) if orientation != 1 else upright
    return encode(stored, "JPEG", quality=95, exif=exif_with_orientation(orientation))


def heatmap_peak(data: bytes, predictor: TorchPredictor) -> tuple[int, int, tuple[int, int]]:
    prepared = prepare(data, predictor.metadata, MAX_PIXELS)
    (prediction,) = predictor.predict(prepared.pixels[None])
    request = RenderRequest(Picture.heatmap, 0.0, Colormap.hot, class_index=0)
    png = render(data, prediction.class_maps, prediction.probabilities, request, MAX_PIXELS, 1)
    heat = np.asarray(Image.open(io.BytesIO(png)).convert("L"), dtype=np.int32)
    row, col = np.unravel_index(np.argmax(heat), heat.shape)
    return prepared.width, prepared.height, (int(col), int(row))


def assert_inside(point: tuple[int, int], box: tuple[int, int, int, int]) -> None:
    x, y = point
    left, top, right, bottom = box
    assert left <= x < right and top <= y < bottom, f"peak {point} outside patch {box}"


@pytest.mark.parametrize(
    ("width", "height", "box"),
    [
        (600, 300, (450, 75, 525, 112)),  # wide: patch in the upper right
        (300, 600, (37, 450, 75, 525)),  # tall: patch in the lower left
        (640, 640, (0, 0, 80, 80)),  # corner of a square photo
        (1000, 200, (875, 175, 1000, 200)),  # far corner of a strip
    ],
)
def test_peak_on_patch_for_any_aspect_ratio(
    red_patch_predictor: TorchPredictor, width: int, height: int, box: tuple[int, int, int, int]
) -> None:
    data = encode(photo_with_patch(width, height, box))
    got_width, got_height, peak = heatmap_peak(data, red_patch_predictor)
    assert (got_width, got_height) == (width, height)
    assert_inside(peak, box)


@pytest.mark.parametrize("orientation", [1, 3, 5, 6, 8])
def test_peak_on_patch_for_exif_rotated_photos(red_patch_predictor: TorchPredictor, orientation: int) -> None:
    box = (450, 75, 525, 150)
    upright = photo_with_patch(600, 300, box)
    data = stored_with_orientation(upright, orientation)
    width, height, peak = heatmap_peak(data, red_patch_predictor)
    assert (width, height) == (600, 300)
    assert_inside(peak, box)

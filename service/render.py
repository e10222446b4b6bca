"""Class maps to pictures: choose the map, upsample it to the photo, colour it, blend it, encode PNG.

``render`` is the whole path, shared by the HTTP service and ``camserve predict``: stored photo bytes and the
small class maps in, a PNG at the photo's own size out.
"""

from dataclasses import dataclass
from enum import StrEnum

import cv2
import numpy as np

from camserve.models.inference.cam import class_cam, normalise, upsample, weighted_cam
from camserve.models.inference.decode import decode_photo


class Colormap(StrEnum):
    magma = "magma"
    inferno = "inferno"
    viridis = "viridis"
    plasma = "plasma"
    turbo = "turbo"
    jet = "jet"
    hot = "hot"


_OPENCV_COLORMAPS = {
    Colormap.magma: cv2.COLORMAP_MAGMA,
    Colormap.inferno: cv2.COLORMAP_INFERNO,
    Colormap.viridis: cv2.COLORMAP_VIRIDIS,
    Colormap.plasma: cv2.COLORMAP_PLASMA,
    Colormap.turbo: cv2.COLORMAP_TURBO,
    Colormap.jet: cv2.COLORMAP_JET,
    Colormap.hot: cv2.COLORMAP_HOT,
}


class Picture(StrEnum):
    overlay = "overlay"
    heatmap = "heatmap"


OUTLINE_RGB = (255, 255, 255)
OUTLINE_FRACTION = 1 / 200  # of the photo's shorter side: visible on a phone photo and on a thumbnail alike


@dataclass(frozen=True)
class RenderRequest:
    picture: Picture
    alpha: float
    colormap: Colormap
    class_index: int | None
    outline: tuple[int, int, int, int] | None = None  # a box to draw (left, top, right, bottom; photo pixels)


def render(
    photo_bytes: bytes,
    class_maps: np.ndarray,
    probabilities: np.ndarray,
    request: RenderRequest,
    max_pixels: int,
    compression: int,
) -> bytes:
    photo = np.asarray(decode_photo(photo_bytes, max_pixels).image)
    height, width = photo.shape[:2]
    cam = upsample(select_cam(class_maps, probabilities, request.class_index), width, height)
    heatmap = colorize(cam, request.colormap)
    picture = heatmap if request.picture is Picture.heatmap else blend(photo, heatmap, request.alpha)
    if request.outline is not None:
        draw_outline(picture, request.outline)
    return encode_png(picture, compression)


def select_cam(class_maps: np.ndarray, probabilities: np.ndarray, class_index: int | None) -> np.ndarray:
    """The weighted CAM (``class_index`` None) or one class's map, normalised to [0, 1] at map size."""
    raw = weighted_cam(class_maps, probabilities) if class_index is None else class_cam(class_maps, class_index)
    return normalise(raw)


def colorize(cam: np.ndarray, colormap: Colormap) -> np.ndarray:
    """[0, 1] map to an RGB uint8 picture. OpenCV's colormaps produce BGR; convert before anyone sees it."""
    levels = np.clip(np.rint(cam * 255.0), 0, 255).astype(np.uint8)
    return cv2.cvtColor(cv2.applyColorMap(levels, _OPENCV_COLORMAPS[colormap]), cv2.COLOR_BGR2RGB)


def blend(photo: np.ndarray, heatmap: np.ndarray, alpha: float) -> np.ndarray:
    """``alpha`` of heatmap over ``1 - alpha`` of photo, both RGB uint8 of the same size."""
    if photo.shape != heatmap.shape:
        raise ValueError(f"photo {photo.shape} and heatmap {heatmap.shape} differ in shape")
    return cv2.addWeighted(photo, 1.0 - alpha, heatmap, alpha, 0.0)


def draw_outline(picture: np.ndarray, box: tuple[int, int, int, int]) -> None:
    """Outline ``box`` (right and bottom exclusive) in place, inside its edges: where the box meets the photo's
    border, a line centred on the edge would be half cut off."""
    left, top, right, bottom = box
    thickness = max(2, round(min(picture.shape[:2]) * OUTLINE_FRACTION))
    for edge in (
        np.s_[top : top + thickness, left:right],
        np.s_[bottom - thickness : bottom, left:right],
        np.s_[top:bottom, left : left + thickness],
        np.s_[top:bottom, right - thickness : right],
    ):
        picture[edge] = OUTLINE_RGB


def encode_png(rgb: np.ndarray, compression: int) -> bytes:
    ok, encoded = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_PNG_COMPRESSION, compression])
    if not ok:
        raise RuntimeError("PNG encoding failed")
    return encoded.tobytes()

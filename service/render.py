"""Class maps to pictures: choose the map, upsample it to the photo, colour it, blend it, encode PNG.

``render`` is the whole path, shared by the HTTP service and ``camserve predict``: stored photo bytes and the
small class maps in, a PNG at the photo's own size out. The service opens the photo first (``render_opened``),
so it knows what drawing will hold before any of it is allocated.

A 24-megapixel photo is 72 MB a picture, so the path keeps as few full-size arrays alive as it can: the map is
quantised in its own float32 buffer, coloured straight to RGB (the colour maps' lookup tables are turned to RGB
once), blended into the heatmap, the photo let go before the PNG is encoded, and a heatmap never decodes the
photo at all (only its size is needed). ``picture_bytes`` is what that holds at most.
"""

from dataclasses import dataclass
from enum import StrEnum

import cv2
import numpy as np

from camserve.models.inference.cam import class_cam, normalise, upsample, weighted_cam
from camserve.models.inference.decode import OpenedPhoto, open_photo


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


# OpenCV's colour maps as RGB lookup tables: applying one gives RGB at once, with no BGR picture to convert.
_RGB_LUTS = {
    colormap: np.ascontiguousarray(cv2.applyColorMap(np.arange(256, dtype=np.uint8)[:, None], code)[..., ::-1])
    for colormap, code in _OPENCV_COLORMAPS.items()
}


class Picture(StrEnum):
    overlay = "overlay"
    heatmap = "heatmap"


# The most a picture holds per photo pixel while drawn, measured on a 24-megapixel photo (bench/memory.py's):
# an overlay 11.1 (the decode's PIL image and array, then photo, float32 map, levels and picture; the PNG and
# its base64 after), a heatmap 8.1 (map, levels, picture). With room for a PNG as large as the pixels.
OVERLAY_BYTES_PER_PIXEL = 12
HEATMAP_BYTES_PER_PIXEL = 9

OUTLINE_RGB = (255, 255, 255)
OUTLINE_FRACTION = 1 / 200  # of the photo's shorter side: visible on a phone photo and on a thumbnail alike


@dataclass(frozen=True)
class RenderRequest:
    picture: Picture
    alpha: float
    colormap: Colormap
    class_index: int | None
    outline: tuple[int, int, int, int] | None = None  # a box to draw (left, top, right, bottom; photo pixels)


def picture_bytes(opened: OpenedPhoto, picture: Picture) -> int:
    """The most memory drawing ``picture`` of ``opened`` holds at once, its PNG's inline base64 included (answers
    with store=false carry one). An overlay decodes the photo, and a HEIC's or AVIF's decoder keeps its own
    buffers until the photo's array is made (measured on 12 MP: an AVIF overlay 13.2 to 14.9 bytes a pixel)."""
    pixels = opened.width * opened.height
    if picture is Picture.heatmap:
        return pixels * HEATMAP_BYTES_PER_PIXEL
    return pixels * OVERLAY_BYTES_PER_PIXEL + opened.codec_bytes


def render(
    photo_bytes: bytes,
    class_maps: np.ndarray,
    probabilities: np.ndarray,
    request: RenderRequest,
    max_pixels: int,
    compression: int,
) -> bytes:
    return render_opened(open_photo(photo_bytes, max_pixels), class_maps, probabilities, request, compression)


def render_opened(
    opened: OpenedPhoto, class_maps: np.ndarray, probabilities: np.ndarray, request: RenderRequest, compression: int
) -> bytes:
    """The picture of ``opened`` (which this decodes, and so uses up) as PNG bytes. The photo is decoded first:
    its decode's own peak is then over before the map's float32 buffer exists."""
    photo = opened.decode_array() if request.picture is Picture.overlay else None
    cam = upsample(select_cam(class_maps, probabilities, request.class_index), opened.width, opened.height)
    picture = cv2.applyColorMap(_levels_in_place(cam), _RGB_LUTS[request.colormap])
    del cam
    if photo is not None:
        _check_shapes(photo, picture)
        cv2.addWeighted(photo, 1.0 - request.alpha, picture, request.alpha, 0.0, dst=picture)
        del photo
    if request.outline is not None:
        draw_outline(picture, request.outline)
    encoded = _encode_png_in_place(picture, compression)
    del picture
    return encoded.tobytes()


def select_cam(class_maps: np.ndarray, probabilities: np.ndarray, class_index: int | None) -> np.ndarray:
    """The weighted CAM (``class_index`` None) or one class's map, normalised to [0, 1] at map size."""
    raw = weighted_cam(class_maps, probabilities) if class_index is None else class_cam(class_maps, class_index)
    return normalise(raw)


def colorize(cam: np.ndarray, colormap: Colormap) -> np.ndarray:
    """[0, 1] map to an RGB uint8 picture; ``cam`` is left as it was."""
    return cv2.applyColorMap(_levels_in_place(cam.astype(np.float32, copy=True)), _RGB_LUTS[colormap])


def _levels_in_place(cam: np.ndarray) -> np.ndarray:
    """A float32 [0, 1] map to uint8 levels 0..255, rounded; computed in ``cam``'s own buffer, which it spoils."""
    cam *= 255.0
    np.rint(cam, out=cam)
    np.clip(cam, 0, 255, out=cam)
    return cam.astype(np.uint8)


def blend(photo: np.ndarray, heatmap: np.ndarray, alpha: float) -> np.ndarray:
    """``alpha`` of heatmap over ``1 - alpha`` of photo, both RGB uint8 of the same size."""
    _check_shapes(photo, heatmap)
    return cv2.addWeighted(photo, 1.0 - alpha, heatmap, alpha, 0.0)


def _check_shapes(photo: np.ndarray, heatmap: np.ndarray) -> None:
    if photo.shape != heatmap.shape:
        raise ValueError(f"photo {photo.shape} and heatmap {heatmap.shape} differ in shape")


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
    """``rgb`` as PNG bytes; ``rgb`` is left as it was."""
    return _encode_png_in_place(rgb.copy(), compression).tobytes()


def _encode_png_in_place(rgb: np.ndarray, compression: int) -> np.ndarray:
    """The PNG of ``rgb``, which is turned to BGR (OpenCV's order) in place on the way, so no second picture
    is held beside it; OpenCV's buffer, so the caller can let the picture go before copying it to bytes."""
    cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR, dst=rgb)
    ok, encoded = cv2.imencode(".png", rgb, [cv2.IMWRITE_PNG_COMPRESSION, compression])
    if not ok:
        raise RuntimeError("PNG encoding failed")
    return encoded

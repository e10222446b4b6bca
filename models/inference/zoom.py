"""CAM-guided zoom, the lesson's advice for big photos: where the weighted map is concentrated in a small
region, look again at that region, cut from the photo at its own resolution, and combine the two answers.

Pure logic on predictions, boxes and photo bytes. The service sends the crop through its own batching queue;
``camserve evaluate --zoom`` and ``camserve release zoom`` call the predictor directly. The rule's values were chosen
on validation photos by ``camserve release zoom`` (weights/README.md, "CAM-guided zoom").
"""

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

from camserve.models.inference.cam import normalise, weighted_cam
from camserve.models.inference.decode import OpenedPhoto, open_photo
from camserve.models.inference.predictor import Prediction
from camserve.models.inference.preprocess import to_model_input
from camserve.models.metadata import ModelMetadata

__all__ = [
    "ZOOM_RULE",
    "Combine",
    "CropBox",
    "ZoomRule",
    "combine",
    "crop_bytes",
    "crop_decode_size",
    "crop_input",
    "crop_opened",
    "hot_cells",
    "zoom_box",
]

Combine = Literal["weighted", "confident"]


@dataclass(frozen=True, order=True)
class CropBox:
    """A region in photo pixels (the photo as uploaded, after EXIF orientation); right and bottom exclusive."""

    left: int
    top: int
    right: int
    bottom: int

    @property
    def width(self) -> int:
        return self.right - self.left

    @property
    def height(self) -> int:
        return self.bottom - self.top


@dataclass(frozen=True)
class ZoomRule:
    """When to zoom, how large the crop is, and how the two answers combine.

    threshold: a cell of the min-max normalised weighted CAM at or above this is part of the hot region.
    max_area: zoom only when the hot region's bounding box covers at most this fraction of the map.
    margin: added on each side of that box, as a fraction of its width (height).
    max_upscale: the crop spans at least input_size / max_upscale photo pixels per side (where the photo
        has them), so a small region is never stretched more than this into the model input.
    combine: "weighted" mixes the probabilities, ``crop_weight`` of the crop's (1: the crop's answer alone);
        "confident" takes whichever answer, the photo's or the crop's, is the more confident.
    """

    threshold: float
    max_area: float
    margin: float
    max_upscale: float
    combine: Combine
    crop_weight: float = 0.5

    def __post_init__(self) -> None:
        if not 0.0 < self.threshold <= 1.0 or not 0.0 < self.max_area <= 1.0:
            raise ValueError("threshold and max_area must lie in (0, 1]")
        if self.margin < 0.0 or self.max_upscale <= 0.0 or not 0.0 <= self.crop_weight <= 1.0:
            raise ValueError("margin must be >= 0, max_upscale > 0 and crop_weight in [0, 1]")


# The lowest log loss of camserve release zoom's grid on the validation photos that have no full-resolution stand-in;
# how it was chosen, and what it gains and costs on held-out photos: weights/README.md, "CAM-guided zoom".
ZOOM_RULE = ZoomRule(threshold=0.75, max_area=0.6, margin=0.25, max_upscale=4.0, combine="weighted", crop_weight=0.5)


def hot_cells(cam: np.ndarray, threshold: float) -> tuple[int, int, int, int] | None:
    """First row, first column, and one past the last row and column of the cells of the normalised ``cam`` at
    or above ``threshold``; None for a flat map (all zeros after normalising), where nothing stands out."""
    if not cam.any():
        return None
    rows, columns = np.nonzero(cam >= threshold)
    return int(rows.min()), int(columns.min()), int(rows.max()) + 1, int(columns.max()) + 1


def zoom_box(prediction: Prediction, width: int, height: int, input_size: int, rule: ZoomRule) -> CropBox | None:
    """The crop to look at again, in photo pixels, or None when the map is not concentrated enough.

    Cells map to the photo as the overlay stretches them: cell (i, j) covers x in [j, j + 1) cell widths
    (width / map columns), y likewise, so the box sits where the heat is drawn, for any aspect ratio.
    """
    cam = normalise(weighted_cam(prediction.class_maps, prediction.probabilities))
    cells = hot_cells(cam, rule.threshold)
    if cells is None:
        return None
    top, left, bottom, right = cells
    rows, columns = cam.shape
    if (bottom - top) * (right - left) > rule.max_area * rows * columns:
        return None
    min_side = input_size / rule.max_upscale
    cell_width, cell_height = width / columns, height / rows
    x0, x1 = _span(left * cell_width, right * cell_width, width, rule.margin, min_side)
    y0, y1 = _span(top * cell_height, bottom * cell_height, height, rule.margin, min_side)
    box = CropBox(x0, y0, x1, y1)
    return None if box == CropBox(0, 0, width, height) else box


def _span(start: float, end: float, length: int, margin: float, min_size: float) -> tuple[int, int]:
    """One axis of the crop: [start, end) grown by ``margin`` on each side and to at least ``min_size`` (or the
    whole axis), about its centre, shifted back inside [0, length), in whole pixels."""
    size = min(max((end - start) * (1.0 + 2.0 * margin), min_size), float(length))
    low = min(max((start + end - size) / 2.0, 0.0), length - size)
    return math.floor(low), min(math.ceil(low + size), length)


def crop_input(
    data: bytes, box: CropBox, width: int, height: int, metadata: ModelMetadata, max_pixels: int
) -> np.ndarray:
    """The model input (3, S, S) of ``box`` in a ``width`` x ``height`` photo, decoded just large enough that
    the crop keeps S pixels per side where the photo has them: the crop gets detail the squashed photo lost."""
    opened = open_photo(data, max_pixels, min_decode_size=crop_decode_size(box, width, height, metadata))
    return crop_opened(opened, box, metadata)


def crop_decode_size(box: CropBox, width: int, height: int, metadata: ModelMetadata) -> int:
    """The fewest pixels per side the photo is decoded at so that ``box`` keeps the model input's size."""
    return math.ceil(metadata.input_size * max(width / box.width, height / box.height))


def crop_bytes(opened: OpenedPhoto) -> int:
    """The most memory ``crop_opened`` holds: the decode, and the crop's own copy (at most the decoded photo)."""
    return opened.decode_bytes + opened.decoded_pixels * 4


def crop_opened(opened: OpenedPhoto, box: CropBox, metadata: ModelMetadata) -> np.ndarray:
    """``crop_input`` of a photo opened at ``crop_decode_size`` (so what decoding holds is known first)."""
    decoded = opened.decode()
    scale_x, scale_y = decoded.image.width / decoded.width, decoded.image.height / decoded.height
    region = (
        round(box.left * scale_x),
        round(box.top * scale_y),
        max(round(box.right * scale_x), round(box.left * scale_x) + 1),
        max(round(box.bottom * scale_y), round(box.top * scale_y) + 1),
    )
    return to_model_input(decoded.image.crop(region), metadata)


def combine(photo: Prediction, crop: Prediction, rule: ZoomRule) -> np.ndarray:
    """The probabilities to answer with, from the whole photo's answer and the crop's."""
    if rule.combine == "confident":
        return crop.probabilities if crop.confidence > photo.confidence else photo.probabilities
    mixed = (1.0 - rule.crop_weight) * photo.probabilities + rule.crop_weight * crop.probabilities
    return mixed.astype(np.float32)

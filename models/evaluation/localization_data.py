"""Annotated photos for the localization benchmark: the annotations file's records, and the masks the metrics
need at the photo's size as uploaded (after EXIF orientation), which is the size the overlay is drawn at.

The file (``annotations.json``) holds ``photos``: per photo its ``file`` (relative to the data folder),
``width`` and ``height``, the pet's ``outline`` (one polygon, x and y as fractions of the width and height)
and its ``head_box`` ([xmin, ymin, xmax, ymax] in pixels, inclusive; null where absent).
"""

import json
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

__all__ = ["TOLERANCE_PX", "AnnotatedPhoto", "load_annotations", "outline_mask", "within_tolerance"]

TOLERANCE_PX = 15  # the pointing game's slack around the object (Zhang et al., 2018)


@dataclass(frozen=True)
class AnnotatedPhoto:
    file: str
    width: int
    height: int
    outline: np.ndarray  # (P, 2) x, y as fractions of the width and height
    head_box: tuple[int, int, int, int] | None


def load_annotations(path: Path) -> list[AnnotatedPhoto]:
    """Every record of the file, in its order; a record without a usable outline is an error that names it."""
    photos = []
    for record in json.loads(path.read_text())["photos"]:
        outline = np.asarray(record["outline"], dtype=np.float64)
        if outline.ndim != 2 or outline.shape[1] != 2 or len(outline) < 3:
            raise ValueError(f"{path}: {record['file']}'s outline is not a polygon of at least 3 points")
        box = record.get("head_box")
        photos.append(
            AnnotatedPhoto(
                record["file"],
                int(record["width"]),
                int(record["height"]),
                outline,
                None if box is None else (int(box[0]), int(box[1]), int(box[2]), int(box[3])),
            )
        )
    return photos


def outline_mask(photo: AnnotatedPhoto) -> np.ndarray:
    """The animal's pixels (H, W) bool: the outline filled at the photo's own size."""
    mask = np.zeros((photo.height, photo.width), np.uint8)
    points = np.rint(photo.outline * [photo.width, photo.height]).astype(np.int32)
    cv2.fillPoly(mask, [points], 1)
    return mask.astype(bool)


def within_tolerance(mask: np.ndarray, pixels: int = TOLERANCE_PX) -> np.ndarray:
    """The mask grown by ``pixels`` on every side (a disc of that radius): where the pointing game still counts
    a hit, so a peak on the outline's coarse edge is not a miss."""
    disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * pixels + 1, 2 * pixels + 1))
    grown: np.ndarray = cv2.dilate(mask.astype(np.uint8), disc).astype(bool)
    return grown

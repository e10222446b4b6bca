"""A contact sheet of a map kind's worst misses, to read what the numbers cannot say: each photo with the map
blended over it as the overlay is drawn, the annotated outline (green), the head box (yellow), the map's peak
(a white cross) and a caption with the photo's name, its energy on the animal and what was missed."""

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from camserve.models.evaluation.localization_data import AnnotatedPhoto
from camserve.models.evaluation.localization_metrics import MapScores
from camserve.models.inference.decode import decode_photo

__all__ = ["COLUMNS", "TILE", "contact_sheet", "tile"]

TILE = 256  # the longest side of each photo on the sheet
COLUMNS = 4
CAPTION = 34
ALPHA = 0.5
GREEN, YELLOW, WHITE = (0, 255, 0), (255, 255, 0), (255, 255, 255)


def tile(photo: AnnotatedPhoto, data: bytes, saliency: np.ndarray, scores: MapScores, max_pixels: int) -> np.ndarray:
    """One photo, drawn at full size, then scaled so its longest side is TILE, on a TILE-wide captioned card."""
    picture = np.asarray(decode_photo(data, max_pixels).image)
    heat = cv2.cvtColor(
        cv2.applyColorMap(np.clip(np.rint(saliency * 255.0), 0, 255).astype(np.uint8), cv2.COLORMAP_JET),
        cv2.COLOR_BGR2RGB,
    )
    drawn = cv2.addWeighted(picture, 1.0 - ALPHA, heat, ALPHA, 0.0)
    scale = TILE / max(photo.width, photo.height)
    thickness = max(1, round(1.5 / scale))
    points = np.rint(photo.outline * [photo.width, photo.height]).astype(np.int32)
    cv2.polylines(drawn, [points], isClosed=True, color=GREEN, thickness=thickness)
    if photo.head_box is not None:
        left, top, right, bottom = photo.head_box
        cv2.rectangle(drawn, (left, top), (right, bottom), YELLOW, thickness)
    cv2.drawMarker(drawn, scores.peak, WHITE, cv2.MARKER_CROSS, round(20 / scale), thickness * 2)
    small = cv2.resize(drawn, (round(photo.width * scale), round(photo.height * scale)), interpolation=cv2.INTER_AREA)
    card = np.zeros((TILE + CAPTION, TILE, 3), np.uint8)
    card[: small.shape[0], : small.shape[1]] = small
    missed = "off the animal" if not scores.pointing else "off the head"
    for row, text in enumerate((Path(photo.file).name, f"{missed}, energy {scores.energy:.2f}")):
        cv2.putText(card, text, (4, TILE + 14 + 15 * row), cv2.FONT_HERSHEY_SIMPLEX, 0.42, WHITE, 1, cv2.LINE_AA)
    return card


def contact_sheet(
    path: Path,
    photos: Sequence[AnnotatedPhoto],
    data: Sequence[bytes],
    maps: Sequence[np.ndarray],
    scores: Sequence[MapScores],
    max_pixels: int,
) -> None:
    """The tiles in rows of COLUMNS, written as a PNG (an empty sheet's single black row when nothing missed)."""
    cards = [tile(p, d, m, s, max_pixels) for p, d, m, s in zip(photos, data, maps, scores, strict=True)] or [
        np.zeros((TILE + CAPTION, TILE, 3), np.uint8)
    ]
    rows = -(-len(cards) // COLUMNS)
    sheet = np.zeros((rows * (TILE + CAPTION), min(len(cards), COLUMNS) * TILE, 3), np.uint8)
    for index, card in enumerate(cards):
        row, column = divmod(index, COLUMNS)
        sheet[row * (TILE + CAPTION) : (row + 1) * (TILE + CAPTION), column * TILE : (column + 1) * TILE] = card
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(sheet).save(path)

"""Does a heatmap find the animal? Four figures per photo for one map (H, W) at the photo's size, non-negative:

- pointing: the map's peak lies on the animal, within ``TOLERANCE_PX`` of the outline (the pointing game);
- head pointing: the peak lies in the head box (photos without one are left out);
- energy: the share of the map's mass inside the outline;
- IoU of the map's region at or above half its range (after min-max normalisation) with the outline.

One rule for every kind of map, flat ones included: the peak is the centre of mass of the maximal set (every
pixel within ``TIE_TOLERANCE`` of the maximum), rounded to a pixel. A single maximum is itself; a flat map
points at the photo's centre, the same point as a centred blob's. A map with no contrast (flat, or all zero)
is read as flat: its mass is spread evenly (energy is the outline's share of the photo) and its region is the
whole photo.
"""

from dataclasses import dataclass

import numpy as np

__all__ = ["HALF", "TIE_TOLERANCE", "MapScores", "energy", "iou", "peak", "score_map"]

TIE_TOLERANCE = 1e-6
HALF = 0.5


@dataclass(frozen=True)
class MapScores:
    pointing: bool
    head: bool | None
    energy: float
    iou: float
    peak: tuple[int, int]  # x, y


def peak(saliency: np.ndarray) -> tuple[int, int]:
    """(x, y) of the centre of mass of the pixels within TIE_TOLERANCE of the map's maximum."""
    top = float(saliency.max())
    rows, columns = np.nonzero(saliency >= top - TIE_TOLERANCE * max(1.0, abs(top)))
    return int(np.rint(columns.mean())), int(np.rint(rows.mean()))


def _flat(saliency: np.ndarray) -> bool:
    return float(np.ptp(saliency)) < TIE_TOLERANCE * max(1.0, float(np.abs(saliency).max()))


def energy(saliency: np.ndarray, mask: np.ndarray) -> float:
    """The share of the map's mass on the mask; a map without contrast spreads it evenly."""
    if _flat(saliency):
        return float(mask.mean())
    mass = np.maximum(saliency, 0.0).astype(np.float64)
    return float(mass[mask].sum() / mass.sum())


def iou(saliency: np.ndarray, mask: np.ndarray) -> float:
    """IoU of the map's region at or above HALF of its min-max range with the mask; a flat map's region is
    the whole photo."""
    if _flat(saliency):
        region = np.ones_like(mask)
    else:
        low, high = float(saliency.min()), float(saliency.max())
        region = (saliency - low) >= HALF * (high - low)
    union = np.logical_or(region, mask).sum()
    return float(np.logical_and(region, mask).sum() / union) if union else 0.0


def score_map(
    saliency: np.ndarray, mask: np.ndarray, tolerance: np.ndarray, head_box: tuple[int, int, int, int] | None
) -> MapScores:
    """One map's four figures on one photo: ``mask`` is the outline, ``tolerance`` the outline grown by the
    pointing game's slack, ``head_box`` inclusive pixel bounds (or None)."""
    if saliency.shape != mask.shape or mask.shape != tolerance.shape:
        raise ValueError(f"map {saliency.shape} and masks {mask.shape}, {tolerance.shape} differ in size")
    x, y = peak(saliency)
    head = None
    if head_box is not None:
        left, top, right, bottom = head_box
        head = left <= x <= right and top <= y <= bottom
    return MapScores(bool(tolerance[y, x]), head, energy(saliency, mask), iou(saliency, mask), (x, y))

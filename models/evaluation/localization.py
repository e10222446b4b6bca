"""Heatmaps that find the animal: each map kind's pointing, head pointing, energy and IoU on annotated
photos (``localization_metrics``), with paired bootstrap intervals of each kind against the served CAM and
against the centred blob (the same photo resamples for every kind), and the served CAM's worst misses.

``camserve evaluate --localization`` runs it for one checkpoint; ``camserve release localization`` compares
two checkpoints' served CAMs on the same photos for the release rule.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from camserve.models.evaluation.localization_data import (
    TOLERANCE_PX,
    AnnotatedPhoto,
    outline_mask,
    within_tolerance,
)
from camserve.models.evaluation.localization_kinds import MapMaker
from camserve.models.evaluation.localization_metrics import TIE_TOLERANCE, MapScores, score_map
from camserve.models.evaluation.paired import paired_mean_interval

__all__ = [
    "FIGURES",
    "REFERENCES",
    "Localization",
    "compare",
    "format_report",
    "localize",
    "report",
    "worst_misses",
]

FIGURES = ("pointing", "head_pointing", "energy", "iou")
REFERENCES = ("cam", "blob")  # every kind is compared with the served map and with the map that knows nothing
TIE_RULE = (
    "the peak is the centre of mass of every pixel within "
    f"{TIE_TOLERANCE:g} of the maximum (a flat map points at the photo's centre)"
)


@dataclass
class Localization:
    """Per photo and kind, the four figures; per photo, the served answer's class index."""

    photos: list[AnnotatedPhoto]
    kinds: tuple[str, ...]
    scores: dict[str, list[MapScores]] = field(default_factory=dict)
    predicted: list[int] = field(default_factory=list)

    def values(self, kind: str, figure: str) -> np.ndarray:
        """One figure per photo; head pointing only over the photos with a head box."""
        scores = self.scores[kind]
        if figure == "head_pointing":
            return np.array([s.head for s in scores if s.head is not None], np.float64)
        return np.array([getattr(s, figure) for s in scores], np.float64)


def localize(maker: MapMaker, photos: Sequence[AnnotatedPhoto], data: Path, batch_size: int = 16) -> Localization:
    """Every kind's figures on every photo; each photo is decoded at its size as uploaded, which must be the
    annotated size (else the outline would be drawn on another picture)."""
    result = Localization(list(photos), maker.kinds, {kind: [] for kind in maker.kinds})
    for start in range(0, len(photos), batch_size):
        chunk = photos[start : start + batch_size]
        batch = maker.batch([(data / photo.file).read_bytes() for photo in chunk])
        for photo, size in zip(chunk, batch.sizes, strict=True):
            if size != (photo.width, photo.height):
                annotated = f"{photo.width} x {photo.height}"
                raise ValueError(f"{photo.file} decodes to {size[0]} x {size[1]}, annotated {annotated}")
        for photo, maps, prediction in zip(chunk, maker.maps(batch), batch.predictions, strict=True):
            mask = outline_mask(photo)
            tolerance = within_tolerance(mask)
            for kind, saliency in maps.items():
                result.scores[kind].append(score_map(saliency, mask, tolerance, photo.head_box))
            result.predicted.append(prediction.label_index())
    return result


def compare(before: Localization, after: Localization, kind: str, seed: int = 0) -> dict[str, list[float]]:
    """95% paired bootstrap intervals of after - before for each figure of one kind (same photos, in order)."""
    if [p.file for p in before.photos] != [p.file for p in after.photos]:
        raise ValueError("paired localization figures need the same photos on both sides")
    return {
        f"{figure}_difference_95": list(
            paired_mean_interval(before.values(kind, figure), after.values(kind, figure), seed)
        )
        for figure in FIGURES
    }


def _figures(localization: Localization, kind: str) -> dict[str, float]:
    return {figure: round(float(localization.values(kind, figure).mean()), 4) for figure in FIGURES}


def worst_misses(localization: Localization, kind: str = "cam", count: int = 12) -> list[int]:
    """The photos where ``kind`` missed, worst first: off the animal before merely off the head, then the least
    energy on the animal."""
    scores = localization.scores[kind]
    missed = [i for i, s in enumerate(scores) if not s.pointing or s.head is False]
    return sorted(missed, key=lambda i: (scores[i].pointing, scores[i].energy))[:count]


def report(localization: Localization, seed: int = 0) -> dict[str, Any]:
    """The figures of every kind, its intervals against each reference kind present, and per-photo figures."""
    kinds = {}
    for kind in localization.kinds:
        entry: dict[str, Any] = _figures(localization, kind)
        for reference in REFERENCES:
            if reference in localization.kinds and reference != kind:
                entry[f"versus_{reference}"] = _versus(localization, reference, kind, seed)
        kinds[kind] = entry
    return {
        "photos": len(localization.photos),
        "head_boxes": sum(p.head_box is not None for p in localization.photos),
        "tolerance_px": TOLERANCE_PX,
        "tie_rule": TIE_RULE,
        "kinds": kinds,
        "per_photo": [
            {
                "file": photo.file,
                "predicted": localization.predicted[index],
                **{
                    kind: {
                        "pointing": localization.scores[kind][index].pointing,
                        "head": localization.scores[kind][index].head,
                        "energy": round(localization.scores[kind][index].energy, 4),
                        "iou": round(localization.scores[kind][index].iou, 4),
                        "peak": list(localization.scores[kind][index].peak),
                    }
                    for kind in localization.kinds
                },
            }
            for index, photo in enumerate(localization.photos)
        ],
    }


def _versus(localization: Localization, reference: str, kind: str, seed: int) -> dict[str, list[float]]:
    """Intervals of kind - reference on the same photos, per figure."""
    return {
        figure: list(
            paired_mean_interval(localization.values(reference, figure), localization.values(kind, figure), seed)
        )
        for figure in FIGURES
    }


def format_report(summary: dict[str, Any]) -> str:
    """The figures as a table, then each kind's intervals against the served CAM and the blob."""
    header = f"{'kind':<12}{'pointing':>10}{'head':>8}{'energy':>8}{'IoU':>8}"
    lines = [
        f"{summary['photos']} photos ({summary['head_boxes']} with a head box), pointing within "
        f"{summary['tolerance_px']} px of the outline",
        header,
    ]
    for kind, entry in summary["kinds"].items():
        widths = (10, 8, 8, 8)
        lines.append(f"{kind:<12}" + "".join(f"{entry[f]:>{w}.3f}" for f, w in zip(FIGURES, widths, strict=True)))
    for reference in REFERENCES:
        key = f"versus_{reference}"
        rows = [(kind, entry[key]) for kind, entry in summary["kinds"].items() if key in entry]
        if rows:
            lines.append(f"\n95% paired intervals, kind - {reference}")
            lines.append(f"{'kind':<12}" + "".join(f"{f:>18}" for f in FIGURES))
            for kind, intervals in rows:
                lines.append(f"{kind:<12}" + "".join(f"{_interval(intervals[f]):>18}" for f in FIGURES))
    return "\n".join(lines)


def _interval(bounds: list[float]) -> str:
    return f"[{bounds[0]:+.3f}, {bounds[1]:+.3f}]"

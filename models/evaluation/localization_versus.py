"""Two checkpoints' maps on the same annotated photos, for the release rule: each one's figures per map kind,
and paired bootstrap intervals of the candidate's minus the shipped one's (``camserve release localization``)."""

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from camserve.models.evaluation.localization import compare, localize, report
from camserve.models.evaluation.localization_benchmark import map_maker
from camserve.models.evaluation.localization_data import load_annotations
from camserve.models.inference.predictor import Predictor

__all__ = ["localization_versus"]


def localization_versus(
    old: tuple[Path, Predictor],
    new: tuple[Path, Predictor],
    data: Path,
    annotations: Path,
    kinds: Sequence[str],
    max_pixels: int,
) -> dict[str, Any]:
    """``old`` and ``new`` are (weights, predictor); the intervals are new - old, per kind and figure."""
    photos = load_annotations(annotations)
    scored = {
        side: localize(map_maker(predictor, weights, kinds, max_pixels), photos, data)
        for side, (weights, predictor) in (("old", old), ("new", new))
    }
    sides = {
        side: {
            "weights": str(weights),
            "version": predictor.metadata.version,
            "input_size": predictor.metadata.input_size,
            "kinds": report(scored[side])["kinds"],
        }
        for side, (weights, predictor) in (("old", old), ("new", new))
    }
    return {
        "data": str(data),
        "photos": len(photos),
        **sides,
        "differences": {kind: compare(scored["old"], scored["new"], kind) for kind in kinds},
    }

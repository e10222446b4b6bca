"""The localization benchmark end to end for one checkpoint: annotations in; the JSON report, a text table and
the served CAM's worst misses as a contact sheet out (``camserve evaluate --localization``)."""

import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from camserve.models.evaluation.localization import format_report, localize, report, worst_misses
from camserve.models.evaluation.localization_data import load_annotations
from camserve.models.evaluation.localization_kinds import NETWORK_KINDS, MapMaker
from camserve.models.evaluation.localization_sheet import contact_sheet
from camserve.models.inference.predictor import Predictor

__all__ = ["REPORT", "SHEET", "TABLE", "map_maker", "run_benchmark"]

REPORT, TABLE, SHEET = "localization.json", "localization.txt", "worst-misses.png"


def map_maker(predictor: Predictor, weights: Path, kinds: Sequence[str], max_pixels: int) -> MapMaker:
    """The maps of ``kinds``; the PyTorch network (torch and the train extra) loads only for Grad-CAM kinds."""
    if not NETWORK_KINDS & set(kinds):
        return MapMaker(predictor, kinds, max_pixels)
    from camserve.models.checkpoint import load_checkpoint
    from camserve.models.network import CamNetwork

    network, metadata = load_checkpoint(weights)
    if not isinstance(network, CamNetwork):
        raise ValueError(f"Grad-CAM kinds need a body + class-map network; {metadata.architecture} has another head")
    return MapMaker(predictor, kinds, max_pixels, network)


def run_benchmark(
    predictor: Predictor,
    weights: Path,
    data: Path,
    annotations: Path,
    kinds: Sequence[str],
    max_pixels: int,
    output: Path,
) -> dict[str, Any]:
    """Score every annotated photo with every kind, write the report, table and sheet under ``output``."""
    started = time.perf_counter()
    photos = load_annotations(annotations)
    maker = map_maker(predictor, weights, kinds, max_pixels)
    localization = localize(maker, photos, data)
    summary = {
        "weights": str(weights),
        "version": predictor.metadata.version,
        "data": str(data),
        "annotations": str(annotations),
        "runtime": predictor.runtime,
        "precision": predictor.precision,
        "input_size": predictor.metadata.input_size,
        **report(localization),
    }
    output.mkdir(parents=True, exist_ok=True)
    if "cam" in kinds:
        missed = worst_misses(localization)
        chosen = [photos[i] for i in missed]
        sheet_maker = MapMaker(predictor, ["cam"], max_pixels)
        photo_bytes = [(data / photo.file).read_bytes() for photo in chosen]
        maps = [m["cam"] for m in sheet_maker.maps(sheet_maker.batch(photo_bytes))] if chosen else []
        scores = [localization.scores["cam"][i] for i in missed]
        contact_sheet(output / SHEET, chosen, photo_bytes, maps, scores, max_pixels)
        summary["worst_misses"] = [photo.file for photo in chosen]
    summary["seconds"] = round(time.perf_counter() - started, 1)
    (output / REPORT).write_text(json.dumps(summary, indent=2) + "\n")
    (output / TABLE).write_text(format_report(summary) + "\n")
    return summary

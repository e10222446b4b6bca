"""CAM-guided zoom: which rule, what it gains on held-out photos, and what it costs, with the served runtime.

The full-resolution stand-ins are made from validation photos, so they are held out only if their sources
take no part in the choice. Hence three sets:

- tuning: the checkpoint's validation photos with no stand-in. Two rules are chosen here over a small grid:
  the lowest log loss ("lowest_log_loss"), and the lowest log loss among rules that zoom at most a quarter of
  the photos ("cheap": at most 1.25 forwards per photo on average). Ties: higher accuracy, then fewer zoomed;
- held out: the validation photos that have a stand-in (at their own size), and the stand-ins themselves,
  where each chosen rule is reported against no zoom with paired intervals (``zoom_effect.zoom_gain``).

Cost: one photo's plain path (decode, preprocess, forward) beside the zoom's extra work on a zoomed photo
(box, crop decode and preprocess, forward), interleaved, batch 1, on full-resolution stand-ins.
"""

import itertools
import statistics
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from camserve.models.dataset import ImageFolder, scan_image_folder, validation_indices
from camserve.models.evaluation.folder import evaluate_folder
from camserve.models.evaluation.paired import scores
from camserve.models.evaluation.zoom_effect import zoom_gain
from camserve.models.inference.predictor import Prediction, Predictor
from camserve.models.inference.preprocess import PreparedPhoto, prepare
from camserve.models.inference.zoom import Combine, CropBox, ZoomRule, combine, crop_input, zoom_box

__all__ = ["CHEAP_SHARE", "TunedPhotos", "choose", "grid", "rule_answers", "tune_zoom", "zoom_cost"]

BATCH = 32
CHEAP_SHARE = 0.25  # the cost budget: at most a quarter of photos zoomed, 1.25 forwards per photo on average
THRESHOLDS = (0.5, 0.75)
MAX_AREAS = (0.25, 0.4, 0.6)
MARGINS = (0.0, 0.25, 0.5)
MAX_UPSCALES = (1.0, 2.0, 4.0)
COMBINES: tuple[tuple[Combine, float], ...] = (
    ("weighted", 1.0),
    ("weighted", 0.5),
    ("weighted", 0.25),
    ("confident", 0.5),
)

Looked = dict[tuple[int, CropBox], Prediction]


@dataclass(frozen=True)
class TunedPhotos:
    """A photo set as the service first sees it: files, labels, upright sizes, and the whole photo's answer."""

    paths: list[Path]
    labels: np.ndarray
    sizes: list[tuple[int, int]]
    predictions: list[Prediction]


def grid() -> list[ZoomRule]:
    return [
        ZoomRule(threshold, area, margin, upscale, how, weight)
        for threshold, area, margin, upscale, (how, weight) in itertools.product(
            THRESHOLDS, MAX_AREAS, MARGINS, MAX_UPSCALES, COMBINES
        )
    ]


def _batched(predictor: Predictor, inputs: list[np.ndarray]) -> list[Prediction]:
    return [
        p for start in range(0, len(inputs), BATCH) for p in predictor.predict(np.stack(inputs[start : start + BATCH]))
    ]


def look(
    predictor: Predictor, paths: list[Path], labels: list[int], max_pixels: int, pool: ThreadPoolExecutor
) -> TunedPhotos:
    prepared = list(pool.map(lambda path: prepare(path.read_bytes(), predictor.metadata, max_pixels), paths))
    predictions = _batched(predictor, [p.pixels for p in prepared])
    return TunedPhotos(paths, np.asarray(labels), [(p.width, p.height) for p in prepared], predictions)


def boxes(photos: TunedPhotos, rule: ZoomRule, input_size: int) -> list[CropBox | None]:
    return [zoom_box(p, w, h, input_size, rule) for p, (w, h) in zip(photos.predictions, photos.sizes, strict=True)]


def crops(
    predictor: Predictor,
    photos: TunedPhotos,
    wanted: Iterable[tuple[int, CropBox]],
    max_pixels: int,
    pool: ThreadPoolExecutor,
) -> Looked:
    """Each distinct (photo, box) looked at once, however many rules ask for it; one batch of crops in memory."""
    keys = sorted(set(wanted))

    def cut(key: tuple[int, CropBox]) -> np.ndarray:
        index, box = key
        width, height = photos.sizes[index]
        return crop_input(photos.paths[index].read_bytes(), box, width, height, predictor.metadata, max_pixels)

    looked: Looked = {}
    for start in range(0, len(keys), BATCH):
        chunk = keys[start : start + BATCH]
        looked.update(zip(chunk, predictor.predict(np.stack(list(pool.map(cut, chunk)))), strict=True))
    return looked


def rule_answers(photos: TunedPhotos, rule: ZoomRule, chosen: list[CropBox | None], looked: Looked) -> np.ndarray:
    """(N, C): each photo's answer under ``rule``, its crop's answer combined in where the rule zoomed."""
    return np.stack(
        [
            prediction.probabilities if box is None else combine(prediction, looked[(i, box)], rule)
            for i, (prediction, box) in enumerate(zip(photos.predictions, chosen, strict=True))
        ]
    )


def choose(table: list[dict[str, Any]], photos: int) -> dict[str, ZoomRule]:
    """The grid's choices from its table, best first: the lowest log loss, and the best within the cost budget."""
    cheap = next(row for row in table if row["zoomed"] <= CHEAP_SHARE * photos)
    return {"lowest_log_loss": ZoomRule(**table[0]["rule"]), "cheap": ZoomRule(**cheap["rule"])}


def zoom_cost(
    predictor: Predictor, paths: list[Path], rule: ZoomRule, max_pixels: int, count: int, reps: int
) -> dict[str, Any]:
    """Median ms of one photo's plain path and of the zoom's extra work, interleaved, on the first ``count``
    photos the rule zooms, from bytes in memory."""
    metadata, size = predictor.metadata, predictor.metadata.input_size

    def plain(data: bytes) -> tuple[PreparedPhoto, Prediction]:
        prepared = prepare(data, metadata, max_pixels)
        (prediction,) = predictor.predict(prepared.pixels[None])
        return prepared, prediction

    chosen: list[bytes] = []
    for data in (path.read_bytes() for path in paths):
        if len(chosen) == count:
            break
        prepared, prediction = plain(data)
        if zoom_box(prediction, prepared.width, prepared.height, size, rule) is not None:
            chosen.append(data)
    times: dict[str, list[float]] = {"plain_ms": [], "zoom_extra_ms": []}
    for _ in range(reps):
        for data in chosen:
            started = time.perf_counter()
            prepared, prediction = plain(data)
            decided = time.perf_counter()
            box = zoom_box(prediction, prepared.width, prepared.height, size, rule)
            if box is None:
                raise RuntimeError("the same photo's forward gave another map: the zoom cost cannot be timed")
            predictor.predict(crop_input(data, box, prepared.width, prepared.height, metadata, max_pixels)[None])
            times["plain_ms"].append((decided - started) * 1000.0)
            times["zoom_extra_ms"].append((time.perf_counter() - decided) * 1000.0)
    medians = {name: round(statistics.median(values), 2) for name, values in times.items() if values}
    return {"photos": len(chosen), "reps": reps, **medians}


def _held_out(
    predictor: Predictor, folder: ImageFolder, indices: list[int], rule: ZoomRule, max_pixels: int
) -> dict[str, Any]:
    return zoom_gain(evaluate_folder(predictor, folder, indices, max_pixels, zoom=rule), rule)


def tune_zoom(
    predictor: Predictor, data: Path, fullres: Path, max_pixels: int, cost_photos: int, reps: int
) -> dict[str, Any]:
    """The grid on the tuning photos, both chosen rules on the held-out sets, and their cost."""
    names = predictor.metadata.class_names
    folder, stand_ins = scan_image_folder(data, names), scan_image_folder(fullres, names)
    stood_in = {Path(stand_ins.relative(i)).with_suffix("") for i in range(len(stand_ins.files))}
    validation = validation_indices(folder, predictor.metadata.extra)
    held = [i for i in validation if Path(folder.relative(i)).with_suffix("") in stood_in]
    tuning = sorted(set(validation) - set(held))
    if not tuning or not held:
        raise ValueError("zoom tuning needs validation photos both with and without a full-resolution stand-in")
    rules = grid()
    with ThreadPoolExecutor(2) as pool:
        photos = look(
            predictor, [folder.files[i] for i in tuning], [folder.labels[i] for i in tuning], max_pixels, pool
        )
        chosen_boxes = {rule: boxes(photos, rule, predictor.metadata.input_size) for rule in rules}
        wanted = {(i, b) for chosen in chosen_boxes.values() for i, b in enumerate(chosen) if b is not None}
        looked = crops(predictor, photos, wanted, max_pixels, pool)
    table: list[dict[str, Any]] = [
        {
            "rule": asdict(rule),
            "zoomed": sum(b is not None for b in chosen_boxes[rule]),
            **asdict(scores(rule_answers(photos, rule, chosen_boxes[rule], looked), photos.labels)),
        }
        for rule in rules
    ]
    table.sort(key=lambda row: (round(row["log_loss"], 6), -row["accuracy"], row["zoomed"]))
    plain = np.stack([p.probabilities for p in photos.predictions])
    every_stand_in = list(range(len(stand_ins.files)))
    return {
        "tuning": {"photos": len(tuning), "without_zoom": asdict(scores(plain, photos.labels)), "grid": table},
        "cheap_share": CHEAP_SHARE,
        **{
            name: {
                "rule": asdict(rule),
                "held_out_validation": _held_out(predictor, folder, held, rule, max_pixels),
                "held_out_full_resolution": _held_out(predictor, stand_ins, every_stand_in, rule, max_pixels),
                "cost": zoom_cost(predictor, list(stand_ins.files), rule, max_pixels, cost_photos, reps),
            }
            for name, rule in choose(table, len(tuning)).items()
        },
    }

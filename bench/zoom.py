"""CAM-guided zoom: which rule, what it gains and what it costs, with the served runtime.

The full-resolution stand-ins (bench/fullres_photos.py) are made from validation photos, so they are held out
only if their sources take no part in the choice. Hence three sets:

- tuning: the checkpoint's validation photos with no stand-in under --fullres. Two rules are chosen here
  over a small grid: the lowest log loss ("lowest_log_loss"), and the lowest log loss among rules that zoom
  at most a quarter of the photos ("cheap": at most 1.25 forwards per photo on average). Ties: higher
  accuracy, then fewer photos zoomed;
- held out: the validation photos that have a stand-in (at their own size), and the stand-ins themselves.

On the held-out sets each chosen rule is reported against no zoom by ``camserve evaluate --zoom``'s own
evaluation: accuracy, log loss, calibration error, photos zoomed, answers fixed and broken, and paired
bootstrap 95% intervals of the differences. Cost: one photo's plain path (decode, preprocess, forward)
beside the zoom's extra work on a zoomed photo (box, crop decode and preprocess, forward), interleaved,
batch 1, on full-resolution stand-ins.

    python bench/zoom.py --data ../shared/data/catsdogs --fullres runs/fullres

Writes bench/results/zoom.json.
"""

import argparse
import itertools
import statistics
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from common import RESULTS_DIR, environment, load_average_1m, write_results
from paired import paired_interval, scores

from camserve.cli.evaluate import zoom_effect
from camserve.models.dataset import ImageFolder, scan_image_folder, validation_indices
from camserve.models.evaluation.calibration import accuracy, log_loss
from camserve.models.evaluation.folder import evaluate_folder
from camserve.models.inference.predictor import Prediction, Predictor
from camserve.models.inference.preprocess import PreparedPhoto, prepare
from camserve.models.inference.zoom import Combine, CropBox, ZoomRule, combine, crop_input, zoom_box
from camserve.models.runtimes import load_predictor
from camserve.service.settings import Settings

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


@dataclass(frozen=True)
class Photos:
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


def batched(predictor: Predictor, inputs: list[np.ndarray]) -> list[Prediction]:
    return [
        p for start in range(0, len(inputs), BATCH) for p in predictor.predict(np.stack(inputs[start : start + BATCH]))
    ]


def look(
    predictor: Predictor, paths: list[Path], labels: list[int], max_pixels: int, pool: ThreadPoolExecutor
) -> Photos:
    prepared = list(pool.map(lambda path: prepare(path.read_bytes(), predictor.metadata, max_pixels), paths))
    predictions = batched(predictor, [p.pixels for p in prepared])
    return Photos(paths, np.asarray(labels), [(p.width, p.height) for p in prepared], predictions)


def boxes(photos: Photos, rule: ZoomRule, input_size: int) -> list[CropBox | None]:
    return [zoom_box(p, w, h, input_size, rule) for p, (w, h) in zip(photos.predictions, photos.sizes, strict=True)]


def crops(
    predictor: Predictor,
    photos: Photos,
    wanted: Iterable[tuple[int, CropBox]],
    max_pixels: int,
    pool: ThreadPoolExecutor,
) -> dict[tuple[int, CropBox], Prediction]:
    """Each distinct (photo, box) looked at once, however many rules ask for it; one batch of crops in memory."""
    keys = sorted(set(wanted))

    def cut(key: tuple[int, CropBox]) -> np.ndarray:
        index, box = key
        width, height = photos.sizes[index]
        return crop_input(photos.paths[index].read_bytes(), box, width, height, predictor.metadata, max_pixels)

    looked: dict[tuple[int, CropBox], Prediction] = {}
    for start in range(0, len(keys), BATCH):
        chunk = keys[start : start + BATCH]
        looked.update(zip(chunk, predictor.predict(np.stack(list(pool.map(cut, chunk)))), strict=True))
    return looked


def answers(
    photos: Photos, rule: ZoomRule, chosen: list[CropBox | None], looked: dict[tuple[int, CropBox], Prediction]
) -> np.ndarray:
    return np.stack(
        [
            prediction.probabilities if box is None else combine(prediction, looked[(i, box)], rule)
            for i, (prediction, box) in enumerate(zip(photos.predictions, chosen, strict=True))
        ]
    )


def held_out_report(
    predictor: Predictor, folder: ImageFolder, indices: list[int], rule: ZoomRule, max_pixels: int
) -> dict[str, Any]:
    """``camserve evaluate --zoom``'s own evaluation and figures, with calibration error and intervals added."""
    evaluation = evaluate_folder(predictor, folder, indices, max_pixels, zoom=rule)
    plain, zoomed, labels = evaluation.unzoomed, evaluation.probabilities, evaluation.labels
    assert plain is not None
    return {
        **zoom_effect(evaluation, rule),
        "photos": len(labels),
        "without_zoom": scores(plain, labels),
        "with_zoom": scores(zoomed, labels),
        "accuracy_difference_95": paired_interval(plain, zoomed, labels, accuracy),
        "log_loss_difference_95": paired_interval(plain, zoomed, labels, log_loss),
    }


def cost(
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
            assert box is not None
            predictor.predict(crop_input(data, box, prepared.width, prepared.height, metadata, max_pixels)[None])
            times["plain_ms"].append((decided - started) * 1000.0)
            times["zoom_extra_ms"].append((time.perf_counter() - decided) * 1000.0)
    return {"photos": len(chosen), "reps": reps} | {k: round(statistics.median(v), 2) for k, v in times.items()}


def choose(table: list[dict[str, Any]], photos: int) -> dict[str, ZoomRule]:
    """The tuning grid's choices: the lowest log loss, and the lowest among rules within the cost budget."""
    cheap = next(row for row in table if row["zoomed"] <= CHEAP_SHARE * photos)
    return {"lowest_log_loss": ZoomRule(**table[0]["rule"]), "cheap": ZoomRule(**cheap["rule"])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="the training image folder (its val split)")
    parser.add_argument("--fullres", type=Path, required=True, help="full-resolution stand-ins of validation photos")
    parser.add_argument("--cost-photos", type=int, default=20, help="zoomed stand-ins timed (default 20)")
    parser.add_argument("--reps", type=int, default=3, help="timed passes over them (default 3)")
    parser.add_argument("--output", type=Path, default=RESULTS_DIR / "zoom.json")
    args = parser.parse_args()
    settings = Settings()
    predictor = load_predictor(settings.backend, settings.runtime_request())
    load_before = load_average_1m()
    names = predictor.metadata.class_names
    folder, stand_ins = scan_image_folder(args.data, names), scan_image_folder(args.fullres, names)
    stood_in = {Path(stand_ins.relative(i)).with_suffix("") for i in range(len(stand_ins.files))}
    validation = validation_indices(folder, predictor.metadata.extra)
    held = [i for i in validation if Path(folder.relative(i)).with_suffix("") in stood_in]
    tuning = sorted(set(validation) - set(held))
    size = predictor.metadata.input_size
    with ThreadPoolExecutor(2) as pool:
        photos = look(
            predictor, [folder.files[i] for i in tuning], [folder.labels[i] for i in tuning], settings.max_pixels, pool
        )
        rules = grid()
        chosen_boxes = {rule: boxes(photos, rule, size) for rule in rules}
        wanted = {(i, b) for chosen in chosen_boxes.values() for i, b in enumerate(chosen) if b is not None}
        print(f"tuning: {len(tuning)} photos, {len(rules)} rules, {len(wanted)} distinct crops")
        looked = crops(predictor, photos, wanted, settings.max_pixels, pool)
    plain = np.stack([p.probabilities for p in photos.predictions])
    table: list[dict[str, Any]] = [
        {
            "rule": asdict(rule),
            "zoomed": sum(b is not None for b in chosen_boxes[rule]),
            **scores(answers(photos, rule, chosen_boxes[rule], looked), photos.labels),
        }
        for rule in rules
    ]
    table.sort(key=lambda row: (round(row["log_loss"], 6), -row["accuracy"], row["zoomed"]))
    chosen = choose(table, len(tuning))
    results: dict[str, Any] = {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "served": {"runtime": predictor.runtime, "precision": predictor.precision},
        "tuning": {"photos": len(tuning), "without_zoom": scores(plain, photos.labels), "grid": table},
        "cheap_share": CHEAP_SHARE,
    }
    for name, rule in chosen.items():
        results[name] = {
            "rule": asdict(rule),
            "held_out_validation": held_out_report(predictor, folder, held, rule, settings.max_pixels),
            "held_out_full_resolution": held_out_report(
                predictor, stand_ins, list(range(len(stand_ins.files))), rule, settings.max_pixels
            ),
            "cost": cost(predictor, list(stand_ins.files), rule, settings.max_pixels, args.cost_photos, args.reps),
        }
    print("tuning without zoom", results["tuning"]["without_zoom"])
    for row in table[:5]:
        print("tuning", row)
    for name in chosen:
        print(name, results[name])
    write_results(args.output, {**results, **environment(load_before, load_average_1m())})
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()

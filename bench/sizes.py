"""Serving size and cost together: accuracy and latency of the shipped weights at several input sizes, with
the runtime that serves (CAMSERVE_BACKEND=auto: the fastest on this machine).

Accuracy and log loss on the checkpoint's validation photos and on the full-resolution stand-ins, through
``camserve evaluate``'s own evaluation with the input size overridden (as ``--input-size`` does). Cost: the
bare forward at batch 1 and per photo at the serving batch, and a full-resolution photo's decode and
preprocessing, each size in turn within every round, so all sizes see the same drift of shared cores.

The weights were trained, calibrated and quantised at their own size (144 px). At other sizes the
temperature was not fitted and the int8 gate was not run, so this table says what another size would be
worth; serving one needs ``camserve calibrate`` and ``camserve quantize`` at it first.

    python bench/sizes.py --data ../shared/data/catsdogs --fullres runs/fullres

Writes bench/results/sizes.json.
"""

import argparse
import statistics
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from common import RESULTS_DIR, environment, load_average_1m, write_results

from camserve.models.dataset import scan_image_folder, validation_indices
from camserve.models.evaluation.folder import evaluate_folder
from camserve.models.inference.predictor import Predictor
from camserve.models.inference.preprocess import prepare
from camserve.models.metadata import ModelMetadata
from camserve.models.runtimes import load_predictor
from camserve.service.settings import Settings

SIZES = (144, 176, 224)


def scores(predictor: Predictor, root: Path, validation: bool, max_pixels: int) -> dict[str, float]:
    folder = scan_image_folder(root, predictor.metadata.class_names)
    indices = validation_indices(folder, predictor.metadata.extra) if validation else list(range(len(folder.files)))
    report = evaluate_folder(predictor, folder, indices, max_pixels).report
    return {"photos": report.photos, "accuracy": report.accuracy, "log_loss": report.log_loss}


def costs(
    predictor: Predictor, metadatas: dict[int, ModelMetadata], photos: list[bytes], batch: int, rounds: int
) -> dict[int, dict[str, float]]:
    """Median ms per size: forward of one photo, forward per photo in a full batch, and prepare of a large one."""
    samples: dict[int, dict[str, list[float]]] = {
        size: {"forward_1_ms": [], f"forward_{batch}_ms_per_photo": [], "prepare_fullres_ms": []} for size in metadatas
    }
    inputs = {size: np.zeros((batch, 3, size, size), dtype=np.float32) for size in metadatas}
    for size in metadatas:  # warm each shape once: the first forward at a new size selects kernels
        predictor.predict(inputs[size][:1])
        predictor.predict(inputs[size])
    for round_index in range(rounds):
        for size, metadata in metadatas.items():
            started = time.perf_counter()
            predictor.predict(inputs[size][:1])
            single = time.perf_counter()
            predictor.predict(inputs[size])
            batched = time.perf_counter()
            prepare(photos[round_index % len(photos)], metadata, 50_000_000)
            prepared = time.perf_counter()
            samples[size]["forward_1_ms"].append((single - started) * 1000.0)
            samples[size][f"forward_{batch}_ms_per_photo"].append((batched - single) * 1000.0 / batch)
            samples[size]["prepare_fullres_ms"].append((prepared - batched) * 1000.0)
    return {size: {k: round(statistics.median(v), 2) for k, v in by.items()} for size, by in samples.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="the training image folder (its val split)")
    parser.add_argument("--fullres", type=Path, required=True, help="full-resolution stand-ins of validation photos")
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    parser.add_argument("--rounds", type=int, default=60, help="timed rounds over all sizes (default 60)")
    parser.add_argument("--output", type=Path, default=RESULTS_DIR / "sizes.json")
    args = parser.parse_args()
    settings = Settings()
    predictor = load_predictor(settings.backend, settings.runtime_request())
    load_before = load_average_1m()
    trained = predictor.metadata
    metadatas = {size: replace(trained, input_size=size) for size in args.sizes}
    results: dict[str, Any] = {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "served": {"runtime": predictor.runtime, "precision": predictor.precision, "trained_size": trained.input_size},
        "sizes": {},
    }
    for size, metadata in metadatas.items():
        predictor.metadata = metadata
        results["sizes"][size] = {
            "validation": scores(predictor, args.data, True, settings.max_pixels),
            "full_resolution": scores(predictor, args.fullres, False, settings.max_pixels),
        }
        print(size, results["sizes"][size])
    photos = [path.read_bytes() for path in sorted(args.fullres.rglob("*.jpg"))[:20]]
    for size, cost in costs(predictor, metadatas, photos, settings.batch_max_size, args.rounds).items():
        results["sizes"][size]["cost"] = cost
        print(size, cost)
    write_results(args.output, {**results, **environment(load_before, load_average_1m())})
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()

"""What serve-time TTA (the photo and its mirror image, averaged) gains and costs, with the served runtime.

Gain: accuracy, log loss and expected calibration error on the checkpoint's validation photos (and on
full-resolution photos with --fullres), each photo once plain and once with its mirror image averaged in,
through the service's decoding and ``camserve.models.inference.tta``. Cost: the bare forward of one photo (batch 1)
against one photo's two views (batch 2), interleaved, on the same inputs.

    python bench/tta.py --data ../shared/data/catsdogs --fullres runs/fullres

Writes bench/results/tta.json.
"""

import argparse
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import paired
from common import RESULTS_DIR, environment, load_average_1m, write_results

from camserve.models.dataset import scan_image_folder, validation_indices
from camserve.models.inference.predictor import Predictor
from camserve.models.inference.preprocess import prepare
from camserve.models.inference.tta import average_mirror_views, mirror_views
from camserve.models.runtimes import load_predictor
from camserve.service.settings import Settings

BATCH = 32


def inputs_and_labels(
    predictor: Predictor, root: Path, validation: bool, max_pixels: int
) -> tuple[np.ndarray, np.ndarray]:
    folder = scan_image_folder(root, predictor.metadata.class_names)
    indices = validation_indices(folder, predictor.metadata.extra) if validation else list(range(len(folder.files)))
    with ThreadPoolExecutor(2) as pool:
        pixels = list(
            pool.map(lambda i: prepare(folder.files[i].read_bytes(), predictor.metadata, max_pixels).pixels, indices)
        )
    return np.stack(pixels), np.array([folder.labels[i] for i in indices])


def scores(predictor: Predictor, inputs: np.ndarray, labels: np.ndarray) -> dict[str, dict[str, float]]:
    plain, mirrored = [], []
    for start in range(0, len(inputs), BATCH):
        chunk = inputs[start : start + BATCH]
        originals = predictor.predict(chunk)
        flipped = predictor.predict(np.stack([mirror_views(x)[1] for x in chunk]))
        plain += [p.probabilities for p in originals]
        mirrored += [average_mirror_views(o, f).probabilities for o, f in zip(originals, flipped, strict=True)]
    return {"plain": paired.scores(np.stack(plain), labels), "mirror_tta": paired.scores(np.stack(mirrored), labels)}


def forward_cost(predictor: Predictor, pixels: np.ndarray, reps: int) -> dict[str, float]:
    """Median ms of one view and of two views in one batch, taken in turns."""
    one, two = pixels[None], np.stack(mirror_views(pixels))
    times: dict[str, list[float]] = {"one_view_ms": [], "two_views_ms": []}
    for _ in range(3):
        predictor.predict(one)
        predictor.predict(two)
    for _ in range(reps):
        for name, batch in (("one_view_ms", one), ("two_views_ms", two)):
            started = time.perf_counter()
            predictor.predict(batch)
            times[name].append((time.perf_counter() - started) * 1000.0)
    return {name: round(statistics.median(values), 2) for name, values in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="the training image folder (its val split)")
    parser.add_argument("--fullres", type=Path, help="full-resolution photos too")
    parser.add_argument("--reps", type=int, default=50, help="timed forwards of each kind (default 50)")
    parser.add_argument("--output", type=Path, default=RESULTS_DIR / "tta.json")
    args = parser.parse_args()
    settings = Settings()
    predictor = load_predictor(settings.backend, settings.runtime_request())
    load_before = load_average_1m()
    sets = {"validation": (args.data, True)} | ({"full_resolution": (args.fullres, False)} if args.fullres else {})
    results: dict[str, Any] = {"measured_at": datetime.now(UTC).isoformat(timespec="seconds")}
    results["served"] = {"runtime": predictor.runtime, "precision": predictor.precision}
    for name, (root, validation) in sets.items():
        inputs, labels = inputs_and_labels(predictor, root, validation, settings.max_pixels)
        results[name] = {"photos": len(labels), **scores(predictor, inputs, labels)}
        if name == "validation":
            results["cost"] = forward_cost(predictor, inputs[0], args.reps)
        print(name, results[name])
    print("cost", results["cost"])
    write_results(args.output, {**results, **environment(load_before, load_average_1m())})
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()

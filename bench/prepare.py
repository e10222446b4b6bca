"""What a POST costs on its decoding thread, stage by stage, for each photo size the load benchmark sends.

The stages are the ones ``camserve.models.inference.preprocess.prepare`` and the route run around the forward: decode
(reduced-size for JPEGs), squash to the model input, standardise (``to_model_input`` less its squash), and the
result store's ``put`` of the photo with its maps. Each is timed on its own, in this process, one call at a
time: the fixed cost a single request adds to the forward, before HTTP and thread hops.

Run from the repository root, in the project's venv::

    python -m bench.prepare
    python -m bench.prepare --reps 500

Prints a table (median ms per call) and writes bench/results/prepare.json.
"""

import argparse
import itertools
import statistics
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from bench.lib.paths import RESULTS_DIR
from bench.lib.photos import SIZES, Photo, build_photos
from bench.lib.stored_result import stored_result
from camserve.models.checkpoint import load_checkpoint
from camserve.models.evaluation.measurement import load_average_1m, machine_facts, timed, write_results
from camserve.models.inference.preprocess import decode_for_model, squash, to_model_input
from camserve.models.metadata import ModelMetadata
from camserve.service.settings import Settings
from camserve.service.stores import PredictionStore, StoreLimits
from camserve.service.stores.sqlite import SqliteStore

STAGES = ("decode", "squash", "standardise", "store_put")


def time_stages(
    sized: list[Photo], store: PredictionStore, metadata: ModelMetadata, max_pixels: int, reps: int
) -> dict[str, Any]:
    """Median ms of each stage for photos of one size, cycling through them."""
    decoded = [decode_for_model(p.data, metadata, max_pixels).image for p in sized]
    maps = np.zeros((metadata.num_classes, 7, 7), dtype=np.float32)
    result = stored_result(metadata.class_names)
    size = f"{sized[0].width}x{sized[0].height}"
    uploads, images, ids = itertools.cycle([p.data for p in sized]), itertools.cycle(decoded), itertools.count()
    timings = {
        "decode": timed(reps, lambda: decode_for_model(next(uploads), metadata, max_pixels))[0],
        "squash": timed(reps, lambda: squash(next(images), metadata.input_size))[0],
        "model_input": timed(reps, lambda: to_model_input(next(images), metadata))[0],
        "store_put": timed(reps, lambda: store.put(f"{size}-{next(ids)}", result, next(uploads), maps))[0],
    }
    timings["standardise"] = round(max(timings.pop("model_input") - timings["squash"], 0.0), 2)
    return {
        "size": size,
        "decoded": "x".join(map(str, decoded[0].size)),
        "jpeg_bytes_mean": round(statistics.fmean(len(p.data) for p in sized)),
        **{f"{stage}_ms": timings[stage] for stage in STAGES},
        "total_ms": round(sum(timings.values()), 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.prepare", description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=200, help="timed calls per stage and size (default 200)")
    parser.add_argument("--sources", type=int, default=5, help="source photos per class (default 5)")
    parser.add_argument("--output", type=Path, default=RESULTS_DIR / "prepare.json", help="JSON results")
    args = parser.parse_args()
    if args.reps < 1:
        parser.error("--reps must be positive")

    settings = Settings()
    _, metadata = load_checkpoint(settings.weights_path)
    photos, origin = build_photos(args.sources, seed=0)
    load_before = load_average_1m()
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="camserve-prepare-") as tmp:
        store = SqliteStore(Path(tmp) / "store.sqlite3", StoreLimits(settings.store_max_bytes))
        for width, height in SIZES:
            sized = [p for p in photos if (p.width, p.height) == (width, height)]
            rows.append(time_stages(sized, store, metadata, settings.max_pixels, args.reps))
        store.close()
    results = {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "photos": {"origin": origin, "count": len(photos)},
        "reps": args.reps,
        "sizes": rows,
        **machine_facts(load_before, load_average_1m()),
    }
    write_results(args.output, results)
    print(f"median ms per call, {args.reps} calls per stage, {origin} JPEGs")
    headings = ("size", "decoded", "decode", "squash", "standardise", "store put", "total")
    print(" ".join(f"{h:>11}" for h in headings))
    for row in rows:
        cells = [row["size"], row["decoded"]] + [f"{row[f'{stage}_ms']:.2f}" for stage in (*STAGES, "total")]
        print(" ".join(f"{c:>11}" for c in cells))
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()

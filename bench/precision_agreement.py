"""How often the model's answer at one precision matches fp32, on the checkpoint's validation photos.

Photos go through the service's decode and preprocessing (``models.evaluation``), once per precision.
Reports label agreement, the largest probability difference, and each precision's accuracy.

    python bench/precision_agreement.py --data ../shared/data/catsdogs             # bf16 vs fp32, all val
    python bench/precision_agreement.py --data ../shared/data/catsdogs --limit 500

Writes bench/results/precision_agreement.json.
"""

import argparse
import random
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from common import RESULTS_DIR, environment, load_average_1m, write_results

from camserve.models.checkpoint import load_metadata
from camserve.models.dataset import scan_image_folder, validation_indices
from camserve.models.evaluation.folder import evaluate_folder
from camserve.models.runtimes import load_predictor
from camserve.service.settings import Settings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True, help="the training image folder")
    parser.add_argument("--precision", default="bf16", choices=["bf16", "fp16"], help="compared against fp32")
    parser.add_argument("--limit", type=int, help="only N validation photos, drawn at random")
    parser.add_argument("--seed", type=int, default=0, help="which N photos --limit draws")
    parser.add_argument("--output", type=Path, default=RESULTS_DIR / "precision_agreement.json")
    args = parser.parse_args()

    load_before = load_average_1m()
    metadata = load_metadata(Settings().weights_path)
    folder = scan_image_folder(args.data, metadata.class_names)
    val = validation_indices(folder, metadata.extra)
    if args.limit:
        val = sorted(random.Random(args.seed).sample(val, min(args.limit, len(val))))  # both classes
    runs = {}
    for precision in ("fp32", args.precision):
        settings = Settings(precision=precision)
        predictor = load_predictor(settings.backend, settings.runtime_request())
        started = time.perf_counter()
        runs[precision] = evaluate_folder(predictor, folder, val, settings.max_pixels)
        print(f"{precision}: accuracy {runs[precision].report.accuracy:.4f} in {time.perf_counter() - started:.0f} s")
    reference, other = runs["fp32"], runs[args.precision]
    same = reference.probabilities.argmax(axis=1) == other.probabilities.argmax(axis=1)
    results = {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "weights": str(Settings().weights_path),
        "photos": len(same),
        "compared": args.precision,
        "label_agreement": float(same.mean()),
        "disagreements": [name for name, agree in zip(reference.files, same, strict=True) if not agree],
        "max_probability_difference": float(np.abs(reference.probabilities - other.probabilities).max()),
        "accuracy": {name: run.report.accuracy for name, run in runs.items()},
        **environment(load_before, load_average_1m()),
    }
    write_results(args.output, results)
    print(
        f"{args.precision} agrees with fp32 on {results['label_agreement']:.2%} of {results['photos']} photos; "
        f"largest probability difference {results['max_probability_difference']:.4f}; wrote {args.output}"
    )


if __name__ == "__main__":
    main()

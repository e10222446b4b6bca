"""``camserve calibrate``: fit the checkpoint's temperature on its validation photos, so its confidence is honest."""

import argparse
import json
import sys
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import numpy as np

from camserve.models.dataset import scan_image_folder, validation_indices
from camserve.models.evaluation.folder import evaluate_folder
from camserve.models.files import atomic_write
from camserve.models.metadata import load_metadata, metadata_path
from camserve.models.runtimes import RuntimeRequest, load_predictor
from camserve.service.settings import ModelSettings


def run(args: argparse.Namespace, settings: ModelSettings) -> int:
    from camserve.models.evaluation.calibration import (  # SciPy: train extra
        Calibration,
        fit_temperature,
        plot_reliability,
    )

    weights = args.weights or settings.weights_path
    metadata = load_metadata(weights)
    # The fp32 reference, at temperature 1: the network's own log-probabilities are what is fitted.
    predictor = load_predictor("torch", RuntimeRequest(weights, device="cpu", precision="fp32"))
    predictor.metadata = replace(metadata, temperature=1.0)
    sets = {"validation": (args.data, True)} | ({"full_resolution": (args.fullres, False)} if args.fullres else {})
    measured: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    try:
        for name, (root, split) in sets.items():
            folder = scan_image_folder(root, metadata.class_names)
            indices = validation_indices(folder, metadata.extra) if split else list(range(len(folder.files)))
            evaluation = evaluate_folder(predictor, folder, indices, settings.max_pixels)
            measured[name] = (np.log(np.clip(evaluation.probabilities, 1e-12, 1.0)), evaluation.labels)
    except (ValueError, FileNotFoundError) as error:
        print(f"camserve calibrate: error: {error}", file=sys.stderr)
        return 2

    temperature = round(fit_temperature(*measured["validation"]), 4)
    report: dict[str, Any] = {
        "weights": str(weights),
        "temperature": temperature,
        **{name: asdict(Calibration.measure(*data, temperature)) for name, data in measured.items()},
    }
    with atomic_write(metadata_path(weights)) as staged:
        staged.write_text(replace(metadata, temperature=temperature).to_json())
    plot = args.plot or weights.with_suffix(".reliability.png")
    plot_reliability(*measured["validation"], temperature, f"{metadata.name} {metadata.version}, validation", plot)
    print(json.dumps(report, indent=2) if args.json else _summary(report))
    print(f"wrote temperature {temperature} into {metadata_path(weights)}, and {plot}", file=sys.stderr)
    return 0


def _summary(report: dict[str, Any]) -> str:
    lines = [f"temperature {report['temperature']}"]
    for name in ("validation", "full_resolution"):
        if name in report:
            c = report[name]
            lines.append(
                f"{name}: {c['photos']} photos, log loss {c['log_loss_before']:.4f} -> {c['log_loss_after']:.4f}, "
                f"ECE {c['ece_before']:.2%} -> {c['ece_after']:.2%}"
            )
    return "\n".join(lines)


def add_parser(commands: Any) -> None:
    calibrate = commands.add_parser(
        "calibrate",
        help="fit the temperature that makes the checkpoint's confidence honest, and write it into its metadata",
        description="Temperature scaling on the checkpoint's validation photos (fp32, PyTorch): the fitted "
        "temperature goes into the checkpoint's JSON, which every runtime applies. Reports log loss and expected "
        "calibration error before and after, also on --fullres photos, and draws a reliability diagram.",
    )
    calibrate.add_argument("--data", type=Path, required=True, help="the training image folder (its val split)")
    calibrate.add_argument("--fullres", type=Path, help="full-resolution photos to report on too")
    calibrate.add_argument("--weights", type=Path, help="checkpoint (default: CAMSERVE_WEIGHTS_PATH)")
    calibrate.add_argument("--plot", type=Path, help="reliability diagram PNG (default: beside the weights)")
    calibrate.add_argument("--json", action="store_true", help="print the report as JSON")
    calibrate.set_defaults(handler=run)

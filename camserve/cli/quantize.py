"""``camserve quantize``: the int8 graph for the weights, calibrated on training photos, and the accuracy gate
that decides whether int8 (and, where this CPU runs it natively, bf16) may be served."""

import argparse
import contextlib
import json
import logging
import random
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

from camserve.cli.arguments import at_least, proportion
from camserve.models.dataset import ImageFolder, recorded_split, scan_image_folder, validation_indices
from camserve.models.evaluation.gate import (
    GATE,
    GateFigures,
    GateRecord,
    gate_record_path,
    int8_files,
)
from camserve.models.files import file_sha256
from camserve.models.graphs.export import cached_onnx_export
from camserve.models.inference.predictor import Predictor
from camserve.models.metadata import load_metadata
from camserve.models.runtimes import RuntimeRequest, load_predictor
from camserve.models.selection.hardware import cpu_model_name, precision_flags, usable_cores
from camserve.service.settings import ModelSettings

PhotoSets = dict[str, tuple[ImageFolder, list[int]]]


def run(args: argparse.Namespace, settings: ModelSettings) -> int:
    # NNCF and OpenVINO load here only: serving int8 needs neither NNCF nor this command.
    import openvino

    from camserve.models.evaluation.gate import compare
    from camserve.models.graphs.quantize import (
        control_photos,
        draw_training_photos,
        model_inputs,
        predictions_on,
        quantize_int8,
        save_int8,
    )
    from camserve.models.runtimes.openvino import OpenVinoPredictor, compile_for_cpu, native_bf16

    weights = args.weights or settings.weights_path
    metadata = load_metadata(weights)
    try:
        folder = scan_image_folder(args.data, metadata.class_names)
        photo_sets: PhotoSets = {"validation": (folder, validation_indices(folder, metadata.extra))}
        if args.fullres:
            fullres = scan_image_folder(args.fullres, metadata.class_names)
            photo_sets["full_resolution"] = (fullres, list(range(len(fullres.files))))
    except (ValueError, FileNotFoundError) as error:
        print(f"camserve quantize: error: {error}", file=sys.stderr)
        return 2
    if args.limit:
        photo_sets = {name: (f, _sample(indices, args.limit, args.seed)) for name, (f, indices) in photo_sets.items()}

    train, _ = recorded_split(metadata.extra).indices(folder)
    onnx_path = cached_onnx_export(weights, settings.onnx_cache_dir)
    reference = load_predictor("torch", RuntimeRequest(weights, device="cpu", precision="fp32"))
    calibration, control = draw_training_photos(train, args.calibration_photos, args.control_photos, args.seed)
    inputs = model_inputs(folder, calibration, metadata, settings.max_pixels)
    controls = control_photos(reference, model_inputs(folder, control, metadata, settings.max_pixels))
    files = int8_files(weights)
    with contextlib.redirect_stdout(sys.stderr), _nncf_logs_to_stderr():  # stdout is for the report
        save_int8(quantize_int8(onnx_path, inputs, metadata, controls, args.max_control_drop), files)

    core = openvino.Core()
    candidates: dict[str, Predictor] = {
        "openvino:int8": OpenVinoPredictor(compile_for_cpu(core, files.xml, "int8", usable_cores()), metadata, "int8")
    }
    if native_bf16(core):
        bf16 = compile_for_cpu(core, onnx_path, "bf16", usable_cores())
        candidates["openvino:bf16"] = OpenVinoPredictor(bf16, metadata, "bf16")

    results: dict[str, dict[str, GateFigures]] = {name: {} for name in candidates}
    for set_name, (photos, indices) in photo_sets.items():
        fp32, *others = predictions_on([reference, *candidates.values()], photos, indices, settings.max_pixels)
        labels = [photos.labels[i] for i in indices]
        for name, predictions in zip(candidates, others, strict=True):
            results[name][set_name] = compare(fp32, predictions, labels)

    record = GateRecord(
        file_sha256(weights),
        results,
        artifacts={"openvino:int8": files.sha256()},
        measured=_how_measured(args, len(inputs), len(controls), photo_sets),
    )
    record.write(gate_record_path(weights))
    print(json.dumps(record.results, default=vars, indent=2) if args.json else _table(record))
    print(f"wrote {files.xml}, {files.bin.name} and {gate_record_path(weights).name}", file=sys.stderr)
    return 0 if record.passed("openvino", "int8") else 1


@contextlib.contextmanager
def _nncf_logs_to_stderr() -> Iterator[None]:
    """NNCF's logger writes to the stdout it found at import, which redirecting sys.stdout cannot reach; its
    accuracy control logs every step there, which would corrupt ``--json``. Its handlers step aside for one
    on stderr while quantising."""
    logger = logging.getLogger("nncf")
    own = logger.handlers[:]
    to_stderr = logging.StreamHandler(sys.stderr)
    to_stderr.setFormatter(logging.Formatter("%(levelname)s:%(name)s:%(message)s"))
    for handler in own:
        logger.removeHandler(handler)
    logger.addHandler(to_stderr)
    try:
        yield
    finally:
        logger.removeHandler(to_stderr)
        for handler in own:
            logger.addHandler(handler)


def _sample(indices: list[int], limit: int, seed: int) -> list[int]:
    return sorted(random.Random(seed).sample(indices, min(limit, len(indices))))


def _how_measured(
    args: argparse.Namespace, calibration_photos: int, control_photos: int, photo_sets: PhotoSets
) -> dict[str, Any]:
    """What the record was measured with; folder names, not machine paths."""
    return {
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "reference": "torch:fp32",
        "calibration": {"photos": calibration_photos, "from": "training split", "seed": args.seed},
        "accuracy_control": {
            "photos": control_photos,
            "from": "training split, apart from the calibration photos",
            "measure": "same label and peak kept, against torch:fp32",
            "max_drop": args.max_control_drop if control_photos else None,
        },
        "photo_sets": {name: {"folder": f.root.name, "photos": len(i)} for name, (f, i) in photo_sets.items()},
        "machine": {"cpu": cpu_model_name(), "cpu_flags": precision_flags()},
        "libraries": {name: version(name) for name in ("openvino", "nncf", "torch")},
        "thresholds": vars(GATE),
    }


def _table(record: GateRecord) -> str:
    header = (
        f"{'candidate':<15}{'photos':<17}{'n':>6}{'labels':>9}{'acc':>8}{'fp32':>8}"
        f"{'pearson':>9}{'|diff|':>8}{'peak':>8}  verdict"
    )
    lines = [header]
    for name, sets in record.results.items():
        for set_name, f in sets.items():
            verdict = "pass" if f.passed else "FAIL: " + "; ".join(f.failures)
            lines.append(
                f"{name:<15}{set_name:<17}{f.photos:>6}{f.label_agreement:>9.2%}{f.accuracy:>8.2%}"
                f"{f.accuracy_fp32:>8.2%}{f.mean_cam_pearson:>9.4f}{f.mean_abs_map_difference:>8.4f}"
                f"{f.peak_share:>8.2%}  {verdict}"
            )
    return "\n".join(lines)


def add_parser(commands: Any) -> None:
    quantize = commands.add_parser(
        "quantize",
        help="make the int8 graph for the weights and run the accuracy gate that allows serving it",
        description="Calibrates int8 (NNCF) on training photos, writes weights/<name>.int8.xml/.bin, compares "
        "int8 and bf16 with fp32 on the validation split (and full-resolution photos with --fullres) and "
        "records the figures in weights/<name>.gate.json. Exit status 1 when int8 fails the gate.",
    )
    quantize.add_argument("--data", type=Path, required=True, help="the training image folder")
    quantize.add_argument("--fullres", type=Path, help="full-resolution photos (bench/fullres_photos.py makes them)")
    quantize.add_argument("--weights", type=Path, help="checkpoint to quantise (default: CAMSERVE_WEIGHTS_PATH)")
    quantize.add_argument("--calibration-photos", type=at_least(1), default=300, help="training photos (300)")
    quantize.add_argument(
        "--control-photos",
        type=at_least(0),
        default=1000,
        help="training photos NNCF's accuracy control scores int8 on, to keep in float the operations that "
        "move labels or heatmap peaks (1000; 0 quantises everything)",
    )
    quantize.add_argument(
        "--max-control-drop",
        type=proportion,
        default=0.005,
        help="the share of control photos int8 may change (label or peak) before operations return to float (0.005)",
    )
    quantize.add_argument("--limit", type=at_least(1), help="gate on a random sample of this many photos per set")
    quantize.add_argument("--seed", type=int, default=0, help="which photos calibrate and --limit samples")
    quantize.add_argument("--json", action="store_true", help="print the gate's figures as JSON")
    quantize.set_defaults(handler=run)

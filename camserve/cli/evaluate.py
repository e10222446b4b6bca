"""``camserve evaluate``: accuracy, per-class precision and recall, confusion matrix and log loss on a folder."""

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from camserve.cli.arguments import at_least, map_kinds
from camserve.models.dataset import ImageFolder, scan_image_folder
from camserve.models.evaluation.folder import evaluate_folder
from camserve.models.evaluation.localization_kinds import KINDS as LOCALIZATION_KINDS
from camserve.models.evaluation.photo_sets import photo_indices, sample
from camserve.models.evaluation.zoom_effect import format_zoom_effect, zoom_effect
from camserve.models.inference.predictor import Predictor
from camserve.models.inference.zoom import ZOOM_RULE
from camserve.models.runtimes import load_predictor
from camserve.service.settings import ModelSettings


def run(args: argparse.Namespace, settings: ModelSettings) -> int:
    if args.zoom and (args.tta or args.maps):
        print("camserve evaluate: error: --zoom is scored on its own, not with --tta or --maps", file=sys.stderr)
        return 2
    if args.localization and (args.tta or args.maps or args.zoom):
        print("camserve evaluate: error: --localization is scored on its own", file=sys.stderr)
        return 2
    if args.weights:
        settings = settings.model_copy(update={"weights_path": args.weights})
    predictor = load_predictor(settings.backend, settings.runtime_request())
    try:
        if args.input_size:
            predictor.metadata = replace(predictor.metadata, input_size=args.input_size)
        if args.localization:
            return _localization(args, settings, predictor)
        folder = scan_image_folder(args.data, predictor.metadata.class_names)
        validation = args.split == "val"
        indices = sample(photo_indices(folder, predictor.metadata, validation), args.limit, args.seed)
        if args.maps:
            return _maps(args, settings, predictor, folder, indices)
        zoom = ZOOM_RULE if args.zoom else None
        evaluation = evaluate_folder(predictor, folder, indices, settings.max_pixels, args.tta, args.batch_size, zoom)
    except (ValueError, FileNotFoundError) as error:
        print(f"camserve evaluate: error: {error}", file=sys.stderr)
        return 2
    summary = {
        "weights": str(settings.weights_path),
        "data": str(args.data),
        "split": args.split,
        "tta": args.tta,
        "zoom": args.zoom,
        "input_size": predictor.metadata.input_size,
        "precision": predictor.precision,
        **evaluation.report.to_dict(),
        **({"zoom_effect": zoom_effect(evaluation, ZOOM_RULE)} if args.zoom else {}),
        "unreadable": [{"photo": name, "error": reason} for name, reason in evaluation.failures],
    }
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(
            f"{args.data} ({args.split}, tta {'on' if args.tta else 'off'}, zoom {'on' if args.zoom else 'off'}, "
            f"{predictor.precision}, {predictor.metadata.input_size} px)"
        )
        print(evaluation.report.format())
        if args.zoom:
            print(format_zoom_effect(summary["zoom_effect"]))
        for name, reason in evaluation.failures:
            print(f"unreadable: {name}: {reason}", file=sys.stderr)
    return 1 if evaluation.failures else 0


def _maps(
    args: argparse.Namespace, settings: ModelSettings, predictor: Predictor, folder: ImageFolder, indices: list[int]
) -> int:
    """``--maps``: how faithful the heatmaps are (camserve.models.evaluation.faithfulness); torch loads only here."""
    from camserve.models.checkpoint import load_checkpoint
    from camserve.models.evaluation.faithfulness import evaluate_maps, format_report, plot_curves
    from camserve.models.network import CamNetwork

    network, metadata = load_checkpoint(settings.weights_path)
    if not isinstance(network, CamNetwork):
        raise ValueError(f"--maps scores body + class-map networks; {metadata.architecture} has another head")
    report = evaluate_maps(predictor, network, folder, indices, settings.max_pixels, args.sanity_photos)
    report = {"weights": str(settings.weights_path), "data": str(args.data), "split": args.split, **report}
    args.maps_output.mkdir(parents=True, exist_ok=True)
    (args.maps_output / "faithfulness.json").write_text(json.dumps(report, indent=2) + "\n")
    plot_curves(report, args.maps_output / "faithfulness.png")
    print(json.dumps(report, indent=2) if args.json else format_report(report))
    print(f"wrote {args.maps_output / 'faithfulness.json'} and faithfulness.png", file=sys.stderr)
    return 0


def _localization(args: argparse.Namespace, settings: ModelSettings, predictor: Predictor) -> int:
    """``--localization``: do the maps find the animal (camserve.models.evaluation.localization)."""
    from camserve.models.evaluation.localization import format_report
    from camserve.models.evaluation.localization_benchmark import REPORT, SHEET, TABLE, run_benchmark

    annotations = args.annotations or args.data / "annotations.json"
    output, weights = args.localization_output, settings.weights_path
    summary = run_benchmark(predictor, weights, args.data, annotations, args.kinds, settings.max_pixels, output)
    if args.json:
        print(json.dumps({key: value for key, value in summary.items() if key != "per_photo"}, indent=2))
    else:
        print(format_report(summary))
    print(f"wrote {output / REPORT}, {TABLE} and {SHEET}", file=sys.stderr)
    return 0


def add_parser(commands: Any) -> None:
    evaluate = commands.add_parser(
        "evaluate",
        help="accuracy, per-class precision/recall, confusion matrix and log loss on a folder of photos",
        description="Photos go through the service's own decoding and preprocessing. Weights, runtime, device and "
        "precision follow CAMSERVE_WEIGHTS_PATH, CAMSERVE_BACKEND, CAMSERVE_DEVICE and CAMSERVE_PRECISION.",
    )
    evaluate.add_argument("--data", type=Path, required=True, help="image folder, one sub-folder per class")
    evaluate.add_argument(
        "--split", choices=["all", "val"], default="all", help="val: only the checkpoint's validation photos"
    )
    evaluate.add_argument("--tta", action="store_true", help="average over flips and a centre crop (4 views)")
    evaluate.add_argument(
        "--zoom",
        action="store_true",
        help="the served CAM-guided zoom: look again at the hot region of photos whose map is concentrated, and "
        "report the scores with it, without it, and how many photos it zoomed (not with --tta or --maps)",
    )
    evaluate.add_argument("--weights", type=Path, help="checkpoint to evaluate (default: CAMSERVE_WEIGHTS_PATH)")
    evaluate.add_argument("--input-size", type=int, help="override the checkpoint's input size (to compare sizes)")
    evaluate.add_argument("--batch-size", type=at_least(1), default=32)
    evaluate.add_argument("--json", action="store_true", help="print the report as JSON")
    evaluate.add_argument("--limit", type=at_least(1), help="a random sample of this many photos (seeded)")
    evaluate.add_argument("--seed", type=int, default=0, help="the sample's seed")
    evaluate.add_argument(
        "--maps",
        action="store_true",
        help="score the heatmaps instead: deletion and insertion curves, average drop and increase, a sanity "
        "check, for CAM, Grad-CAM, Grad-CAM++, the contrastive and squared CAM and two baselines "
        "(needs the train extra)",
    )
    evaluate.add_argument(
        "--maps-output", type=Path, default=Path("runs/faithfulness"), help="where --maps writes its JSON and PNG"
    )
    evaluate.add_argument(
        "--sanity-photos", type=at_least(1), default=16, help="photos in --maps's weight-randomisation check"
    )
    evaluate.add_argument(
        "--localization",
        action="store_true",
        help="do the heatmaps find the animal: pointing, head pointing, energy and IoU of each map kind on "
        "photos annotated with outlines and head boxes, with paired bootstrap intervals and a sheet of misses",
    )
    evaluate.add_argument(
        "--annotations", type=Path, help="--localization's annotations (default: DATA/annotations.json)"
    )
    evaluate.add_argument(
        "--kinds",
        type=map_kinds,
        default=list(LOCALIZATION_KINDS),
        help="comma-separated map kinds for --localization (default all: " + ",".join(LOCALIZATION_KINDS) + ")",
    )
    evaluate.add_argument(
        "--localization-output",
        type=Path,
        default=Path("runs/localization"),
        help="where --localization writes its JSON, text table and contact sheet",
    )
    evaluate.set_defaults(handler=run)

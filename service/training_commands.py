"""``camserve train`` and ``camserve evaluate``: the command-line face of models/training and service/evaluation.

Defaults come from ``TrainConfig``, so the command line, the Makefile recipe and the code agree.
"""

import argparse
import json
import sys
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

import torch

from models.dataset import scan_image_folder, validation_indices
from models.training.init import IMAGENET, SCRATCH, InitUnavailable
from models.training.trainer import TEACHER_EFFNET, TEACHER_NONE, TrainConfig, Trainer
from service.app import load_predictor
from service.evaluation import evaluate_folder
from service.settings import Settings

DEFAULTS: dict[str, Any] = {f.name: f.default for f in fields(TrainConfig) if not callable(f.default_factory)}


def _train(args: argparse.Namespace, settings: Settings) -> int:
    freeze = args.freeze_epochs if args.freeze_epochs is not None else (1 if args.init == IMAGENET else 0)
    try:
        config = TrainConfig(
            data=str(args.data.resolve()),
            run_dir=str(args.run_dir),
            init=args.init,
            teacher=args.teacher,
            sizes=tuple(args.sizes),
            input_size=args.input_size,
            cache_size=args.cache_size,
            batch_size=args.batch_size,
            max_lr=args.max_lr,
            freeze_epochs=freeze,
            val_fraction=args.val_fraction,
            seed=args.seed,
            device=settings.device,
            precision=settings.precision,
        )
        if args.threads:
            torch.set_num_threads(args.threads)
        best = Trainer(config, args.cache_dir).run()
    except (InitUnavailable, ValueError, FileNotFoundError) as error:
        print(f"camserve train: error: {error}", file=sys.stderr)
        return 2
    print(f"best checkpoint: {best} (serve it with CAMSERVE_WEIGHTS_PATH={best})")
    return 0


def _evaluate(args: argparse.Namespace, settings: Settings) -> int:
    if args.weights:
        settings = settings.model_copy(update={"weights_path": args.weights})
    predictor = load_predictor(settings)
    try:
        if args.input_size:
            predictor.metadata = replace(predictor.metadata, input_size=args.input_size)
        folder = scan_image_folder(args.data, predictor.metadata.class_names)
        indices = list(range(len(folder.files)))
        if args.split == "val":
            indices = validation_indices(folder, predictor.metadata.extra)
        evaluation = evaluate_folder(predictor, folder, indices, settings.max_pixels, args.tta, args.batch_size)
    except (ValueError, FileNotFoundError) as error:
        print(f"camserve evaluate: error: {error}", file=sys.stderr)
        return 2
    summary = {
        "weights": str(settings.weights_path),
        "data": str(args.data),
        "split": args.split,
        "tta": args.tta,
        "input_size": predictor.metadata.input_size,
        "precision": predictor.precision,
        **evaluation.report.to_dict(),
        "unreadable": [{"photo": name, "error": error} for name, error in evaluation.failures],
    }
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(
            f"{args.data} ({args.split}, tta {'on' if args.tta else 'off'}, {predictor.precision}, "
            f"{predictor.metadata.input_size} px)"
        )
        print(evaluation.report.format())
        for name, error in evaluation.failures:
            print(f"unreadable: {name}: {error}", file=sys.stderr)
    return 1 if evaluation.failures else 0


def _sizes(text: str) -> list[int]:
    try:
        sizes = [int(part) for part in text.split(",")]
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"expected comma-separated sizes like 64,96,128, got {text!r}") from error
    if not sizes or min(sizes) < 32:
        raise argparse.ArgumentTypeError("each size must be at least 32 pixels")
    return sizes


def _at_least(minimum: int) -> Any:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError as error:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from error
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
        return value

    return parse


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from error
    if not 0.0 < value < 1.0:
        raise argparse.ArgumentTypeError(f"must lie strictly between 0 and 1, got {value}")
    return value


def add_training_commands(commands: Any) -> None:
    """Add ``train`` and ``evaluate`` to the ``camserve`` sub-command parser."""
    train = commands.add_parser(
        "train",
        help="train a CAM network on an image folder (resumable: rerun the same command after a kill)",
        description="Train on DATA/<class>/*.jpg. Device and precision follow CAMSERVE_DEVICE and CAMSERVE_PRECISION.",
    )
    train.add_argument("--data", type=Path, required=True, help="image folder, one sub-folder per class")
    train.add_argument("--run-dir", type=Path, default=Path("runs/resnet34"), help="state, log, plot, best checkpoint")
    train.add_argument("--cache-dir", type=Path, default=Path("runs/cache"), help="decoded photos, teacher outputs")
    train.add_argument(
        "--init",
        default=SCRATCH,
        help=f"{SCRATCH}, {IMAGENET} (needs internet), or a camserve checkpoint",
    )
    train.add_argument("--teacher", default=DEFAULTS["teacher"], choices=[TEACHER_EFFNET, TEACHER_NONE])
    sizes = ",".join(map(str, DEFAULTS["sizes"]))
    train.add_argument(
        "--sizes", type=_sizes, default=list(DEFAULTS["sizes"]), help=f"training size per epoch (default {sizes})"
    )
    train.add_argument(
        "--input-size", type=_at_least(32), default=DEFAULTS["input_size"], help="serving size; validation uses it"
    )
    train.add_argument(
        "--cache-size",
        type=_at_least(32),
        default=DEFAULTS["cache_size"],
        help="photos are decoded once at this size; training crops are cut from it",
    )
    train.add_argument("--batch-size", type=_at_least(1), default=DEFAULTS["batch_size"])
    train.add_argument("--max-lr", type=float, default=DEFAULTS["max_lr"], help="one-cycle peak (SGD, Nesterov)")
    train.add_argument(
        "--freeze-epochs", type=_at_least(0), help="epochs with the body frozen (default: 1 for imagenet, else 0)"
    )
    train.add_argument("--val-fraction", type=_fraction, default=DEFAULTS["val_fraction"])
    train.add_argument("--seed", type=int, default=DEFAULTS["seed"])
    train.add_argument("--threads", type=_at_least(1), help="torch threads (default: all cores)")
    train.set_defaults(handler=_train)

    evaluate = commands.add_parser(
        "evaluate",
        help="accuracy, per-class precision/recall, confusion matrix and log loss on a folder of photos",
        description="Photos go through the service's own decoding and preprocessing. Weights, device and precision "
        "follow CAMSERVE_WEIGHTS_PATH, CAMSERVE_DEVICE and CAMSERVE_PRECISION.",
    )
    evaluate.add_argument("--data", type=Path, required=True, help="image folder, one sub-folder per class")
    evaluate.add_argument(
        "--split", choices=["all", "val"], default="all", help="val: only the checkpoint's validation photos"
    )
    evaluate.add_argument("--tta", action="store_true", help="average over flips and a centre crop (4 views)")
    evaluate.add_argument("--weights", type=Path, help="checkpoint to evaluate (default: CAMSERVE_WEIGHTS_PATH)")
    evaluate.add_argument("--input-size", type=int, help="override the checkpoint's input size (to compare sizes)")
    evaluate.add_argument("--batch-size", type=_at_least(1), default=32)
    evaluate.add_argument("--json", action="store_true", help="print the report as JSON")
    evaluate.set_defaults(handler=_evaluate)

"""``camserve cifar``: the lesson's CIFAR-10 half. ``train`` one network with its notebook recipe (resumable),
``evaluate`` a checkpoint on the test set (with ``--tta``, the lesson's TTA), ``table`` the whole ablation.

Device and precision follow CAMSERVE_DEVICE and CAMSERVE_PRECISION. torch is imported only when a command runs.
"""

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from camserve.cli.arguments import at_least
from camserve.service.settings import ModelSettings

ARCHIVE = Path("../shared/data/cifar10/cifar10-jpeg.tar.gz")


def _config(args: argparse.Namespace, settings: ModelSettings, architecture: str, run_dir: Path) -> Any:
    from camserve.models.cifar.trainer import CifarConfig

    return CifarConfig(
        archive=str(args.archive.resolve()),
        run_dir=str(run_dir),
        architecture=architecture,
        epoch_fraction=args.epoch_fraction,
        test_limit=args.test_limit,
        seed=args.seed,
        model_version=args.model_version,
        device=settings.device,
        precision=settings.precision,
    )


def _threads(args: argparse.Namespace) -> None:
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)


def train(args: argparse.Namespace, settings: ModelSettings) -> int:
    from camserve.models.cifar.trainer import FINAL_FILE, CifarTrainer

    try:
        _threads(args)
        run_dir = args.run_dir or Path("runs/cifar10") / args.network
        result = CifarTrainer(_config(args, settings, args.network, run_dir), args.cache_dir).run()
    except (ValueError, FileNotFoundError) as error:
        print(f"camserve cifar train: error: {error}", file=sys.stderr)
        return 2
    print(json.dumps(result, indent=2))
    print(f"checkpoint: {run_dir / FINAL_FILE} (serve it with CAMSERVE_WEIGHTS_PATH={run_dir / FINAL_FILE})")
    return 0


def table(args: argparse.Namespace, settings: ModelSettings) -> int:
    from camserve.models.cifar.ablation import ALL_NETWORKS, TABLE_MARKDOWN, run_table

    networks = args.networks.split(",") if args.networks else list(ALL_NETWORKS)
    try:
        _threads(args)
        template = _config(args, settings, networks[0], args.out)
        run_table(template, args.out, args.cache_dir, networks)
    except (ValueError, FileNotFoundError) as error:
        print(f"camserve cifar table: error: {error}", file=sys.stderr)
        return 2
    print((args.out / TABLE_MARKDOWN).read_text(), end="")
    return 0


def evaluate(args: argparse.Namespace, settings: ModelSettings) -> int:
    import torch

    from camserve.models.checkpoint import load_checkpoint
    from camserve.models.cifar.archive import load_cifar
    from camserve.models.cifar.evaluation import limited_test_indices, score
    from camserve.models.selection.devices import inference_step, resolve_device, resolve_precision

    try:
        _threads(args)
        network, metadata = load_checkpoint(args.weights)
        data = load_cifar(args.archive, args.cache_dir)
        if data.class_names != metadata.class_names:
            raise ValueError(
                f"{args.weights} is for {list(metadata.class_names)}, the archive has {list(data.class_names)}"
            )
        device = resolve_device(settings.device)
        network = network.to(device)
        side = metadata.input_size
        batch = torch.rand(256, 3, side, side, device=device)
        precision = resolve_precision(settings.precision, device, inference_step(network, batch))
        index = limited_test_indices(len(data.test_labels), args.test_limit, seed=0)  # the trainer's sample, seed 0
        images, labels = data.test_images[index], data.test_labels[index]
        scores = score(network, torch.from_numpy(images).to(device), labels, metadata, precision, args.tta)
    except (ValueError, FileNotFoundError) as error:
        print(f"camserve cifar evaluate: error: {error}", file=sys.stderr)
        return 2
    report = {"weights": str(args.weights), "tta": args.tta, "test_images": len(labels), "precision": precision}
    report |= {"accuracy": scores.accuracy, "log_loss": scores.log_loss}
    print(
        json.dumps(report, indent=2) if args.json else f"accuracy {scores.accuracy:.4f}, log loss {scores.log_loss:.4f}"
    )
    return 0


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--archive", type=Path, default=ARCHIVE, help="the CIFAR-10 tar.gz (train/ and test/ folders)")
    parser.add_argument(
        "--cache-dir", type=Path, default=Path("runs/cache"), help="where the decoded archive is packed"
    )
    parser.add_argument("--test-limit", type=at_least(1), help="score on this many test images (default: all)")
    parser.add_argument("--threads", type=at_least(1), help="torch threads (default: all cores)")


def _training(parser: argparse.ArgumentParser) -> None:
    _common(parser)
    parser.add_argument(
        "--epoch-fraction",
        type=float,
        default=1.0,
        help="each epoch takes this fraction of the training batches (a smoke run keeps the recipe's shape)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--model-version", default="0.0.0-dev", help="the version written into the checkpoint")


def add_parser(commands: Any) -> None:
    from camserve.models.cifar.recipes import RECIPES

    cifar = commands.add_parser("cifar", help="the lesson's CIFAR-10 networks: train, evaluate, ablation table")
    actions = cifar.add_subparsers(dest="cifar_command", required=True)
    train_parser = actions.add_parser("train", help="train one lesson network with its recipe (resumable)")
    _training(train_parser)
    train_parser.add_argument("--network", choices=sorted(RECIPES), default="lesson7-resnet2")
    train_parser.add_argument("--run-dir", type=Path, help="default: runs/cifar10/NETWORK")
    train_parser.set_defaults(handler=train)
    table_parser = actions.add_parser("table", help="train and score every lesson network: the ablation table")
    _training(table_parser)
    table_parser.add_argument("--networks", help="comma-separated subset (default: all six, in the lesson's order)")
    table_parser.add_argument(
        "--out", type=Path, default=Path("runs/cifar10"), help="one run per network, and the table"
    )
    table_parser.set_defaults(handler=table)
    evaluate_parser = actions.add_parser("evaluate", help="score a checkpoint on the test set")
    _common(evaluate_parser)
    evaluate_parser.add_argument("--weights", type=Path, required=True, help="a checkpoint of a lesson network")
    evaluate_parser.add_argument("--tta", action="store_true", help="the lesson's TTA: plain + 4 pad-crop-flip views")
    evaluate_parser.add_argument("--json", action="store_true")
    evaluate_parser.set_defaults(handler=evaluate)

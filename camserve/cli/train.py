"""``camserve train``: the command-line face of ``camserve.models.training``.

Options left out take ``TrainConfig``'s defaults, so the command line, the Makefile recipes and the code agree.
torch is imported only when training runs: ``camserve serve`` on a torch-free runtime must not load it.
"""

import argparse
import sys
from pathlib import Path
from typing import Any

from camserve.cli.arguments import at_least, fraction, proportion, sizes
from camserve.service.settings import ModelSettings

# Options whose value, when given, goes to TrainConfig under the same name.
CONFIG_OPTIONS = (
    "model_version",
    "init",
    "teacher",
    "architecture",
    "sizes",
    "input_size",
    "cache_size",
    "batch_size",
    "max_lr",
    "freeze_epochs",
    "val_fraction",
    "seed",
)
# Options for the Regularisation inside TrainConfig, same names; each off (0) unless given.
REGULARISATION_OPTIONS = ("mixup_alpha", "cutmix_alpha", "ema_decay", "stochastic_depth")


def run(args: argparse.Namespace, settings: ModelSettings) -> int:
    import torch

    from camserve.models.training.distill import LossWeights
    from camserve.models.training.init import IMAGENET, InitUnavailable
    from camserve.models.training.regularise import Regularisation
    from camserve.models.training.trainer import TrainConfig, Trainer

    given = {name: getattr(args, name) for name in CONFIG_OPTIONS if getattr(args, name) is not None}
    if "sizes" in given:
        given["sizes"] = tuple(given["sizes"])
    if args.label_smoothing is not None:
        given["loss"] = LossWeights(label_smoothing=args.label_smoothing)
    regularisers = {name: getattr(args, name) for name in REGULARISATION_OPTIONS if getattr(args, name) is not None}
    given.setdefault("freeze_epochs", 1 if args.init == IMAGENET else 0)
    try:
        given["regularisation"] = Regularisation(**regularisers)
        config = TrainConfig(
            data=str(args.data.resolve()),
            run_dir=str(args.run_dir),
            device=settings.device,
            precision=settings.precision,
            **given,
        )
        if args.threads:
            torch.set_num_threads(args.threads)
        best = Trainer(config, args.cache_dir).run()
    except (InitUnavailable, ValueError, FileNotFoundError) as error:
        print(f"camserve train: error: {error}", file=sys.stderr)
        return 2
    print(f"best checkpoint: {best} (serve it with CAMSERVE_WEIGHTS_PATH={best})")
    return 0


def add_parser(commands: Any) -> None:
    train = commands.add_parser(
        "train",
        help="train a CAM network on an image folder (resumable: rerun the same command after a kill)",
        description="Train on DATA/<class>/*.jpg. Device and precision follow CAMSERVE_DEVICE and CAMSERVE_PRECISION. "
        "Options not given take the recipe's defaults (TrainConfig in camserve/models/training/trainer.py).",
    )
    train.add_argument("--data", type=Path, required=True, help="image folder, one sub-folder per class")
    train.add_argument("--run-dir", type=Path, default=Path("runs/resnet34"), help="state, log, plot, best checkpoint")
    train.add_argument("--cache-dir", type=Path, default=Path("runs/cache"), help="decoded photos, teacher outputs")
    train.add_argument(
        "--model-version", help="the version written into the checkpoint: the release number, for one to ship"
    )
    train.add_argument("--init", help="scratch (default), imagenet (needs internet), or a camserve checkpoint")
    train.add_argument("--teacher", help="efficientnet-lite0 (default) or none")
    train.add_argument("--architecture", help="a registered network body (default resnet34)")
    train.add_argument("--sizes", type=sizes, help="training size per epoch, comma-separated")
    train.add_argument("--input-size", type=at_least(32), help="serving size; validation uses it")
    train.add_argument(
        "--cache-size", type=at_least(32), help="photos are decoded once at this size; training crops are cut from it"
    )
    train.add_argument("--batch-size", type=at_least(1))
    train.add_argument("--max-lr", type=float, help="one-cycle peak (SGD, Nesterov)")
    train.add_argument(
        "--freeze-epochs", type=at_least(0), help="epochs with the body frozen (default: 1 for imagenet, else 0)"
    )
    train.add_argument("--val-fraction", type=fraction)
    train.add_argument("--seed", type=int)
    train.add_argument("--label-smoothing", type=proportion, help="of the hard-label loss (default 0.1)")
    train.add_argument("--mixup-alpha", type=float, help="mixup's Beta(alpha, alpha); 0 (default) is off")
    train.add_argument("--cutmix-alpha", type=float, help="CutMix's Beta(alpha, alpha); 0 (default) is off")
    train.add_argument(
        "--ema-decay", type=proportion, help="validate and save a moving average of the weights (e.g. 0.999); 0 is off"
    )
    train.add_argument(
        "--stochastic-depth", type=proportion, help="drop probability of the last residual block (e.g. 0.1); 0 is off"
    )
    train.add_argument("--threads", type=at_least(1), help="torch threads (default: all cores)")
    train.set_defaults(handler=run)

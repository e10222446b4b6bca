"""``camserve finetune-os16``: fine-tune the dilated-last-stage network from a stride-32 checkpoint, on a CPU."""

import argparse
import sys
from pathlib import Path
from typing import Any

from camserve.cli.arguments import at_least
from camserve.service.settings import ModelSettings


def run(args: argparse.Namespace, settings: ModelSettings) -> int:
    import torch

    from camserve.models.training.finetune_dilated import DilatedFinetune, FinetuneConfig

    if args.threads:
        torch.set_num_threads(args.threads)
    config = FinetuneConfig(
        data=str(args.data),
        weights=str(args.weights or settings.weights_path),
        run_dir=str(args.run_dir),
        train_photos=args.train_photos,
        monitor_photos=args.monitor_photos,
        epochs=args.epochs,
        epoch_photos=args.epoch_photos,
        batch_size=args.batch_size,
        lr=args.lr,
    )
    try:
        checkpoint = DilatedFinetune(config).run()
    except (ValueError, FileNotFoundError) as error:
        print(f"camserve finetune-os16: error: {error}", file=sys.stderr)
        return 2
    print(f"wrote {checkpoint}", file=sys.stderr)
    return 0


def add_parser(commands: Any) -> None:
    finetune = commands.add_parser(
        "finetune-os16",
        help="fine-tune resnet34-os16 (9x9 maps at 144 px) from a resnet34 checkpoint, on cached layer3 features",
        description="Starts from the checkpoint's weights in the dilated network, computes conv1..layer3 once per "
        "photo (a seeded sample of the checkpoint's own training split; a sample of its validation split is "
        "checked each epoch) and trains layer4 and the head. Resumable: rerun the same command.",
    )
    finetune.add_argument("--data", type=Path, required=True, help="the image folder the checkpoint's split is of")
    finetune.add_argument("--weights", type=Path, help="starting checkpoint (default: CAMSERVE_WEIGHTS_PATH)")
    finetune.add_argument("--run-dir", type=Path, required=True, help="features, state, log and the checkpoint")
    finetune.add_argument("--train-photos", type=at_least(0), default=7000, help="0: every training photo")
    finetune.add_argument("--monitor-photos", type=at_least(1), default=500)
    finetune.add_argument("--epochs", type=at_least(1), default=2)
    finetune.add_argument("--epoch-photos", type=at_least(0), default=0, help="per epoch, drawn anew (0: all)")
    finetune.add_argument("--batch-size", type=at_least(2), default=32)
    finetune.add_argument("--lr", type=float, default=2e-4, help="AdamW's peak learning rate (cosine decay)")
    finetune.add_argument("--threads", type=at_least(1), help="torch's threads (default: torch's own choice)")
    finetune.set_defaults(handler=run)

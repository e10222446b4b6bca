"""How long one epoch of each lesson CIFAR-10 network takes here, to plan a full run (docs/cifar10.md).

Times ``--batches`` training steps of 256 (augmentation, forward, backward, SGD: the trainer's own ``step``)
after two warm-up steps, and the plain scoring of 1,000 test images; then extrapolates to an epoch as the
trainer runs it (195 steps and the 10,000 test images) and to the network's whole recipe. An extrapolation,
not a measured epoch: say so wherever the figures are quoted.

Run from the repository root, in the project's venv::

    python -m bench.cifar_epoch --batches 20
    CAMSERVE_DEVICE=cuda python -m bench.cifar_epoch --batches 100

Prints a table and writes bench/results/cifar_epoch.json.
"""

import argparse
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import torch

from bench.lib.paths import RESULTS_DIR
from camserve.models.cifar.ablation import ALL_NETWORKS
from camserve.models.cifar.evaluation import score
from camserve.models.cifar.recipes import RECIPES
from camserve.models.cifar.trainer import CifarConfig, CifarTrainer
from camserve.models.evaluation.measurement import load_average_1m, machine_facts, write_results
from camserve.service.settings import Settings

ARCHIVE = Path("../shared/data/cifar10/cifar10-jpeg.tar.gz")
SCORED = 1000


def now() -> float:
    """A clock reading after the GPU (if any) has finished what was queued."""
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return time.perf_counter()


def measure(trainer: CifarTrainer, batches: int) -> tuple[float, float]:
    """Seconds per training step, and per 1,000 test images scored."""
    generator = torch.Generator().manual_seed(0)
    size = trainer.config.recipe.batch_size
    order = torch.randperm(len(trainer.train_labels), generator=generator).to(trainer.device)
    trainer.network.train()
    for step in range(batches + 2):
        if step == 2:
            started = now()
        index = order[step * size : (step + 1) * size]
        trainer.step(trainer.train_images[index], trainer.train_labels[index], 0.01, generator)
    step_s = (now() - started) / batches
    images, labels = trainer.test_images[:SCORED], trainer.test_labels[:SCORED]
    started = now()
    score(trainer.network, images, labels, trainer.metadata, trainer.precision, tta=False)
    return step_s, now() - started


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.cifar_epoch", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--archive", type=Path, default=ARCHIVE)
    parser.add_argument("--cache-dir", type=Path, default=Path("runs/cache"))
    parser.add_argument("--batches", type=int, default=20, help="timed steps per network (after 2 warm-up steps)")
    parser.add_argument("--networks", default=",".join(ALL_NETWORKS))
    args = parser.parse_args()
    settings = Settings()
    load_before = load_average_1m()
    rows = []
    with tempfile.TemporaryDirectory() as runs:
        for architecture in args.networks.split(","):
            config = CifarConfig(
                archive=str(args.archive.resolve()),
                run_dir=str(Path(runs) / architecture),
                architecture=architecture,
                device=settings.device,
                precision=settings.precision,
            )
            trainer = CifarTrainer(config, args.cache_dir)
            step_s, score_s = measure(trainer, args.batches)
            steps = len(trainer.train_labels) // config.recipe.batch_size
            epoch_s = steps * step_s + len(trainer.test_labels) / SCORED * score_s
            epochs = RECIPES[architecture].epochs
            rows.append(
                {
                    "network": architecture,
                    "device": trainer.device.type,
                    "precision": trainer.precision,
                    "batches_timed": args.batches,
                    "step_s": round(step_s, 4),
                    "score_1000_s": round(score_s, 3),
                    "epoch_s": round(epoch_s, 1),
                    "recipe_epochs": epochs,
                    "recipe_s": round(epochs * epoch_s),
                }
            )
            row = rows[-1]
            print(
                f"{architecture:20} {row['step_s'] * 1000:8.1f} ms/step {row['epoch_s']:8.1f} s/epoch "
                f"x {epochs:2} = {row['recipe_s'] / 60:7.1f} min",
                flush=True,
            )
    results = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "rows": rows,
        "environment": machine_facts(load_before, load_average_1m()),
    }
    write_results(RESULTS_DIR / "cifar_epoch.json", results)


if __name__ == "__main__":
    main()

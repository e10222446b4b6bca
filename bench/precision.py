"""Which precision to run at, by measurement: the resnet34-CAM forward and one training step, fp32 vs bf16.

``CAMSERVE_PRECISION=auto`` in training times one step in each precision and keeps the faster; this script
shows the whole picture on a given machine, and the training-step figures size a training run (seconds per
epoch).

Run from the repository root, in the project's venv::

    python -m bench.precision                  # forward at batch 1 and 8, train step at 96 and 128 px
    python -m bench.precision --reps 5

Prints a table and writes bench/results/precision.json.
"""

import argparse
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import torch
from torch import nn

from bench.lib.paths import RESULTS_DIR
from camserve.models.evaluation.measurement import load_average_1m, machine_facts, timed, write_results
from camserve.models.network import build_network
from camserve.models.selection.devices import Precision, autocast
from camserve.models.selection.hardware import cpu_has_amx

CPU = torch.device("cpu")
PRECISIONS: tuple[Precision, ...] = ("fp32", "bf16")
FORWARD_BATCHES = (1, 8)
TRAIN_SIZES = (96, 128, 224)
TRAIN_BATCH = 16
EPOCH_PHOTOS = 20_700  # the 90% training split of the 23,000 catsdogs photos


def warm_median_ms(step: Callable[[], object], reps: int) -> float:
    step()  # warm-up: kernel selection and allocation
    return timed(reps, step)[0]


def forward_ms_per_photo(network: nn.Module, precision: Precision, batch: int, reps: int) -> float:
    images = torch.randn(batch, 3, 224, 224).contiguous(memory_format=torch.channels_last)

    def step() -> None:
        with torch.inference_mode(), autocast(CPU, precision):
            network(images)

    return warm_median_ms(step, reps) / batch


def train_ms_per_photo(network: nn.Module, precision: Precision, size: int, reps: int) -> float:
    images = torch.randn(TRAIN_BATCH, 3, size, size).contiguous(memory_format=torch.channels_last)
    labels = torch.randint(0, 2, (TRAIN_BATCH,))
    optimiser = torch.optim.SGD(network.parameters(), lr=0.01, momentum=0.9)

    def step() -> None:
        with autocast(CPU, precision):
            loss = nn.functional.nll_loss(network(images).float(), labels)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()

    return warm_median_ms(step, reps) / TRAIN_BATCH


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.precision", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--reps", type=int, default=3, help="timed repetitions per cell (median reported)")
    parser.add_argument("--output", type=Path, default=RESULTS_DIR / "precision.json")
    args = parser.parse_args()

    torch.manual_seed(0)
    network = build_network("resnet34", 2).to(memory_format=torch.channels_last)
    load_before = load_average_1m()
    forward, train = [], []
    for precision in PRECISIONS:
        network.eval()
        for batch in FORWARD_BATCHES:
            ms = forward_ms_per_photo(network, precision, batch, args.reps)
            forward.append({"precision": precision, "batch": batch, "ms_per_photo": round(ms, 1)})
            print(f"forward {precision} batch {batch}: {ms:.1f} ms/photo", flush=True)
        network.train()
        for size in TRAIN_SIZES:
            ms = train_ms_per_photo(network, precision, size, args.reps)
            minutes = ms * EPOCH_PHOTOS / 60_000.0
            train.append(
                {"precision": precision, "size": size, "ms_per_photo": round(ms, 1), "epoch_minutes": round(minutes, 1)}
            )
            print(f"train {precision} {size} px: {ms:.1f} ms/photo, {minutes:.1f} min per epoch", flush=True)
    results = {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "cpu_has_amx": cpu_has_amx(),
        "forward_224": forward,
        "train_step": {"batch": TRAIN_BATCH, "epoch_photos": EPOCH_PHOTOS, "results": train},
        **machine_facts(load_before, load_average_1m()),
    }
    write_results(args.output, results)
    print(f"AMX: {results['cpu_has_amx']}; wrote {args.output}")


if __name__ == "__main__":
    main()

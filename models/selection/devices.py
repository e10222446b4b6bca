"""Where and at what precision torch runs the network: CUDA with half precision; on a CPU, bf16 only where
a timed step says it is faster here.

Shared by training and the PyTorch runtime; the other runtimes choose their own.
"""

import copy
import functools
import statistics
import sys
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from typing import Any

import torch
from torch import nn

from camserve.models.inference.predictor import DeviceChoice, Precision, PrecisionChoice

__all__ = [
    "DeviceChoice",
    "Precision",
    "PrecisionChoice",
    "autocast",
    "fastest_cpu_precision",
    "inference_step",
    "resolve_device",
    "resolve_precision",
    "training_precision",
    "training_step",
]

_AUTOCAST_DTYPES: dict[str, torch.dtype] = {"bf16": torch.bfloat16, "fp16": torch.float16}
# bf16 rounds every product, so on a CPU it must be clearly faster than fp32 to be worth it.
BF16_MIN_SPEED_UP = 1.15

PrecisionStep = Callable[[Precision], object]


def resolve_device(choice: DeviceChoice) -> torch.device:
    if choice == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device 'cuda' was requested but no CUDA device is available")
    if choice == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(choice)


def resolve_precision(choice: PrecisionChoice, device: torch.device, step: PrecisionStep | None = None) -> Precision:
    """``auto`` on a CPU times ``step`` (one batch of the real work) in fp32 and bf16: CPUs with AMX or
    avx512_bf16 run bf16 natively, others emulate it slowly, and flags alone do not say by how much. Without a
    step, ``auto`` is fp32."""
    if choice == "int8":
        raise RuntimeError("precision 'int8' is served by the openvino runtime (camserve quantize makes it)")
    if choice == "fp16" and device.type == "cpu":
        raise RuntimeError("precision 'fp16' is supported on CUDA only; use 'bf16' or 'fp32' on CPU")
    if choice != "auto":
        return choice
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    return "fp32" if step is None else fastest_cpu_precision(step)


def fastest_cpu_precision(step: PrecisionStep, rounds: int = 3) -> Precision:
    """bf16 when its median step time beats fp32's by ``BF16_MIN_SPEED_UP``, timed in turns (fp32, bf16, bf16,
    fp32, ...) after one warm-up step each, so drifting load on shared cores falls on both alike."""
    for precision in ("fp32", "bf16"):
        step(precision)
    seconds: dict[Precision, list[float]] = {"fp32": [], "bf16": []}
    for turn in range(rounds):
        order: tuple[Precision, Precision] = ("fp32", "bf16") if turn % 2 == 0 else ("bf16", "fp32")
        for precision in order:
            started = time.perf_counter()
            step(precision)
            seconds[precision].append(time.perf_counter() - started)
    fp32, bf16 = statistics.median(seconds["fp32"]), statistics.median(seconds["bf16"])
    chosen: Precision = "bf16" if fp32 >= BF16_MIN_SPEED_UP * bf16 else "fp32"
    print(f"precision auto: one step takes {fp32:.3f} s in fp32, {bf16:.3f} s in bf16: {chosen}", file=sys.stderr)
    return chosen


def training_step(network: nn.Module, batch: torch.Tensor) -> PrecisionStep:
    """A forward and backward pass of a copy of ``network`` (the original's weights, gradients and batch-norm
    statistics stay untouched), copied on first use: where nothing is timed, nothing is copied."""

    @functools.cache
    def probe() -> nn.Module:
        return copy.deepcopy(network).train()

    def step(precision: Precision) -> None:
        with autocast(batch.device, precision):
            output = probe()(batch)
        output.float().mean().backward()
        probe().zero_grad(set_to_none=True)

    return step


def training_precision(
    choice: PrecisionChoice, network: nn.Module, batch_shape: tuple[int, int, int, int], state: dict[str, Any] | None
) -> Precision:
    """A resumed run (``state``, its saved state) keeps the precision it started with, so its remaining epochs
    compute as before (checked against this device: fp16 from a CUDA start cannot go on on a CPU); a new run
    resolves ``choice`` by timing a training step of ``network`` on a random channels-last batch of
    ``batch_shape``, on the network's device."""
    device = next(network.parameters()).device
    if state and "precision" in state:
        return resolve_precision(state["precision"], device)
    batch = torch.rand(batch_shape, device=device).to(memory_format=torch.channels_last)
    return resolve_precision(choice, device, training_step(network, batch))


def inference_step(network: nn.Module, batch: torch.Tensor) -> PrecisionStep:
    """A forward pass of ``network`` in evaluation mode, as scoring runs it."""

    def step(precision: Precision) -> None:
        with torch.inference_mode(), autocast(batch.device, precision):
            network.eval()(batch)

    return step


def autocast(device: torch.device, precision: Precision) -> AbstractContextManager[object]:
    if precision == "fp32":
        return nullcontext()
    return torch.autocast(device.type, dtype=_AUTOCAST_DTYPES[precision])

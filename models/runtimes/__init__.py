"""Runtimes: the ways camserve can run a checkpoint, one module each, found by file name.

A runtime is a module in this package whose file name is the runtime's name (``torch.py`` is ``torch``,
``onnxruntime.py`` is ``onnxruntime``) and which defines::

    def load(request: RuntimeRequest) -> Predictor

It may import its own dependency at the top: this package lists runtimes without importing them and
imports only the chosen one, so a process serving with one runtime loads nothing of the others. Adding a
runtime is adding one file here (and its tests); ``CAMSERVE_BACKEND`` then accepts its name.
"""

import importlib
import pkgutil
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from camserve.models.hardware import cpu_has_amx, cuda_available
from camserve.models.predictor import DeviceChoice, PrecisionChoice, Predictor

__all__ = [
    "AUTO",
    "RuntimeRequest",
    "UnknownRuntime",
    "check_runtime_name",
    "choose_runtime",
    "load_predictor",
    "runtime_names",
]

AUTO = "auto"


@dataclass(frozen=True)
class RuntimeRequest:
    """What the settings ask of a runtime. ``device`` and ``precision`` may be ``auto``; a runtime that
    cannot honour them raises ``RuntimeError`` saying why."""

    weights_path: Path
    device: DeviceChoice = "auto"
    precision: PrecisionChoice = "auto"
    cache_dir: Path = Path("var/onnx")


@cache
def runtime_names() -> tuple[str, ...]:
    """Every runtime in this package, by name; nothing is imported to list them."""
    return tuple(sorted(info.name for info in pkgutil.iter_modules(__path__) if not info.name.startswith("_")))


class UnknownRuntime(ValueError, RuntimeError):
    """A ``CAMSERVE_BACKEND`` naming no runtime: a ValueError for the settings' validation, a RuntimeError
    for whoever loads a predictor, so both report it in their usual way."""


def check_runtime_name(choice: str) -> str:
    """``choice`` itself, if it is ``auto`` or names a runtime; else ``UnknownRuntime`` listing the runtimes."""
    if choice != AUTO and choice not in runtime_names():
        raise UnknownRuntime(f"unknown runtime {choice!r}; choose {AUTO} or one of: {', '.join(runtime_names())}")
    return choice


def choose_runtime(choice: str, device: str, precision: str) -> str:
    """The runtime for a ``CAMSERVE_BACKEND`` value: a name as given, or for ``auto`` PyTorch on CUDA and for
    reduced precision on the CPU, and ONNX Runtime for fp32 on the CPU (faster there: README, Settings)."""
    if check_runtime_name(choice) != AUTO:
        return choice
    on_cuda = device == "cuda" or (device == AUTO and cuda_available())
    reduced = precision in ("bf16", "fp16") or (precision == AUTO and cpu_has_amx())
    return "torch" if on_cuda or reduced else "onnxruntime"


def load_predictor(choice: str, request: RuntimeRequest) -> Predictor:
    """The one factory for predictors: the service, the command line and the benchmarks all load through it.
    A missing or bad checkpoint raises ``CheckpointError`` with a one-line reason."""
    name = choose_runtime(choice, request.device, request.precision)
    module = importlib.import_module(f"{__name__}.{name}")
    predictor: Predictor = module.load(request)
    return predictor

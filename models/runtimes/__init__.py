"""Runtimes: the ways camserve can run a checkpoint, one module each, found by file name.

A runtime is a module in this package whose file name is the runtime's name (``torch.py`` is ``torch``,
``onnxruntime.py`` is ``onnxruntime``) and which defines::

    PRECISIONS: tuple[Precision, ...]   # what it can run; CAMSERVE_BACKEND=auto times these
    def load(request: RuntimeRequest) -> Predictor

It may import its own dependency at the top: this package lists runtimes without importing them and
imports only the chosen one, so a process serving with one runtime loads nothing of the others. Adding a
runtime is adding one file here (and its tests); ``CAMSERVE_BACKEND`` then accepts its name.
"""

import importlib
import pkgutil
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from camserve.models.inference.predictor import DeviceChoice, PrecisionChoice, Predictor

if TYPE_CHECKING:
    from camserve.models.selection.runtime import RuntimeChoice

__all__ = [
    "AUTO",
    "RuntimeRequest",
    "UnknownRuntime",
    "check_runtime_name",
    "load_predictor",
    "runtime_names",
]

AUTO = "auto"


@dataclass(frozen=True)
class RuntimeRequest:
    """What the settings ask of a runtime. ``device`` and ``precision`` may be ``auto``; a runtime that
    cannot honour them raises ``RuntimeError`` saying why. ``batch_size`` is the largest batch the caller
    will forward: what ``auto`` times a full batch at. A runtime without lanes ignores ``lanes``."""

    weights_path: Path
    device: DeviceChoice = "auto"
    precision: PrecisionChoice = "auto"
    cache_dir: Path = Path("var/onnx")
    batch_size: int = 8
    choice_cache_dir: Path = Path("var/runtime-choice")  # where auto keeps its timings; must be writable
    # Forwards a runtime may run side by side, each in its own single-threaded lane, for full batches under load
    # (``camserve.models.selection.lanes``): 1 runs one forward at a time on every core; ``auto`` measures.
    lanes: int | Literal["auto"] = 1


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


def load_predictor(choice: "str | RuntimeChoice", request: RuntimeRequest) -> Predictor:
    """The one factory for predictors: the service, the command line and the benchmarks all load through it.

    ``choice`` is a ``CAMSERVE_BACKEND`` value (``auto`` is settled by ``camserve.models.selection.runtime``, which
    may time the candidates first) or a choice already made. A missing or bad
    checkpoint raises ``CheckpointError`` with a one-line reason.
    """
    from camserve.models.selection.runtime import RuntimeChoice, choose_runtime

    chosen = choice if isinstance(choice, RuntimeChoice) else choose_runtime(choice, request)
    module = importlib.import_module(f"{__name__}.{chosen.runtime}")
    predictor: Predictor = module.load(replace(request, precision=chosen.precision))
    return predictor

"""How camserve's measurements are taken and recorded, so the release commands and the benchmarks agree.

Timings on shared cores drift by tens of percent, so comparisons run in turns (A B, B A, ...) and every result
records the machine it came from: its CPU, the flags that decide which precisions it computes natively, and
the load average around the run. torch is imported only when a record is written, so importing this costs
the command line nothing.
"""

import json
import os
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from camserve.models.selection.hardware import PRECISION_FLAGS, cpu_flags, cpu_model_name

__all__ = ["load_average_1m", "machine_facts", "timed", "turns", "write_results"]

T = TypeVar("T")


def turns(rounds: int, sides: tuple[str, ...] = ("a", "b")) -> list[tuple[int, str]]:
    """A B, then B A, and so on (A B C, C B A with three): a drift during a round pair favours no side."""
    order = []
    for index in range(rounds):
        order += [(index, side) for side in (sides if index % 2 == 0 else sides[::-1])]
    return order


def timed(reps: int, step: Callable[[], T]) -> tuple[float, T]:
    """Median milliseconds of ``reps`` calls (to 0.01 ms), and the last result. No warm-up here: a caller
    timing many steps warms up once for all of them, where a warm-up per step could double the run."""
    if reps < 1:
        raise ValueError(f"timed needs at least one repetition, got {reps}")
    times_s = []
    for _ in range(reps):
        started = time.perf_counter()
        result = step()
        times_s.append(time.perf_counter() - started)
    return round(statistics.median(times_s) * 1000.0, 2), result


def load_average_1m() -> float:
    return round(os.getloadavg()[0], 2)


def machine_facts(load_before: float, load_after: float) -> dict[str, Any]:
    """Torch and machine facts for a result; a 1-minute load average well above the CPU count means the
    neighbours were measured as much as camserve. The CPU flags say which reduced precisions it computes
    natively (bf16, int8), which decides what the runtimes can offer."""
    import torch

    return {
        "torch": {
            "version": torch.__version__,
            "threads": torch.get_num_threads(),
            "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", "default"),
        },
        "machine": {
            "cpus": os.cpu_count(),
            "processor": platform.processor() or platform.machine(),
            "cpu_model": cpu_model_name() or platform.processor() or platform.machine(),
            "cpu_flags": {flag: flag in cpu_flags() for flag in PRECISION_FLAGS},
            "load_average_1m": {"before": load_before, "after": load_after},
        },
    }


def write_results(path: Path, results: dict[str, Any]) -> None:
    """Every measurement leaves its figures as JSON, so runs can be compared and quoted."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2) + "\n")

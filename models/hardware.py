"""What this machine offers, read without importing torch, so choosing a runtime costs no torch import."""

import importlib.util
import os
from functools import cache
from pathlib import Path

CPUINFO = Path("/proc/cpuinfo")
NVIDIA_DRIVER = Path("/proc/driver/nvidia/version")


def _cpuinfo_field(name: str) -> str:
    """The first CPU's ``name`` line in /proc/cpuinfo ("" where there is none, as off Linux)."""
    try:
        text = CPUINFO.read_text()
    except OSError:
        return ""
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == name:
            return value.strip()
    return ""


# The CPU features reduced precision runs on: AMX tiles, native bf16 and int8 dot products, and the baseline.
PRECISION_FLAGS = ("amx_tile", "amx_bf16", "amx_int8", "avx512_bf16", "avx512_vnni", "avx512f", "avx2")


@cache
def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags as Linux reports them (empty elsewhere). The kernel lists a flag only when it
    also enables the feature, so a listed flag can be used."""
    return frozenset(_cpuinfo_field("flags").split())


@cache
def cpu_model_name() -> str:
    """The CPU's model as Linux names it: machines with the same flags can still differ in speed."""
    return _cpuinfo_field("model name")


def precision_flags() -> list[str]:
    """Which of ``PRECISION_FLAGS`` this CPU has: what reports record beside speed and accuracy figures."""
    return [flag for flag in PRECISION_FLAGS if flag in cpu_flags()]


def usable_cores() -> int:
    """The cores this process may run on (its affinity, not the machine's count): the runtimes' thread pools."""
    return len(os.sched_getaffinity(0))


def cpu_has_amx() -> bool:
    """AMX tiles: the CPU units that make bf16 matrix maths fast; without them bf16 is emulated."""
    return "amx_tile" in cpu_flags()


@cache
def cuda_available() -> bool:
    """A CUDA device torch can use. torch is imported only where an NVIDIA driver is loaded at all."""
    if not NVIDIA_DRIVER.exists() or importlib.util.find_spec("torch") is None:
        return False
    import torch

    return bool(torch.cuda.is_available())

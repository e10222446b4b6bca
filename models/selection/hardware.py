"""What this machine offers, read without importing torch, so choosing a runtime costs no torch import."""

import importlib.util
import math
import os
from functools import cache
from pathlib import Path

CPUINFO = Path("/proc/cpuinfo")
NVIDIA_DRIVER = Path("/proc/driver/nvidia/version")
CGROUP_ROOT = Path("/sys/fs/cgroup")
OWN_CGROUPS = Path("/proc/self/cgroup")


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
    """The cores this process may use: its affinity, capped by its cgroup's CPU quota where one is set. Each
    runtime sizes its thread pool by this. A container limited to 2 CPUs on a 64-core node keeps its affinity
    to all 64 cores, and 64 threads on a 2-CPU quota spend most of their time throttled."""
    cores = len(os.sched_getaffinity(0))
    quota = cpu_quota()
    return cores if quota is None else max(1, min(cores, math.floor(quota)))


def cpu_quota(cgroup_root: Path = CGROUP_ROOT, own_cgroups: Path = OWN_CGROUPS) -> float | None:
    """CPUs' worth of time per period this process's cgroups allow (the smallest limit on the way up to the
    root, cgroup v2 or v1), or None where none is set. Rounded down by ``usable_cores``, as Go's automaxprocs
    does: a thread more than the quota only adds throttling."""
    limits = [
        limit
        for directory in _cgroup_directories(cgroup_root, own_cgroups)
        if (limit := _cgroup_v2_limit(directory) or _cgroup_v1_limit(directory)) is not None
    ]
    return min(limits, default=None)


def _cgroup_directories(cgroup_root: Path, own_cgroups: Path) -> list[Path]:
    """Where this process's CPU limits may be written: its own cgroup and every ancestor, in the unified
    hierarchy (v2) and under the v1 ``cpu`` controller. Inside a container the mounted root is its own cgroup,
    so the roots are always included."""
    mounts = {"": cgroup_root, "cpu": cgroup_root / "cpu"}  # v2 lines name no controller
    directories = list(mounts.values())
    try:
        lines = own_cgroups.read_text().splitlines()
    except OSError:
        lines = []
    for line in lines:
        _, controllers, path = line.split(":", 2)
        relative = Path(path.lstrip("/"))
        for name in controllers.split(","):
            if name in mounts:
                directories += [mounts[name] / relative, *(mounts[name] / parent for parent in relative.parents)]
    return list(dict.fromkeys(directories))


def _cgroup_v2_limit(directory: Path) -> float | None:
    """``cpu.max`` is "QUOTA PERIOD" in microseconds, or "max PERIOD" for no limit."""
    try:
        quota, period = (directory / "cpu.max").read_text().split()
        return None if quota == "max" else int(quota) / int(period)
    except (OSError, ValueError):
        return None


def _cgroup_v1_limit(directory: Path) -> float | None:
    """``cpu.cfs_quota_us`` is -1 for no limit."""
    try:
        quota = int((directory / "cpu.cfs_quota_us").read_text())
        period = int((directory / "cpu.cfs_period_us").read_text())
    except (OSError, ValueError):
        return None
    return None if quota <= 0 or period <= 0 else quota / period


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

"""A memory cgroup with a limit, to run a server under the deployment's memory limit and read what it used.

Created inside this process's own memory cgroup (so any limit above still applies), v1 where the memory
controller is mounted as v1 (``memory.limit_in_bytes``, ``memory.max_usage_in_bytes``, ``memory.oom_control``)
and v2 where it is unified (``memory.max``, ``memory.peak``, ``memory.events``). ``unavailable`` says why
neither can be used here, for a test to skip with.
"""

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

__all__ = ["MemoryCgroup", "memory_cgroup", "unavailable"]

CGROUP_ROOT = Path("/sys/fs/cgroup")
REMOVE_TIMEOUT_S = 30.0  # the server's exit, and the kernel letting go of its pages, before rmdir succeeds


@dataclass(frozen=True)
class MemoryCgroup:
    """One memory cgroup: ``version`` 1 or 2, at ``path``."""

    path: Path
    version: int

    def procs_file(self) -> Path:
        """Write a PID here to move that process in (its children follow)."""
        return self.path / "cgroup.procs"

    def command(self, command: list[str]) -> list[str]:
        """``command`` started inside this cgroup: a shell moves itself in, then execs it (same PID), so the
        process is limited from its first allocation, with no race and no ``preexec_fn`` in a threaded parent."""
        return ["sh", "-c", 'echo $$ > "$0" && exec "$@"', str(self.procs_file()), *command]

    def peak_bytes(self) -> int:
        """The most memory the cgroup used (page cache included, as the limit counts it)."""
        name = "memory.max_usage_in_bytes" if self.version == 1 else "memory.peak"
        return int((self.path / name).read_text())

    def oom_kills(self) -> int:
        """Processes the kernel killed for passing the limit."""
        name = "memory.oom_control" if self.version == 1 else "memory.events"
        for line in (self.path / name).read_text().splitlines():
            key, _, value = line.partition(" ")
            if key == "oom_kill":
                return int(value)
        return 0

    def limit_hits(self) -> int:
        """Times usage reached the limit (v1 ``memory.failcnt``; v2 ``max`` in ``memory.events``): reclaim ran."""
        if self.version == 1:
            return int((self.path / "memory.failcnt").read_text())
        for line in (self.path / "memory.events").read_text().splitlines():
            key, _, value = line.partition(" ")
            if key == "max":
                return int(value)
        return 0


def _own_v1_memory_dir() -> Path | None:
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, relative = line.split(":", 2)
        if "memory" in controllers.split(","):
            return CGROUP_ROOT / "memory" / relative.lstrip("/")
    return None


def _v2_dir() -> Path | None:
    """This process's unified cgroup's parent, when the memory controller can be given to a new child there."""
    controllers = CGROUP_ROOT / "cgroup.controllers"
    if not controllers.exists() or "memory" not in controllers.read_text().split():
        return None
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        if line.startswith("0::"):
            own = CGROUP_ROOT / line[3:].lstrip("/")
            parent = own.parent if own != CGROUP_ROOT else own
            subtree = parent / "cgroup.subtree_control"
            return parent if subtree.exists() and "memory" in subtree.read_text().split() else None
    return None


def _parent() -> tuple[Path, int] | None:
    v1 = _own_v1_memory_dir()
    if v1 is not None and (v1 / "memory.limit_in_bytes").exists():
        return v1, 1
    v2 = _v2_dir()
    return (v2, 2) if v2 is not None else None


def unavailable() -> str | None:
    """Why no memory cgroup can be made here, or None when one can."""
    parent = _parent()
    if parent is None:
        return "no memory cgroup controller (v1 memory.limit_in_bytes, or v2 with memory delegated) is mounted"
    if not os.access(parent[0], os.W_OK):
        return f"{parent[0]} is not writable (creating a cgroup needs root or a delegated subtree)"
    return None


@contextmanager
def memory_cgroup(name: str, limit_bytes: int) -> Iterator[MemoryCgroup]:
    """A new cgroup ``name`` limited to ``limit_bytes``, removed on leaving once its processes have gone."""
    parent = _parent()
    if parent is None:
        raise RuntimeError(unavailable())
    directory, version = parent
    cgroup = MemoryCgroup(directory / f"{name}-{os.getpid()}", version)
    cgroup.path.mkdir()
    try:
        limit_file = "memory.limit_in_bytes" if version == 1 else "memory.max"
        (cgroup.path / limit_file).write_text(str(limit_bytes))
        swap = cgroup.path / "memory.swap.max"
        if version == 2 and swap.exists():  # the limit must mean an OOM kill, not swapping
            swap.write_text("0")
        yield cgroup
    finally:
        _remove(cgroup.path)


def _remove(path: Path) -> None:
    """rmdir once the last process has left (a server being stopped may take a moment)."""
    deadline = time.monotonic() + REMOVE_TIMEOUT_S
    while True:
        try:
            path.rmdir()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)

"""How much memory this process may use: its container's limit (cgroup v2 ``memory.max``, v1
``memory.limit_in_bytes``) or, without one, the machine's; the default memory budget is derived from it."""

import os
from pathlib import Path

__all__ = ["memory_limit_bytes"]

CGROUP_ROOT = Path("/sys/fs/cgroup")


def memory_limit_bytes(proc_cgroup: Path = Path("/proc/self/cgroup"), root: Path = CGROUP_ROOT) -> int:
    """The smallest of this process's cgroup memory limit (where it has one) and the machine's memory."""
    physical = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    limit = _cgroup_limit(proc_cgroup, root)
    return physical if limit is None else min(limit, physical)


def _cgroup_limit(proc_cgroup: Path, root: Path) -> int | None:
    """The limit of the process's own cgroup as the kernel reports it; None where there is none or it is hidden.
    In a container the process's cgroup path is usually ``/`` (a cgroup namespace), so both the path as given
    and the root of the mount are tried."""
    try:
        lines = proc_cgroup.read_text().splitlines()
    except OSError:
        return None
    candidates = []
    for line in lines:
        _, controllers, relative = line.split(":", 2)
        relative = relative.lstrip("/")
        if controllers == "":  # v2: one unified hierarchy
            candidates += [root / relative / "memory.max", root / "memory.max"]
        elif "memory" in controllers.split(","):
            candidates += [root / "memory" / relative / "memory.limit_in_bytes", root / "memory/memory.limit_in_bytes"]
    for candidate in candidates:
        try:
            text = candidate.read_text().strip()
        except OSError:
            continue
        if text.isdigit():  # v2 says "max" for no limit; v1 a number near 2**63
            return int(text)
    return None
